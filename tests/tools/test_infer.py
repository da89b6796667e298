"""tools/infer.py: box files (COCO detections, per-image boxes), a detector injected through the
``PersonDetector`` interface on an image, a folder and a video, the torchvision detector with random
weights, the offline error, and box files that match no image (warning; exit 1 with --strict)."""

import importlib.util
import json
import logging
import shutil

import cv2
import numpy as np
import pytest

DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


@pytest.fixture(scope="module")
def infer(repo_root):
    """tools/infer.py as a module, to call ``run(args, detector=...)`` / ``main(argv)`` in this process."""
    spec = importlib.util.spec_from_file_location("infer_tool", repo_root / "tools" / "infer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    frames = [json.loads(line) for line in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    assert sum(len(f["persons"]) for f in frames) == len(results) and len(frames) == 2
    assert {p["track_id"] for f in frames for p in f["persons"]} == {-1}  # images: not tracked
    assert "eta" in proc.stderr  # the progress line


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


def write_video(path, frames: int = 5):
    """A short mp4 (mp4v, 10 frames/s, 160x120) written by OpenCV: a block moving right on a fading ground."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for i in range(frames):
        frame = np.full((120, 160, 3), 40 * i, dtype=np.uint8)
        cv2.rectangle(frame, (60 + 4 * i, 20), (100 + 4 * i, 110), (200, 180, 160), -1)
        writer.write(frame)
    writer.release()
    return path


def test_video_ends_and_writes_mp4(run_infer, tmp_path, checkpoint):
    video = write_video(tmp_path / "clip.mp4")
    proc = run_infer("--checkpoint", checkpoint, "--input", video, "--out", tmp_path / "out", "--no-flip",
                     "--detector", "none", timeout=90)
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert [r["image_id"] for r in results] == [0, 1, 2, 3, 4]  # whole-image mode: one person per frame
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip_pose.mp4"))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (120, 160, 3) and count == 5
    assert "5 frames" in proc.stdout


def _args(infer, checkpoint, input_path, out, *extra):
    return infer.parse_args(["--checkpoint", str(checkpoint), "--input", str(input_path), "--out", str(out),
                             "--device", "cpu", *map(str, extra)])


@pytest.mark.parametrize("kind", ["image", "folder", "video"])
def test_injected_detector_drives_every_input_kind(infer, kind, tmp_path, checkpoint, sample, fake_detector,
                                                   caplog):
    images = sorted((sample / "images" / "val2017").iterdir())
    source = {"image": images[0], "folder": images[0].parent,
              "video": write_video(tmp_path / "walk.mp4", frames=7)}[kind]
    n_frames = {"image": 1, "folder": len(images), "video": 7}[kind]
    detector = fake_detector()
    with caplog.at_level(logging.INFO):
        summary = infer.run(_args(infer, checkpoint, source, tmp_path / "out", "DETECTOR.BATCH_SIZE", 2),
                            detector=detector)
    assert summary["frames"] == n_frames and summary["persons"] == 2 * n_frames
    assert detector.calls == [2] * (n_frames // 2) + [1] * (n_frames % 2)  # DETECTOR.BATCH_SIZE frames a call
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    frames = [json.loads(line) for line in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    assert len(results) == 2 * n_frames and len(frames) == n_frames
    ids = [[p["track_id"] for p in f["persons"]] for f in frames]
    if kind == "video":  # tracked: the same two persons keep ids 0 and 1; pictures go to one mp4
        assert ids == [[0, 1]] * n_frames and [f["image_id"] for f in frames] == list(range(n_frames))
        capture = cv2.VideoCapture(str(tmp_path / "out" / "walk_pose.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == n_frames
        capture.release()
    else:
        assert ids == [[-1, -1]] * n_frames
        pictures = sorted(p.name for p in (tmp_path / "out" / "vis").iterdir())
        assert pictures == [p.name for p in images][:n_frames]
    assert "frames/s" in caplog.text and "eta" in caplog.text


def test_random_weights_detector_runs_and_draws(run_infer, tmp_path, checkpoint, coco_sample_root):
    photo = coco_sample_root / "images" / "val2017" / "000000000785.jpg"
    proc = run_infer("--checkpoint", checkpoint, "--input", photo, "--out", tmp_path / "out",
                     "--device", "cpu", "--detector", "fasterrcnn_mobilenet_v3_large_320_fpn",
                     "--det-weights", "random", "--det-thr", "0", "DETECTOR.CATEGORY_IDS", "[]",
                     "DETECTOR.MAX_PERSONS", "3", "DETECTOR.MIN_SIZE", "160")
    assert "RANDOM weights" in proc.stderr and "detector" in proc.stdout
    assert len(json.loads((tmp_path / "out" / "keypoints.json").read_text())) == 3
    drawn, original = cv2.imread(str(tmp_path / "out" / "vis" / photo.name)), cv2.imread(str(photo))
    assert drawn.shape == original.shape and (np.abs(drawn.astype(int) - original).sum(axis=2) > 60).any()


def test_offline_without_weights_is_one_clear_error(infer, tmp_path, checkpoint, sample, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    image = sorted((sample / "images" / "val2017").iterdir())[0]
    code = infer.main(["--checkpoint", checkpoint, "--input", str(image), "--out", str(tmp_path / "out"),
                       "--offline", "--detector", "fasterrcnn_mobilenet_v3_large_fpn"])
    err = capsys.readouterr().err
    assert code == 2 and "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth" in err
    assert "--det-weights" in err and "DETECTOR.WEIGHTS" in err and "Traceback" not in err


def test_boxes_matching_no_image_warn_and_fail_with_strict(infer, tmp_path, checkpoint, sample, caplog,
                                                           capsys):
    (tmp_path / "boxes.json").write_text(json.dumps({"someone_else.jpg": [[1, 2, 30, 40, 0.9]]}))
    images = sample / "images" / "val2017"
    argv = ["--checkpoint", checkpoint, "--input", str(images), "--boxes", str(tmp_path / "boxes.json"),
            "--device", "cpu"]
    with caplog.at_level(logging.WARNING):
        assert infer.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "matches none of the 2 frames" in caplog.text and "boxes.json" in caplog.text
    assert infer.main([*argv, "--out", str(tmp_path / "b"), "--strict"]) == 1
    assert "--strict" in capsys.readouterr().err and not (tmp_path / "b").exists()  # failed before any work
    video = write_video(tmp_path / "clip.mp4", frames=2)  # a video is checked after the run
    code = infer.main(["--checkpoint", checkpoint, "--input", str(video), "--boxes",
                       str(tmp_path / "boxes.json"), "--out", str(tmp_path / "c"), "--strict",
                       "--device", "cpu"])
    assert code == 1 and len((tmp_path / "c" / "frames.jsonl").read_text().splitlines()) == 2
