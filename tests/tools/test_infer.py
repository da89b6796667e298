"""tools/infer.py on a folder with COCO detections, one image with per-image boxes, and a short mp4."""

import json
import shutil

import cv2
import numpy as np
import pytest

DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


@pytest.fixture(scope="module")
def checkpoint(tiny_cfg, tiny_model, save_training_checkpoint, tmp_path_factory) -> str:
    cfg = tiny_cfg("TEST.FLIP_TEST", "False")
    return save_training_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pth", cfg, tiny_model(cfg))


@pytest.fixture(scope="module")
def sample(sample_data_root, tmp_path_factory):
    """The first two val images of the sample data and their detections, in the sample data's layout."""
    root = tmp_path_factory.mktemp("two_images")
    images = sorted((sample_data_root / "images" / "val2017").iterdir())[:2]
    (root / "images" / "val2017").mkdir(parents=True)
    for image in images:
        shutil.copy(image, root / "images" / "val2017" / image.name)
    ids = {int(image.stem) for image in images}
    dets = [d for d in json.loads((sample_data_root / DETECTIONS).read_text()) if d["image_id"] in ids]
    (root / DETECTIONS).parent.mkdir()
    (root / DETECTIONS).write_text(json.dumps(dets))
    return root


@pytest.fixture
def run_infer(run_tool):
    def run(*args, timeout=120):
        proc = run_tool("infer.py", "--threads", "1", *args, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    return run


def test_folder_with_coco_detections(run_infer, tmp_path, checkpoint, sample):
    images = sample / "images" / "val2017"
    dets_path = sample / DETECTIONS
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


def test_single_image_with_per_image_boxes(run_infer, tmp_path, checkpoint, sample):
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


def test_video_ends_and_writes_mp4(run_infer, tmp_path, checkpoint):
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
