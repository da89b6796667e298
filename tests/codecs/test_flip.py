"""Flip-back of mirrored heatmaps equals the reference flip_back + SHIFT_HEATMAP."""

import numpy as np
import pytest
import torch

from hrpose.codecs import flip_heatmaps_back
from hrpose.datasets.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS


def _reference_flip_back(output: np.ndarray, flip_pairs, shift: bool) -> np.ndarray:
    """The reference: reverse W, swap each pair, then shift right by one with column 0 kept."""
    out = output[:, :, :, ::-1].copy()
    for a, b in flip_pairs:
        tmp = out[:, a].copy()
        out[:, a] = out[:, b]
        out[:, b] = tmp
    if shift:
        out[:, :, :, 1:] = out.copy()[:, :, :, :-1]
    return out


@pytest.mark.parametrize("keypoint_set", [COCO_KEYPOINTS, MPII_KEYPOINTS], ids=["coco", "mpii"])
@pytest.mark.parametrize("shift", [True, False])
def test_equals_reference(keypoint_set, shift):
    k = keypoint_set.num_keypoints
    heatmaps = torch.randn(3, k, 64, 48, generator=torch.Generator().manual_seed(0))
    expected = _reference_flip_back(heatmaps.numpy(), keypoint_set.flip_pairs, shift)
    out = flip_heatmaps_back(heatmaps, keypoint_set.flip_index, shift)
    np.testing.assert_array_equal(out.numpy(), expected)
    if shift:  # column 0 keeps the value it had after the flip, it is not zeroed
        unshifted = flip_heatmaps_back(heatmaps, keypoint_set.flip_index, False)
        torch.testing.assert_close(out[..., 0], unshifted[..., 0], rtol=0, atol=0)


def test_flip_twice_is_identity_and_input_untouched():
    heatmaps = torch.rand(2, 17, 64, 48, generator=torch.Generator().manual_seed(1))
    copy = heatmaps.clone()
    index = torch.as_tensor(COCO_KEYPOINTS.flip_index)  # a tensor index works as well
    once = flip_heatmaps_back(heatmaps, index, shift=True)
    twice = flip_heatmaps_back(flip_heatmaps_back(heatmaps, index, False), index, False)
    torch.testing.assert_close(twice, heatmaps, rtol=0, atol=0)
    torch.testing.assert_close(heatmaps, copy, rtol=0, atol=0)
    assert once.data_ptr() != heatmaps.data_ptr()


def test_keeps_dtype_and_device_and_checks_shapes():
    heatmaps = torch.rand(1, 17, 8, 6, dtype=torch.float16)
    out = flip_heatmaps_back(heatmaps, COCO_KEYPOINTS.flip_index, shift=True)
    assert out.dtype == torch.float16 and out.device == heatmaps.device and out.shape == heatmaps.shape
    meta = flip_heatmaps_back(heatmaps.to("meta"), COCO_KEYPOINTS.flip_index, shift=True)
    assert meta.device.type == "meta"  # no hidden host round-trip: works on any device
    with pytest.raises(ValueError, match="flip_index"):
        flip_heatmaps_back(heatmaps, MPII_KEYPOINTS.flip_index, shift=False)
    with pytest.raises(ValueError, match=r"\[N, K, h, w\]"):
        flip_heatmaps_back(heatmaps[0], COCO_KEYPOINTS.flip_index, shift=False)
