"""tools/infer.py on a folder, an image and a short mp4; and the input / box readers behind it."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hrpose.apis.io import (
    BoxSource,
    Frame,
    InputError,
    coco_image_id,
    filter_boxes,
    input_kind,
    iter_frames,
    load_box_source,
)
from tests.apis import save_training_checkpoint, tiny_cfg, tiny_model

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    cfg = tiny_cfg(["TEST.FLIP_TEST", "False"])
    return save_training_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pth", cfg, tiny_model(cfg))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> pathlib.Path:
    from hrpose.datasets import make_sample_dataset

    root = tmp_path_factory.mktemp("sample")
    make_sample_dataset(str(root), seed=0, num_train_images=0, num_val_images=2)
    return root


def run_infer(*args, timeout=120) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "tools" / "infer.py"), "--threads", "1", *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=TOOL_ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_folder_with_coco_detections(tmp_path, checkpoint, sample):
    images = sample / "images" / "val2017"
    dets_path = sample / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    proc = run_infer("--checkpoint", checkpoint, "--input", images, "--boxes", dets_path, "--box-thr", "0.3",
                     "--out", tmp_path / "out", "--draw-boxes", "--device", "cpu")
    dets = [d for d in json.loads(dets_path.read_text()) if d["score"] >= 0.3 and d["category_id"] == 1]
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert len(results) == len(dets) > 0
    assert {r["image_id"] for r in results} == {d["image_id"] for d in dets}  # ids from the 12-digit names
    first = results[0]
    assert first["category_id"] == 1 and len(first["keypoints"]) == 51 and 0 <= first["score"] <= 1
    pictures = sorted(p.name for p in (tmp_path / "out" / "vis").iterdir())
    assert pictures == sorted(p.name for p in images.iterdir())
    assert cv2.imread(str(tmp_path / "out" / "vis" / pictures[0])).shape == (240, 320, 3)
    assert "frames/s" in proc.stdout and "2 frames" in proc.stdout


def test_single_image_with_per_image_boxes(tmp_path, checkpoint, sample):
    image = sorted((sample / "images" / "val2017").iterdir())[0]
    shutil.copy(image, tmp_path / "photo.jpg")
    boxes = {"photo.jpg": [[10, 10, 80, 150, 0.9], [100, 20, 60, 120]]}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    run_infer("--checkpoint", checkpoint, "--input", tmp_path / "photo.jpg", "--boxes",
              tmp_path / "boxes.json", "--out", tmp_path / "out", "--kpt-thr", "0.0")
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert [r["image_id"] for r in results] == ["photo.jpg", "photo.jpg"]  # no COCO id: the file name
    assert [r["box_score"] for r in results] == pytest.approx([0.9, 1.0])
    assert (tmp_path / "out" / "vis" / "photo.jpg").is_file()


def test_video_ends_and_writes_mp4(tmp_path, checkpoint):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for i in range(5):
        frame = np.full((120, 160, 3), 40 * i, dtype=np.uint8)
        cv2.rectangle(frame, (60 + 4 * i, 20), (100 + 4 * i, 110), (200, 180, 160), -1)
        writer.write(frame)
    writer.release()
    proc = run_infer("--checkpoint", checkpoint, "--input", video, "--out", tmp_path / "out", "--no-flip",
                     timeout=90)
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert [r["image_id"] for r in results] == [0, 1, 2, 3, 4]  # whole-image mode: one person per frame
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip_pose.mp4"))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (120, 160, 3) and count == 5
    assert "5 frames" in proc.stdout


# --- the readers behind the tool ---------------------------------------------------------------------

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
