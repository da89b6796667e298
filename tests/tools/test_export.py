"""ONNX export: onnxruntime parity with PyTorch, dynamic batch, the tool, and the docs/deploy.md snippet."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e .[test])")
pytest.importorskip("onnx", reason="onnx is not installed (pip install -e .[test])")

from hrpose.apis.export import (  # noqa: E402
    FP32_TOLERANCE,
    check_onnx,
    deploy_metadata,
    export_onnx,
    onnx_io,
    read_metadata,
)
from hrpose.apis.predictor import Predictor  # noqa: E402
from hrpose.codecs import build_codec  # noqa: E402
from hrpose.datasets.keypoints import COCO_KEYPOINTS  # noqa: E402
from hrpose.models.normalize import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from tests.apis import save_plain_state_dict, save_training_checkpoint, tiny_cfg, tiny_model, write_tiny_yaml  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """(path, model, cfg): the tiny model exported with a dynamic batch and the deploy metadata."""
    cfg = tiny_cfg()
    model = tiny_model(cfg, seed=1)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    meta = deploy_metadata(cfg, COCO_KEYPOINTS, IMAGENET_MEAN, IMAGENET_STD)
    export_onnx(model, path, cfg.MODEL.IMAGE_SIZE, dynamic_batch=True, metadata=meta)
    return path, model, cfg


def test_onnxruntime_matches_torch_with_dynamic_batch(tiny_onnx):
    path, model, cfg = tiny_onnx
    diff = check_onnx(path, model, cfg.MODEL.IMAGE_SIZE, batch_sizes=(1, 3))
    assert diff <= FP32_TOLERANCE
    io = onnx_io(path)
    assert io["inputs"][0][:2] == ("images", ["batch", 3, 96, 64])
    assert io["outputs"][0][:2] == ("heatmaps", ["batch", 17, 24, 16])
    meta = read_metadata(path)
    assert meta["image_size"] == [64, 96] and meta["keypoint_set"]["names"] == list(COCO_KEYPOINTS.names)


def test_fixed_batch_export(tmp_path):
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    path = export_onnx(model, tmp_path / "fixed.onnx", cfg.MODEL.IMAGE_SIZE, opset=13, batch_size=2)
    assert onnx_io(path)["inputs"][0][1] == [2, 3, 96, 64]
    assert check_onnx(path, model, cfg.MODEL.IMAGE_SIZE, batch_sizes=(2,)) <= FP32_TOLERANCE


def _run_tool(*args, timeout=120):
    return subprocess.run([sys.executable, str(REPO / "tools" / "export_onnx.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=TOOL_ENV, cwd=REPO)


def test_tool_exports_checks_and_prints(tmp_path):
    cfg = tiny_cfg()
    ckpt = save_training_checkpoint(tmp_path / "best.pth", cfg, tiny_model(cfg))
    proc = _run_tool("--checkpoint", ckpt, "--out", tmp_path / "m.onnx", "--dynamic-batch", "--fuse-bn")
    assert proc.returncode == 0, proc.stderr
    assert "images: ['batch', 3, 96, 64]" in proc.stdout and "heatmaps: ['batch', 17, 24, 16]" in proc.stdout
    diff = float(re.search(r"max abs diff (\S+)", proc.stdout).group(1))
    assert diff <= FP32_TOLERANCE
    assert "batches [1, 2]" in proc.stdout


def test_tool_fails_beyond_tolerance_with_plain_state_dict_and_cfg(tmp_path):
    cfg = tiny_cfg()
    plain = save_plain_state_dict(tmp_path / "plain.pth", tiny_model(cfg))
    yaml_path = write_tiny_yaml(tmp_path / "tiny.yaml")
    proc = _run_tool("--checkpoint", plain, "--cfg", yaml_path, "--out", tmp_path / "m.onnx",
                     "--tolerance", "-1")
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "ERROR" in proc.stderr


def _deploy_snippet() -> str:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"<!-- deploy-snippet: start -->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md lost its deploy-snippet markers"
    return block.group(1)


@pytest.mark.parametrize("flip", [True, False])
def test_deploy_snippet_matches_predictor(tiny_onnx, flip):
    path, model, cfg = tiny_onnx
    namespace: dict = {}
    exec(compile(_deploy_snippet(), "docs/deploy.md", "exec"), namespace)  # noqa: S102
    pose = namespace["OnnxPose"](str(path), flip_test=flip)
    rng = np.random.default_rng(0)
    image = cv2_blur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    boxes = np.array([[10, 10, 50, 90], [70, 5, 60, 100], [0, 0, 160, 120]], dtype=np.float32)
    got = pose(image, boxes)
    predictor = Predictor(model, build_codec(cfg), COCO_KEYPOINTS, device="cpu", flip_test=flip,
                          shift_heatmap=True, color_rgb=True)
    want = predictor.predict(image, boxes)
    assert got.shape == want.shape == (3, 17, 3)
    np.testing.assert_allclose(got[..., 2], want[..., 2], atol=1e-4)
    close = np.abs(got[..., :2] - want[..., :2]).max(axis=2) < 1e-2
    assert close.mean() >= 0.95, f"{(~close).sum()} of {close.size} keypoints moved (argmax ties)"


def cv2_blur(image):
    import cv2

    return cv2.GaussianBlur(image, (9, 9), 3)


def test_deploy_snippet_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None\n" + _deploy_snippet()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=TOOL_ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
