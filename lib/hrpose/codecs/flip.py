"""Flip-back of heatmaps predicted on mirrored inputs (flip test), pure torch on any device."""

import numpy as np
import torch


def flip_heatmaps_back(heatmaps: torch.Tensor, flip_index, shift: bool) -> torch.Tensor:
    """Undo a horizontal input flip on heatmaps [N, K, h, w]; returns a new tensor (same device/dtype).

    1. Reverse the W axis. 2. Swap left/right channels: ``out[:, k] = flipped[:, flip_index[k]]``
    (``flip_index`` [K] as numpy or tensor, a permutation, see ``KeypointSet.flip_index``).
    3. With ``shift`` (the reference SHIFT_HEATMAP): move everything one column right,
    ``out[..., 1:] = out[..., :-1]``, and column 0 *keeps its old value* (reference quirk, not zeroed).
    The shift compensates (over-compensates by +0.25 cell) the -0.75-cell bias that the reference
    convention gives a mirrored map (REFERENCE 2.11).
    """
    if heatmaps.dim() != 4:
        raise ValueError(f"flip_heatmaps_back expects [N, K, h, w], got shape {tuple(heatmaps.shape)}")
    if isinstance(flip_index, torch.Tensor):
        index = flip_index.to(device=heatmaps.device, dtype=torch.long)
    else:
        index = torch.as_tensor(np.asarray(flip_index, dtype=np.int64), device=heatmaps.device)
    if index.numel() != heatmaps.shape[1]:
        raise ValueError(
            f"flip_index has {index.numel()} entries but heatmaps have {heatmaps.shape[1]} channels")
    out = heatmaps.flip(3).index_select(1, index)  # index_select copies: the input is untouched
    if shift:
        out[..., 1:] = out[..., :-1].clone()
    return out
