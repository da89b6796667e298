"""The MSRA codec's two per-batch hot paths in torch, on any device, bit-equal to ``msra.py``.

* ``MSRATargetRenderer`` (``TRAIN.TARGETS_ON_DEVICE``): the training targets of a batch, rendered where
  the model runs from keypoints in heatmap pixels. The data workers then skip the K maps of h*w
  float32 per person (~200 KB at 256x192) and the loader carries K*2 floats instead.
* ``decode_standard`` (``predict`` with ``TEST.DECODE standard``): argmax + the reference quarter
  offset on the device, so only coords ``[N,K,2]`` and scores ``[N,K]`` leave it, not the heatmaps.

Both reproduce the numpy codec exactly (same integer rounding, window, quirks and tie rule); see
tests/codecs/test_msra_torch.py. Heatmap pixels are crop pixels / stride, as in ``msra.py``.
"""

import numpy as np
import torch
from torch import Tensor

from hrpose.codecs.msra import reference_gaussian_patch


class MSRATargetRenderer:
    """``codec.encode`` for a batch on the device: ``renderer(keypoints, weights) -> (heatmaps, weights)``.

    Args:
        heatmap_size: ``(w, h)``.
        sigma: Gaussian sigma in heatmap px (int or float, as the codec normalised it).
        joint_weights: optional [K] loss weights multiplied into the returned weights (what the dataset
            does with ``LOSS.USE_DIFFERENT_JOINTS_WEIGHT`` when it encodes on the CPU).
    """

    def __init__(self, heatmap_size, sigma, joint_weights=None):
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = sigma
        self.radius = sigma * 3  # the reference's tmp_size (an int for an int sigma)
        self._patch = torch.from_numpy(reference_gaussian_patch(sigma))  # the codec's float32 values
        self._joint_weights = (None if joint_weights is None
                               else torch.as_tensor(np.asarray(joint_weights, dtype=np.float32)))
        self._on_device: dict[torch.device, tuple] = {}

    def _constants(self, device: torch.device) -> tuple[Tensor, Tensor | None]:
        """The patch and joint weights on ``device``, copied once per device."""
        if device not in self._on_device:
            joint = None if self._joint_weights is None else self._joint_weights.to(device)
            self._on_device[device] = (self._patch.to(device), joint)
        return self._on_device[device]

    def __call__(self, keypoints: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Targets for a batch, equal to ``codec.encode(keypoints * stride, v)`` person by person.

        Args:
            keypoints: float [N, K, 2] heatmap px (the dataset's ``keypoints``; float32 x such that
                ``int(x + 0.5)`` is the codec's integer centre).
            weights: float32 [N, K, 1] or [N, K], ``clip(v, 0, 1)`` (the dataset's ``target_weight`` in
                this mode: before the window rule and the joint weights).
        Returns:
            heatmaps float32 [N, K, h, w] and target_weight float32 [N, K, 1], on the keypoints' device:
            weight 0 where the 3-sigma window misses the map or the point is not finite; the patch is
            drawn only for weight > 0.5; ``br == 0`` keeps an empty map with weight 1 (reference quirk).
        """
        w, h = self.heatmap_size
        patch, joint_weights = self._constants(keypoints.device)
        # float64 so that x + 0.5 is exact: in float32, 0.5 - 2**-25 + 0.5 rounds up to 1.0
        pts = keypoints.double()
        finite = torch.isfinite(pts).all(dim=-1)
        mu = torch.trunc(torch.where(finite[..., None], pts, 0.0) + 0.5)
        ul = torch.trunc(mu - self.radius).long()  # [N, K, 2] (x, y), truncation toward zero
        br = torch.trunc(mu + self.radius + 1).long()
        out = (ul[..., 0] >= w) | (ul[..., 1] >= h) | (br[..., 0] < 0) | (br[..., 1] < 0)
        weights = weights.reshape(out.shape).float()
        weights = torch.where(out | ~finite, torch.zeros_like(weights), weights)
        heatmaps = self._paste(patch, ul, br, weights > 0.5)
        if joint_weights is not None:
            weights = weights * joint_weights
        return heatmaps, weights[..., None]

    def _paste(self, patch: Tensor, ul: Tensor, br: Tensor, paste: Tensor) -> Tensor:
        """``map[y, x] = patch[y - ul_y, x - ul_x]`` inside ``[ul, br)`` where ``paste``, else 0.

        One gather for the whole batch: row indices [N,K,h,1] and column indices [N,K,1,w] broadcast
        to [N,K,h,w]; indices outside the window are clamped for the gather and masked afterwards.
        """
        w, h = self.heatmap_size
        n = patch.shape[0]
        xs = torch.arange(w, device=ul.device)
        ys = torch.arange(h, device=ul.device)
        in_x = (xs >= ul[..., 0:1]) & (xs < br[..., 0:1])  # [N, K, w]
        in_y = (ys >= ul[..., 1:2]) & (ys < br[..., 1:2])  # [N, K, h]
        col = (xs - ul[..., 0:1]).clamp(0, n - 1)
        row = (ys - ul[..., 1:2]).clamp(0, n - 1)
        values = patch[row[..., :, None], col[..., None, :]]
        mask = in_y[..., :, None] & in_x[..., None, :] & paste[..., None, None]
        return torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))


def decode_standard(heatmaps: Tensor, post_process: bool = True) -> tuple[Tensor, Tensor]:
    """``MSRAHeatmap.decode(method='standard')`` in torch: (coords float32 [N,K,2], scores [N,K]).

    Argmax per map (the first maximum wins: documented for ``torch.max(dim)`` on every device),
    ``x = idx % w``, ``y = idx // w``, coords 0 where the maximum is <= 0; with ``post_process`` the
    reference quarter offset ``sign(neighbour difference) * 0.25`` where ``1 < x < w-1`` and
    ``1 < y < h-1`` (strict, as the reference). Coordinates are integers +- 0.25, so float32 holds
    them exactly; ``.double()`` gives the codec's float64 values. Scores keep the heatmaps' dtype.
    """
    if heatmaps.dim() != 4:
        raise ValueError(f"decode expects heatmaps [N, K, h, w], got shape {tuple(heatmaps.shape)}")
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    scores, index = flat.max(dim=2)
    found = scores > 0
    x = torch.where(found, index % w, 0)
    y = torch.where(found, index // w, 0)
    coords = torch.stack([x, y], dim=-1).float()
    if not post_process or w < 3 or h < 3:  # no interior pixel: the offset never applies
        return coords, scores
    ok = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
    cx, cy = x.clamp(1, w - 2), y.clamp(1, h - 2)  # valid gathers everywhere; ``ok`` masks them

    def at(xs: Tensor, ys: Tensor) -> Tensor:
        return flat.gather(2, (ys * w + xs)[..., None])[..., 0]

    dx = at(cx + 1, cy) - at(cx - 1, cy)
    dy = at(cx, cy + 1) - at(cx, cy - 1)
    # multiplied by the mask, not selected, so a NaN neighbour gives NaN as in the numpy codec
    offset = torch.stack([dx.sign(), dy.sign()], dim=-1).float() * 0.25 * ok[..., None]
    return coords + offset, scores
