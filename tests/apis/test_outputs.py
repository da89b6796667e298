"""Inference outputs: COCO results, per-frame json lines with track ids, rendered pictures and video."""

import json

import cv2
import numpy as np
import pytest

from hrpose.apis.io import Frame
from hrpose.apis.outputs import PictureWriter, ResultsWriter, frame_record, render, result_records
from hrpose.apis.pipeline import FramePoses
from hrpose.datasets.keypoints import COCO_KEYPOINTS


def _result(index: int, ids=(4, 7)) -> FramePoses:
    image = np.zeros((60, 80, 3), np.uint8)
    boxes = np.array([[5, 5, 20, 40, 0.9], [40, 10, 20, 40, 0.5]], np.float32)[: len(ids)]
    keypoints = np.zeros((len(ids), 17, 3), np.float32)
    keypoints[..., 0] = boxes[:, :1] + np.linspace(2, 18, 17)
    keypoints[..., 1] = boxes[:, 1:2] + np.linspace(2, 38, 17)
    keypoints[..., 2] = 0.5
    return FramePoses(Frame(f"clip_{index:06d}", image, index, index), boxes, keypoints,
                      np.array(ids, dtype=np.int64), index)


def test_records_and_files(tmp_path):
    result = _result(3)
    (coco,) = result_records(3, result.keypoints[:1], result.boxes[:1])
    assert coco["category_id"] == 1 and len(coco["keypoints"]) == 51 and coco["score"] == pytest.approx(0.45)
    record = frame_record(result)
    assert (record["frame"], record["name"], record["image_id"]) == (3, "clip_000003", 3)
    assert [p["track_id"] for p in record["persons"]] == [4, 7]
    assert np.array(record["persons"][1]["keypoints"]).shape == (17, 3)
    assert record["persons"][1]["box"] == [40, 10, 20, 40] and record["persons"][1]["box_score"] == 0.5
    writer = ResultsWriter(tmp_path)
    writer.add(_result(0))
    assert len(writer.frames_path.read_text().splitlines()) == 1  # streamed: readable while running
    writer.add(_result(1, ids=()))
    writer.close()
    lines = [json.loads(line) for line in writer.frames_path.read_text().splitlines()]
    assert [len(line["persons"]) for line in lines] == [2, 0]
    assert len(json.loads(writer.json_path.read_text())) == 2


def test_render_and_picture_writer(tmp_path):
    result = _result(0)
    plain = render(result.frame.image, result.keypoints, result.boxes, COCO_KEYPOINTS.skeleton, 0.3, False)
    tracked = render(result.frame.image, result.keypoints, result.boxes, COCO_KEYPOINTS.skeleton, 0.3, True,
                     result.track_ids)
    assert (result.frame.image == 0).all()  # the input is never drawn on
    assert plain.any() and (tracked != plain).any()  # boxes and '#id' labels on top of the skeletons
    pictures = PictureWriter(tmp_path, "clip", "video", fps=5.0)
    for i in range(3):
        pictures.write(_result(i).frame, tracked)
    pictures.close()
    capture = cv2.VideoCapture(str(tmp_path / "clip_pose.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and pictures.describe().endswith("clip_pose.mp4")
    capture.release()
    images = PictureWriter(tmp_path, "photos", "folder", fps=25.0)
    images.write(Frame("a.jpg", plain, 0), plain)
    assert cv2.imread(str(tmp_path / "vis" / "a.jpg")).shape == (60, 80, 3)
    assert PictureWriter(tmp_path, "x", "image", 25.0, enabled=False).describe() == "no pictures"
