"""The input and box readers behind tools/infer.py: input kinds, frames, COCO ids, box sources."""

import json

import cv2
import numpy as np
import pytest

from hrpose.apis.io import (
    BoxesByKey,
    BoxSource,
    Frame,
    InputError,
    coco_image_id,
    count_frames,
    filter_boxes,
    input_kind,
    iter_frames,
    load_box_source,
    video_fps,
)


def test_input_kinds_and_frames(tmp_path):
    for name in ("b.png", "a.JPG"):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 6, 3), np.uint8))
    (tmp_path / "c.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    assert input_kind(tmp_path) == "folder" and input_kind(tmp_path / "b.png") == "image"
    assert [f.name for f in iter_frames(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(InputError, match="unknown file type"):
        input_kind(tmp_path / "c.txt")
    with pytest.raises(InputError, match="not found"):
        input_kind(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="no images"):
        list(iter_frames(tmp_path / "empty"))


def _frame(name, w=100, h=50):
    return Frame(name, np.zeros((h, w, 3), np.uint8), 0)


def test_box_sources(tmp_path):
    assert coco_image_id("000000000139.jpg") == 139 and coco_image_id("COCO_val2014_000000000042.jpg") == 42
    assert coco_image_id("photo.jpg") is None
    whole = BoxSource()
    np.testing.assert_array_equal(whole.boxes(_frame("x.jpg")), [[0, 0, 100, 50, 1]])
    dets = [{"image_id": 139, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 1},
            {"image_id": 139, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 2},
            {"image_id": 7, "bbox": [5, 5, 5, 5], "score": 0.2, "category_id": 1},
            {"image_id": "b.jpg", "bbox": [0, 0, 9, 9], "score": 0.5, "category_id": 1}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    (tmp_path / "images.json").write_text(json.dumps({"images": [{"id": 7, "file_name": "a.jpg"}]}))
    source = load_box_source(tmp_path / "dets.json", tmp_path / "images.json")
    assert source.boxes(_frame("000000000139.jpg")).tolist() == [[1, 2, 3, 4, pytest.approx(0.9)]]
    assert source.image_id(_frame("a.jpg")) == 7 and len(source.boxes(_frame("a.jpg"))) == 1
    assert len(filter_boxes(source.boxes(_frame("a.jpg")), 0.3)) == 0
    assert len(source.boxes(_frame("b.jpg"))) == 1 and len(source.boxes(_frame("none.jpg"))) == 0
    (tmp_path / "simple.json").write_text(json.dumps({"x.jpg": [[1, 2, 3, 4]], "y": [[1, 2, 3, 4, 0.5]]}))
    simple = load_box_source(tmp_path / "simple.json")
    assert simple.boxes(_frame("x.jpg"))[0, 4] == 1.0 and simple.boxes(_frame("y.png"))[0, 4] == 0.5
    (tmp_path / "bad.json").write_text(json.dumps({"x.jpg": [[1, 2, 3]]}))
    with pytest.raises(InputError, match="bad.json"):
        load_box_source(tmp_path / "bad.json")


def test_camera_index_video_counts_and_box_matching(tmp_path):
    assert input_kind("0") == input_kind(3) == "camera"  # digits that are not a path
    assert count_frames("0") is None and video_fps("0", default=30.0) == 30.0  # the camera is not opened
    with pytest.raises(InputError, match="cannot open camera 97"):
        next(iter_frames("97"))  # no such device here
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (32, 24))
    for i in range(3):
        writer.write(np.full((24, 32, 3), 60 * i, np.uint8))
    writer.release()
    frames = list(iter_frames(video))
    assert [(f.name, f.index, f.video_frame) for f in frames] == [(f"clip_{i:06d}", i, i) for i in range(3)]
    assert count_frames(video) == 3 and video_fps(video) == pytest.approx(12.0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 6, 3), np.uint8))
    assert count_frames(tmp_path) == 2 and count_frames(tmp_path / "a.png") == 1
    source = BoxesByKey({"a.png": np.zeros((0, 5), np.float32), 1: np.ones((1, 5), np.float32)})
    assert source.has_boxes(_frame("a.png")) and not source.has_boxes(_frame("b.jpg"))  # even an empty entry
    assert source.has_boxes(frames[1]) and len(source.boxes(frames[1])) == 1  # video frames by number
    assert BoxSource().has_boxes(_frame("anything.jpg"))
