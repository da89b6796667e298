"""``tools/convert_checkpoint.py``: an mmpose-layout file becomes a self-describing hrpose checkpoint whose
config records the decoding; ``tools/test.py --cfg DST.yaml`` then evaluates it with no further flags
exactly as the same tensors in the reference layout with the flags; refusals name what is wrong.

The mmpose files here are hrpose tensors under mmpose 1.x names (``backbone.*``, ``head.final_layer.*``):
these tests are about the tool. That the layouts themselves are mmpose's, derived from its architecture,
is tested in tests/models/test_layouts.py (which also converts them and compares heatmaps)."""

import json
import subprocess
import sys

import pytest
import torch

from hrpose.apis import Predictor
from hrpose.config import load_cfg
from hrpose.models import build_model
from hrpose.utils.checkpoint import load_checkpoint

CFG = "experiments/sample/hrnet_tiny_sample.yaml"


def _results(output_dir, cfg_name: str) -> list:
    """The results json that tools/test.py writes for the config file named ``cfg_name``."""
    (path,) = (output_dir / "coco" / "pose_hrnet" / cfg_name / "results").glob("keypoints_val2017*.json")
    return json.loads(path.read_text())


def _mmpose_1x(state: dict) -> dict:
    return {("head." if key.startswith("final_layer") else "backbone.") + key: v for key, v in state.items()}


@pytest.fixture(scope="module")
def sources(repo_root, sample_data_root, tmp_path_factory):
    """(mmpose-layout file, the same tensors as a plain reference state_dict) of the sample config's model,
    PyTorch's default init (distinct heatmap maxima)."""
    folder = tmp_path_factory.mktemp("sources")
    torch.manual_seed(0)
    state = build_model(load_cfg(str(repo_root / CFG)), is_train=False).state_dict()
    torch.save({"meta": {"mmpose_version": "1.3.2"}, "state_dict": _mmpose_1x(state)}, folder / "mmpose.pth")
    torch.save(state, folder / "reference.pth")
    return folder / "mmpose.pth", folder / "reference.pth"


def _convert(run_tool, *args):
    return run_tool("convert_checkpoint.py", *args)


def _test_tool(repo_root, *args):
    cmd = [sys.executable, str(repo_root / "tools" / "test.py"), "--device", "cpu", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=repo_root)


def test_converted_checkpoint_tests_like_the_reference_layout_with_flags(repo_root, run_tool,
                                                                         sample_data_root, sources, tmp_path):
    mmpose, reference = sources
    dst = tmp_path / "w_udp_dark.pth"
    proc = _convert(run_tool, mmpose, dst, "--cfg", repo_root / CFG, "--codec", "udp", "--decode", "dark",
                    "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path / "converted", "WORKERS", 0)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"python tools/test.py --cfg {dst.with_suffix('.yaml')}" in proc.stdout
    state = load_checkpoint(dst)
    assert state["converted_from"] == {"file": str(mmpose), "layout": "mmpose 1.x"}
    assert {"model", "config", "keypoint_set", "hrpose_version", "git_commit"} <= set(state)
    stored = Predictor.from_checkpoint(dst, device="cpu")  # the checkpoint alone
    recorded = (stored.cfg.MODEL.CODEC, stored.cfg.TEST.DECODE, stored.options.shift_heatmap)
    assert recorded == ("udp", "dark", False)
    assert stored.codec.udp and stored.options.decode == "dark"

    proc = _test_tool(repo_root, "--cfg", dst.with_suffix(".yaml"))  # no flags
    assert proc.returncode == 0, proc.stderr[-3000:]
    flags = ["MODEL.CODEC", "udp", "TEST.DECODE", "dark", "TEST.SHIFT_HEATMAP", "False"]
    proc = _test_tool(repo_root, "--cfg", repo_root / CFG, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR",
                      tmp_path / "reference", "WORKERS", 0, "TEST.MODEL_FILE", reference, *flags)
    assert proc.returncode == 0, proc.stderr[-3000:]
    converted = _results(tmp_path / "converted", dst.stem)
    assert converted and converted == _results(tmp_path / "reference", "hrnet_tiny_sample")


def test_a_self_describing_source_needs_no_cfg(run_tool, tiny_cfg, tiny_model, save_training_checkpoint,
                                               tmp_path):
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    source = save_training_checkpoint(tmp_path / "best.pth", cfg, model)
    proc = run_tool("convert_checkpoint.py", source, tmp_path / "dark.pth", "--decode", "dark")
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = load_checkpoint(tmp_path / "dark.pth")
    assert state["converted_from"]["layout"] == "reference"
    assert all(torch.equal(state["model"][k], v) for k, v in model.state_dict().items())
    assert load_cfg(str(tmp_path / "dark.yaml")).TEST.DECODE == "dark"


def test_refusals_name_the_problem_and_write_nothing(repo_root, run_tool, sources, tmp_path):
    mmpose, _ = sources
    proc = _convert(run_tool, mmpose, tmp_path / "out.pth")
    assert proc.returncode == 2 and "does not carry a config" in proc.stderr and "--cfg" in proc.stderr
    broken = tmp_path / "broken.pth"
    state = torch.load(mmpose, weights_only=True)
    state["state_dict"]["neck.0.weight"] = torch.zeros(1)
    torch.save(state, broken)
    proc = _convert(run_tool, broken, tmp_path / "out.pth", "--cfg", repo_root / CFG)
    assert proc.returncode == 2 and "1 keys have no hrpose counterpart" in proc.stderr
    assert "neck.0.weight" in proc.stderr
    assert not (tmp_path / "out.pth").exists() and not (tmp_path / "out.yaml").exists()
    (tmp_path / "taken.yaml").write_text("# the user's own file\n")
    proc = _convert(run_tool, mmpose, tmp_path / "taken.pth", "--cfg", repo_root / CFG)
    assert proc.returncode == 2 and "taken.yaml exists" in proc.stderr and "--overwrite" in proc.stderr
    assert (tmp_path / "taken.yaml").read_text() == "# the user's own file\n"
