"""tools/export_onnx.py: exports, checks against PyTorch and prints the I/O; fails beyond the tolerance."""

import re

import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e .[test])")
pytest.importorskip("onnx", reason="onnx is not installed (pip install -e .[test])")

from hrpose.apis.export import FP32_TOLERANCE  # noqa: E402


def test_tool_exports_checks_and_prints(run_tool, tiny_cfg, tiny_model, save_training_checkpoint, tmp_path):
    cfg = tiny_cfg()
    ckpt = save_training_checkpoint(tmp_path / "best.pth", cfg, tiny_model(cfg))
    proc = run_tool("export_onnx.py", "--checkpoint", ckpt, "--out", tmp_path / "m.onnx", "--dynamic-batch",
                    "--fuse-bn")
    assert proc.returncode == 0, proc.stderr
    assert "images: ['batch', 3, 96, 64]" in proc.stdout and "heatmaps: ['batch', 17, 24, 16]" in proc.stdout
    diff = float(re.search(r"max abs diff (\S+)", proc.stdout).group(1))
    assert diff <= FP32_TOLERANCE
    assert "batches [1, 2]" in proc.stdout


def test_tool_fails_beyond_tolerance_with_plain_state_dict_and_cfg(run_tool, tiny_cfg, tiny_yaml, tiny_model,
                                                                   save_plain_state_dict, tmp_path):
    plain = save_plain_state_dict(tmp_path / "plain.pth", tiny_model(tiny_cfg()))
    proc = run_tool("export_onnx.py", "--checkpoint", plain, "--cfg", tiny_yaml, "--out", tmp_path / "m.onnx",
                    "--tolerance", "-1")
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "ERROR" in proc.stderr
