"""Parameter and FLOP counts against the reference's published figures, and tools/summary.py."""

import importlib.util

import pytest
import torch

from hrpose.models import build_model, count_parameters, reference_gflops, true_flops
from hrpose.models.summary import reference_macs

# (yaml, parameters, reference "GFLOPs" to 2 decimals). HRNet: REFERENCE.md §2.4 (the reference's own
# get_model_summary). ResNet-50: the README says 34.0M / 8.9; this counter gives 33,999,697 / 8.99.
FIGURES = [
    ("coco/hrnet/w32_256x192.yaml", 28_536_113, 7.12),
    ("coco/hrnet/w32_384x288.yaml", 28_536_113, 16.02),
    ("coco/hrnet/w48_256x192.yaml", 63_595_745, 14.61),
    ("coco/hrnet/w48_384x288.yaml", 63_595_745, 32.88),
    ("mpii/hrnet/w32_256x256.yaml", 28_536_080, 9.49),
    ("coco/resnet/res50_256x192.yaml", 33_999_697, 8.99),
]
# hrpose's W18 and HRNetV2 configs: (yaml, parameters, reference GFLOPs, true GFLOPs), as docs/model_zoo.md
# reports them (python tools/summary.py --table --cfg ...).
ZOO_FIGURES = [
    ("coco/hrnet/w32_v2_256x192.yaml", 29_545_553, 7.88, 16.93),
    ("coco/hrnet/w18_256x192.yaml", 9_318_215, 2.97, 6.38),
    ("coco/hrnet/w18_v2_256x192.yaml", 9_640_577, 3.22, 6.91),
    ("coco/hrnet/w18_small_v1_256x192.yaml", 1_284_961, 0.53, 1.14),
    ("coco/hrnet/w18_small_v2_256x192.yaml", 3_616_675, 1.43, 3.07),
]
# The official HRNetV2-W18 landmark model (HRNet-Facial-Landmark-Detection, WFLW: 98 points, 256x256) is
# w18_v2 at that size: 9.66 M parameters, 4.37 reference GFLOPs (its paper rounds to 9.3M and 4.3).
LANDMARK_OPTS = ("MODEL.IMAGE_SIZE", "[256, 256]", "MODEL.HEATMAP_SIZE", "[64, 64]", "MODEL.NUM_JOINTS", "98")


def _meta_model(experiment_cfg, relative: str):
    cfg = experiment_cfg(relative)
    with torch.device("meta"):
        return cfg, build_model(cfg, is_train=False)


@pytest.mark.parametrize("relative, params, gflops", FIGURES, ids=[f[0] for f in FIGURES])
def test_reference_figures(experiment_cfg, relative, params, gflops):
    cfg, model = _meta_model(experiment_cfg, relative)
    assert count_parameters(model) == params
    assert round(reference_gflops(model, cfg.MODEL.IMAGE_SIZE), 2) == gflops


@pytest.mark.parametrize("relative, params, gflops, true_gflops", ZOO_FIGURES,
                         ids=[f[0] for f in ZOO_FIGURES])
def test_w18_and_hrnetv2_figures(experiment_cfg, relative, params, gflops, true_gflops):
    cfg, model = _meta_model(experiment_cfg, relative)
    assert count_parameters(model) == params
    assert round(reference_gflops(model, cfg.MODEL.IMAGE_SIZE), 2) == gflops
    assert round(true_flops(model, cfg.MODEL.IMAGE_SIZE) / 1e9, 2) == true_gflops


def test_hrnetv2_w18_landmark_model_figures(experiment_cfg):
    cfg = experiment_cfg("coco/hrnet/w18_v2_256x192.yaml", *LANDMARK_OPTS)
    with torch.device("meta"):
        model = build_model(cfg, is_train=False)
    assert count_parameters(model) == 9_662_528
    assert round(reference_gflops(model, cfg.MODEL.IMAGE_SIZE), 2) == 4.37


def test_true_flops_conventions(experiment_cfg):
    cfg, hrnet = _meta_model(experiment_cfg, "coco/hrnet/w32_256x192.yaml")
    # HRNet has only (non-transposed) convolutions: true FLOPs are exactly 2 x the reference's MACs
    assert true_flops(hrnet, cfg.MODEL.IMAGE_SIZE) == 2 * reference_macs(hrnet, cfg.MODEL.IMAGE_SIZE)
    cfg, resnet = _meta_model(experiment_cfg, "coco/resnet/res50_256x192.yaml")
    # the reference counts a stride-2 transposed conv at output resolution: 4x its multiply-adds
    ref, true = reference_macs(resnet, cfg.MODEL.IMAGE_SIZE), true_flops(resnet, cfg.MODEL.IMAGE_SIZE)
    deconv_ref = sum(m.weight.numel() * (64 * 48) / 4 ** (2 - i)
                     for i, m in enumerate(resnet.deconv_layers[::3]))
    assert true == 2 * (ref - deconv_ref * 3 / 4)


def test_summary_restores_training_mode_and_works_on_cpu(tiny_hrnet_cfg):
    model = build_model(tiny_hrnet_cfg).train()
    assert reference_gflops(model, [32, 64]) > 0 and model.training


def test_summary_tool(repo_root, capsys):
    spec = importlib.util.spec_from_file_location("summary_tool", repo_root / "tools" / "summary.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--cfg", str(repo_root / "experiments/coco/hrnet/w32_256x192.yaml")]) == 0
    out = capsys.readouterr().out
    assert "28,536,113" in out and ": 7.12" in out and "15.29 GFLOPs" in out
    assert tool.main(["--cfg", str(repo_root / "experiments/coco/hrnet/w32_256x192.yaml"),
                      "MODEL.EXTRA.STAGE2.NUM_BRANCH", "2"]) == 2
    assert "NUM_BRANCH" in capsys.readouterr().err
    hrnet = repo_root / "experiments/coco/hrnet"
    assert tool.main(["--table", "--cfg", str(hrnet / "w18_256x192.yaml"), "--cfg",
                      str(hrnet / "w32_v2_256x192.yaml")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("| config | input (h x w) | head | parameters |") and len(rows) == 4
    assert rows[2].endswith("w18_256x192.yaml | 256x192 | v1 | 9,318,215 | 2.97 | 6.38 |")
    assert rows[3].endswith("w32_v2_256x192.yaml | 256x192 | v2 | 29,545,553 | 7.88 | 16.93 |")
