"""PosePipeline: boxes from a file, a detector or the whole image; frame batches; tracking and smoothing;
with the random-weights torchvision detector it still runs and draws."""

import cv2
import numpy as np
import pytest
import torch

from hrpose.apis import Predictor
from hrpose.apis.detector import TorchvisionDetector
from hrpose.apis.io import BoxesByKey, Frame, iter_frames
from hrpose.apis.outputs import render
from hrpose.apis.pipeline import PosePipeline
from hrpose.apis.smoothing import KeypointSmoother
from hrpose.apis.tracking import PoseTracker
from hrpose.codecs import build_codec
from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.engine.options import TestOptions


@pytest.fixture(scope="module")
def predictor(tiny_cfg, tiny_model) -> Predictor:
    cfg = tiny_cfg()
    return Predictor(tiny_model(cfg), build_codec(cfg), COCO_KEYPOINTS, TestOptions(flip_test=False),
                     device="cpu", color_rgb=True)


@pytest.fixture(scope="module")
def frames(sample_data_root) -> list[Frame]:
    """The 4 synthetic val images (real JPEGs read by OpenCV) as a sequence of frames."""
    return list(iter_frames(sample_data_root / "images" / "val2017"))


def test_detector_boxes_pose_track_and_smooth(predictor, frames, fake_detector):
    detector = fake_detector()
    pipeline = PosePipeline(predictor, detector=detector, tracker=PoseTracker("iou"),
                            smoother=KeypointSmoother(10.0), frame_batch=3)
    results = list(pipeline.run(frames))
    assert detector.calls == [3, 1]  # frames go through the detector three at a time
    assert [r.frame.index for r in results] == [0, 1, 2, 3]
    for result in results:
        assert result.boxes.shape == (2, 5) and result.keypoints.shape == (2, 17, 3)
        assert result.track_ids.tolist() == [0, 1]  # same boxes every frame: same ids
        assert result.image_id == int(result.frame.name[:12])  # the COCO id in the file name
    raw = predictor.predict(frames[1].image, results[1].boxes)
    assert not np.allclose(results[1].keypoints[..., :2], raw[..., :2])  # smoothed ...
    np.testing.assert_array_equal(results[1].keypoints[..., 2], raw[..., 2])  # ... scores untouched
    np.testing.assert_allclose(results[0].keypoints, predictor.predict(frames[0].image, results[0].boxes),
                               atol=1e-4)  # the first frame of a track passes unfiltered
    assert (pipeline.stats.frames, pipeline.stats.persons) == (4, 8) and pipeline.stats.detect_s > 0


def test_frame_batches_do_not_change_the_poses(predictor, frames, fake_detector):
    one, four = (list(PosePipeline(predictor, detector=fake_detector(), frame_batch=b).run(frames))
                 for b in (1, 4))
    for a, b in zip(one, four, strict=True):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
        assert a.track_ids.tolist() == [-1, -1]  # no tracker


def test_box_file_wins_and_whole_image_without_either(predictor, frames, fake_detector):
    names = [f.name for f in frames]
    boxes = BoxesByKey({names[0]: np.array([[10, 20, 30, 60, 0.9], [0, 0, 5, 5, 0.1]], np.float32)})
    detector = fake_detector()
    pipeline = PosePipeline(predictor, boxes=boxes, detector=detector, box_thr=0.3)
    results = list(pipeline.run(frames))
    assert detector.calls == [] and [len(r.boxes) for r in results] == [1, 0, 0, 0]
    assert pipeline.stats.frames_with_file_boxes == 1 and pipeline.stats.names_without_boxes == names[1:]
    whole = list(PosePipeline(predictor).run(frames[:1]))[0]
    h, w = frames[0].image.shape[:2]
    np.testing.assert_array_equal(whole.boxes, [[0, 0, w, h, 1]])
    with pytest.raises(ValueError, match="tracker"):
        PosePipeline(predictor, smoother=KeypointSmoother())


def test_random_weights_detector_still_runs_and_draws(predictor, coco_sample_root):
    """The real detector stage (untrained, every class kept) feeding the pose model and the drawing."""
    torch.manual_seed(0)
    detector = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_320_fpn", None, torch.device("cpu"),
                                   score_thr=0.0, category_ids=(), max_persons=3, min_size=160)
    photos = list(iter_frames(coco_sample_root / "images" / "val2017"))[:2]
    results = list(PosePipeline(predictor, detector=detector, tracker=PoseTracker("iou"), frame_batch=2)
                   .run(photos))
    for result in results:
        assert len(result.boxes) == 3 and result.keypoints.shape == (3, 17, 3)
        assert np.isfinite(result.keypoints).all()
        picture = render(result.frame.image, result.keypoints, result.boxes, COCO_KEYPOINTS.skeleton, 0.0,
                         True, result.track_ids)
        assert picture.shape == result.frame.image.shape
        assert (picture != result.frame.image).any(axis=2).mean() > 0.001  # something was drawn


def test_predictor_runs_on_a_folder_and_a_video(predictor, frames, sample_data_root, tmp_path, fake_detector):
    folder = sample_data_root / "images" / "val2017"
    assert predictor.detector is None
    whole = list(predictor.run(folder))  # no detector: one whole-image person per frame
    assert [len(r.boxes) for r in whole] == [1] * len(frames)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 128))
    for frame in frames:
        writer.write(cv2.resize(frame.image, (96, 128)))
    writer.release()
    predictor.detector = fake_detector()
    try:
        results = list(predictor.run(video, tracker=PoseTracker(), smoother=KeypointSmoother(10.0)))
    finally:
        predictor.detector = None
    assert [r.track_ids.tolist() for r in results] == [[0, 1]] * len(frames)
    assert [r.image_id for r in results] == list(range(len(frames)))
