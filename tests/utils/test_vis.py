"""The drawing module: pure functions returning new BGR uint8 images of the expected size."""

import numpy as np
import pytest
import torch

from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.utils import vis


@pytest.fixture
def image():
    return np.full((64, 48, 3), 40, dtype=np.uint8)


def _kpts():
    k = np.zeros((17, 3), np.float32)
    k[:, 0], k[:, 1], k[:, 2] = np.linspace(5, 40, 17), np.linspace(5, 60, 17), 1.0
    return k


def test_draw_keypoints_is_pure_and_hides_low_scores(image):
    before = image.copy()
    kpts = _kpts()
    out = vis.draw_keypoints(image, kpts, COCO_KEYPOINTS.skeleton, kpt_thr=0.5)
    np.testing.assert_array_equal(image, before)
    assert out.shape == image.shape and out.dtype == np.uint8 and (out != image).any()
    kpts[:, 2] = 0.1
    hidden = vis.draw_keypoints(image, kpts, COCO_KEYPOINTS.skeleton, kpt_thr=0.5)
    np.testing.assert_array_equal(hidden, image)


def test_limbs_get_distinct_colours():
    colors = vis.palette(len(COCO_KEYPOINTS.skeleton))
    assert len(set(colors)) == len(colors)


def test_draw_boxes_and_poses(image):
    boxes = np.array([[5, 5, 20, 30]], np.float32)
    out = vis.draw_poses(image, _kpts()[None], COCO_KEYPOINTS.skeleton, boxes_xywh=boxes, box_scores=[0.9])
    assert out.shape == image.shape and (out != image).any() and out is not image
    assert (vis.draw_boxes(image, boxes) != image).any()


def test_heatmap_grid_and_batch_grid(image):
    heatmaps = torch.zeros(17, 16, 12)
    heatmaps[3, 8, 6] = 1.0
    grid = vis.heatmap_grid(image, heatmaps, names=COCO_KEYPOINTS.names)
    assert grid.shape == (64, 48 * 18, 3) and grid.dtype == np.uint8
    batch = vis.batch_grid([image] * 5, ncols=3, pad=2)
    assert batch.shape == (2 * 66 + 2, 3 * 50 + 2, 3)
    with pytest.raises(ValueError):
        vis.batch_grid([image, image[:10]])


def test_tensor_to_image_swaps_rgb():
    chw = torch.arange(3, dtype=torch.uint8).view(3, 1, 1).expand(3, 2, 2)
    assert vis.tensor_to_image(chw, rgb=True)[0, 0].tolist() == [2, 1, 0]
    assert vis.tensor_to_image(chw, rgb=False)[0, 0].tolist() == [0, 1, 2]
