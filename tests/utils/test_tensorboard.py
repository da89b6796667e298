"""TensorBoard helpers: the no-op writer, metric tags, heatmap peaks and the DEBUG.* debug images."""

import logging

import numpy as np
import pytest
import torch

from hrpose.config import load_cfg
from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.utils.tensorboard import (
    DebugImages,
    NullWriter,
    build_debug_images,
    heatmap_peaks,
    open_writer,
    scalar_tag,
)

DEBUG_ALL = ["DEBUG.DEBUG", "True", "DEBUG.SAVE_BATCH_IMAGES_GT", "True", "DEBUG.SAVE_BATCH_IMAGES_PRED",
             "True", "DEBUG.SAVE_HEATMAPS_GT", "True", "DEBUG.SAVE_HEATMAPS_PRED", "True"]


def test_null_writer_off_rank_0(tmp_path):
    writer = open_writer(tmp_path / "tb", enabled=False)
    assert isinstance(writer, NullWriter) and not (tmp_path / "tb").exists()
    writer.add_scalar("a", 1.0, 0)
    writer.add_image("b", np.zeros((2, 2, 3)), 0, dataformats="HWC")
    writer.add_text("c", "x")
    writer.flush()
    writer.close()


def test_summary_writer_on_rank_0(tmp_path):
    writer = open_writer(tmp_path / "tb", enabled=True)
    writer.add_scalar("train/loss", 0.5, 1)
    writer.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name, tag", [("AP", "AP"), ("AP .5", "AP_.5"), ("AR (M)", "AR_M"),
                                       (" loss ", "loss")])
def test_scalar_tags(name, tag):
    assert scalar_tag(name) == tag


def test_heatmap_peaks_in_crop_pixels():
    heatmaps = torch.zeros(1, 3, 8, 6)
    heatmaps[0, 0, 2, 5] = 1.0  # x 5, y 2
    heatmaps[0, 1, 7, 0] = 0.5
    heatmaps[0, 2] = -1.0  # no peak above 0: hidden
    peaks = heatmap_peaks(heatmaps, stride=4.0)
    np.testing.assert_array_equal(peaks[0], [[20, 8, 1], [0, 28, 1], [0, 0, 0]])
    hidden = heatmap_peaks(heatmaps, stride=4.0, weights=torch.tensor([[1.0, 0.0, 1.0]]))
    assert hidden[0, :, 2].tolist() == [1, 0, 0]  # weight 0 hides a joint


def test_no_debug_images_unless_asked(caplog):
    assert build_debug_images(load_cfg(None), COCO_KEYPOINTS.skeleton) is None
    with caplog.at_level(logging.WARNING, logger="hrpose.utils.tensorboard"):
        assert build_debug_images(load_cfg(None, ["DEBUG.DEBUG", "True"]), COCO_KEYPOINTS.skeleton) is None
    assert "every DEBUG.SAVE_* key is off" in caplog.text


def test_debug_images_from_the_config():
    cfg = load_cfg(None, [*DEBUG_ALL, "DEBUG.SAVE_HEATMAPS_PRED", "False", "DEBUG.INTERVAL", "50",
                          "DATASET.COLOR_RGB", "True", "MODEL.IMAGE_SIZE", "[192, 256]",
                          "MODEL.HEATMAP_SIZE", "[48, 64]"])
    debug = build_debug_images(cfg, COCO_KEYPOINTS.skeleton)
    assert debug == DebugImages(50, True, True, True, False, rgb=True,
                                skeleton=tuple(COCO_KEYPOINTS.skeleton), stride=4.0)
    assert debug.due(0) and debug.due(100) and not debug.due(75)
    assert not DebugImages(0).due(0)  # interval 0: never
