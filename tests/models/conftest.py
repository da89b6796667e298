"""Model-test fixtures: the tiny HRNet at its smallest input, shipped experiment configs, a fixed seed."""

import pytest
import torch
from yacs.config import CfgNode

from hrpose.config import get_cfg, load_cfg


@pytest.fixture
def tiny_hrnet_cfg(tiny_cfg) -> CfgNode:
    """A mutable copy of the tiny HRNet config at its smallest input: 32x64 (w x h), heatmaps 8x16."""
    cfg = tiny_cfg("MODEL.IMAGE_SIZE", "[32, 64]", "MODEL.HEATMAP_SIZE", "[8, 16]")
    cfg.defrost()
    return cfg


@pytest.fixture
def resnet_cfg():
    """``resnet_cfg(num_layers=18, filters=(16, 16, 16), kernels=(4, 4, 4), image_size=(32, 64))``: a
    mutable pose_resnet config (small deconvolution head; heatmaps = image_size / 4)."""

    def build(num_layers: int = 18, filters=(16, 16, 16), kernels=(4, 4, 4), image_size=(32, 64)) -> CfgNode:
        cfg = get_cfg()
        cfg.MODEL.NAME = "pose_resnet"
        cfg.MODEL.IMAGE_SIZE = list(image_size)
        cfg.MODEL.HEATMAP_SIZE = [s // 4 for s in image_size]
        cfg.MODEL.EXTRA.NUM_LAYERS = num_layers
        cfg.MODEL.EXTRA.NUM_DECONV_LAYERS = len(filters)
        cfg.MODEL.EXTRA.NUM_DECONV_FILTERS = list(filters)
        cfg.MODEL.EXTRA.NUM_DECONV_KERNELS = list(kernels)
        return cfg

    return build


@pytest.fixture
def experiment_cfg(repo_root):
    """``experiment_cfg('coco/hrnet/w32_256x192.yaml', *opts)``: a shipped yaml, loaded and frozen."""
    def load(relative: str, *opts: str) -> CfgNode:
        return load_cfg(str(repo_root / "experiments" / relative), list(opts))
    return load


@pytest.fixture(autouse=True)
def _seed():
    """Every model test starts from the same random state (the suite runs single-threaded, see the
    root conftest)."""
    torch.manual_seed(0)


# --- published checkpoint layouts, derived from the architectures --------------------------------------
# A walk over the HRNet structure (stem -> layer1 -> (transition, stage) x 3 -> head) that names every
# tensor as the program that publishes it does: the reference PoseHighResolutionNet, mmpose's TopDown
# (0.x: ``backbone`` + ``keypoint_head``) and TopdownPoseEstimator (1.x: ``backbone`` + ``head`` +
# ``data_preprocessor``), and the ImageNet classifiers of HRNet-Image-Classification (cls_hrnet.py) and
# timm (hrnet.py): multi-scale last module, incre_modules (one Bottleneck per branch to 32/64/128/256
# planes), downsamp_modules (3x3 s2 conv with bias + BN), final_layer (1x1 conv 1024 -> 2048 + BN),
# classifier (2048 -> 1000). Written from those programs' module structure, not from hrpose's state_dict.

Entry = tuple[str, tuple[int, ...], bool]  # key, shape, is a parameter (else a buffer)
CLASSIFIER_PLANES = (32, 64, 128, 256)


def _bn(name: str, c: int, counters: bool) -> list[Entry]:
    out = [(f"{name}.weight", (c,), True), (f"{name}.bias", (c,), True),
           (f"{name}.running_mean", (c,), False), (f"{name}.running_var", (c,), False)]
    return out + ([(f"{name}.num_batches_tracked", (), False)] if counters else [])


def _conv(name: str, cout: int, cin: int, k: int, bias: bool = False) -> list[Entry]:
    return [(f"{name}.weight", (cout, cin, k, k), True)] + ([(f"{name}.bias", (cout,), True)] if bias else [])


def _conv_bn(name: str, conv: str, bn: str, cout: int, cin: int, k: int, counters: bool) -> list[Entry]:
    return _conv(f"{name}.{conv}", cout, cin, k) + _bn(f"{name}.{bn}", cout, counters)


def _res_layer(name: str, kind: str, cin: int, planes: int, blocks: int, counters: bool) -> list[Entry]:
    """Residual blocks ``name.{i}``: BASIC = 3x3, 3x3; BOTTLENECK = 1x1, 3x3, 1x1 to 4 x planes; a 1x1 +
    BN shortcut ``downsample.{0,1}`` in the first block when the width changes."""
    expansion = 4 if kind == "BOTTLENECK" else 1
    convs = [(planes, 3), (planes, 3)] if kind == "BASIC" else [(planes, 1), (planes, 3), (planes * 4, 1)]
    out = []
    for i in range(blocks):
        cur = cin
        for n, (cout, k) in enumerate(convs, start=1):
            out += _conv_bn(f"{name}.{i}", f"conv{n}", f"bn{n}", cout, cur, k, counters)
            cur = cout
        if i == 0 and cin != planes * expansion:
            out += _conv_bn(f"{name}.{i}.downsample", "0", "1", planes * expansion, cin, 1, counters)
        cin = planes * expansion
    return out


def _fusion(name: str, chans, rows: int, counters: bool) -> list[Entry]:
    """``fuse_layers.i.j``: j > i a 1x1 conv + BN (then upsampling); j < i, i - j stride-2 3x3 conv + BN
    steps, the last one to C_i."""
    out = []
    for i in range(rows):
        for j, cj in enumerate(chans):
            if j > i:
                out += _conv_bn(f"{name}.{i}.{j}", "0", "1", chans[i], cj, 1, counters)
            for k in range(i - j):
                cout = chans[i] if k == i - j - 1 else cj
                out += _conv_bn(f"{name}.{i}.{j}.{k}", "0", "1", cout, cj, 3, counters)
    return out


def _backbone(p: str, extra, multi_scale_end: bool, counters: bool) -> tuple[list[Entry], list[int]]:
    """Stem, layer1 and stages 2-4 of ``MODEL.EXTRA`` (BASIC stages), keys prefixed with ``p``."""
    stem = int(extra.get("STEM_INPLANES", 64))
    s1 = extra.get("STAGE1") or {"BLOCK": "BOTTLENECK", "NUM_BLOCKS": [4], "NUM_CHANNELS": [64]}
    out = _conv(f"{p}conv1", stem, 3, 3) + _bn(f"{p}bn1", stem, counters)
    out += _conv(f"{p}conv2", stem, stem, 3) + _bn(f"{p}bn2", stem, counters)
    planes = int(s1["NUM_CHANNELS"][0])
    out += _res_layer(f"{p}layer1", s1["BLOCK"], stem, planes, int(s1["NUM_BLOCKS"][0]), counters)
    prev = [planes * (4 if s1["BLOCK"] == "BOTTLENECK" else 1)]
    for s in (1, 2, 3):
        spec = extra[f"STAGE{s + 1}"]
        chans = [int(c) for c in spec["NUM_CHANNELS"]]
        for i, c in enumerate(chans):
            if i < len(prev) and c != prev[i]:
                out += _conv_bn(f"{p}transition{s}.{i}", "0", "1", c, prev[i], 3, counters)
            steps = i + 1 - len(prev)
            for k in range(steps):
                out += _conv_bn(f"{p}transition{s}.{i}.{k}", "0", "1", c if k == steps - 1 else prev[-1],
                                prev[-1], 3, counters)
        modules = int(spec["NUM_MODULES"])
        for m in range(modules):
            for b, (n, c) in enumerate(zip(spec["NUM_BLOCKS"], chans, strict=True)):
                out += _res_layer(f"{p}stage{s + 1}.{m}.branches.{b}", "BASIC", c, c, int(n), counters)
            rows = 1 if s == 3 and m == modules - 1 and not multi_scale_end else len(chans)
            if len(chans) > 1:
                out += _fusion(f"{p}stage{s + 1}.{m}.fuse_layers", chans, rows, counters)
        prev = chans
    return out, prev


def _v2_head(conv: str, bn: str, final: str, channels: int, joints: int, counters: bool) -> list[Entry]:
    return (_conv(conv, channels, channels, 1, bias=True) + _bn(bn, channels, counters)
            + _conv(final, joints, channels, 1, bias=True))


def _classifier(chans, counters: bool) -> list[Entry]:
    out = []
    for i, c in enumerate(chans):
        out += _res_layer(f"incre_modules.{i}", "BOTTLENECK", c, CLASSIFIER_PLANES[i], 1, counters)
    for i in range(len(chans) - 1):
        cin, cout = CLASSIFIER_PLANES[i] * 4, CLASSIFIER_PLANES[i + 1] * 4
        out += _conv(f"downsamp_modules.{i}.0", cout, cin, 3, bias=True)
        out += _bn(f"downsamp_modules.{i}.1", cout, counters)
    out += _conv("final_layer.0", 2048, 1024, 1, bias=True) + _bn("final_layer.1", 2048, counters)
    return out + [("classifier.weight", (1000, 2048), True), ("classifier.bias", (1000,), True)]


def published_layout(layout: str, cfg, counters: bool = True, preprocessor: bool = False) -> list[Entry]:
    """The tensors a ``layout`` file holds for ``cfg``'s HRNet: 'reference', 'mmpose 0.x', 'mmpose 1.x'
    (``preprocessor``: with ``data_preprocessor.{mean,std}``) or 'imagenet' (official / timm classifier;
    ``counters=False``: no BN ``num_batches_tracked``, as files of PyTorch < 0.4.1)."""
    extra, joints = cfg.MODEL.EXTRA, int(cfg.MODEL.NUM_JOINTS)
    v2 = extra.get("HEAD", "v1") == "v2"
    if layout == "imagenet":
        body, chans = _backbone("", extra, True, counters)
        return body + _classifier(chans, counters)
    prefix = {"reference": "", "mmpose 0.x": "backbone.", "mmpose 1.x": "backbone."}[layout]
    body, chans = _backbone(prefix, extra, v2, counters)
    head = {"reference": "", "mmpose 0.x": "keypoint_head.", "mmpose 1.x": "head."}[layout]
    if not v2:
        body += _conv(f"{head}final_layer", joints, chans[0], 1, bias=True)
    elif layout == "mmpose 0.x":  # one Sequential: conv (0), BN (1), ReLU (2), conv (3)
        body += _v2_head(f"{head}final_layer.0", f"{head}final_layer.1", f"{head}final_layer.3", sum(chans),
                         joints, counters)
    else:
        body += _v2_head(f"{head}conv_layers.0", f"{head}conv_layers.1", f"{head}final_layer", sum(chans),
                         joints, counters)
    if preprocessor:
        body += [("data_preprocessor.mean", (3, 1, 1), False), ("data_preprocessor.std", (3, 1, 1), False)]
    return body


def layout_tensors(entries: list[Entry], seed: int = 0, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Seeded tensors for ``entries``: parameters ~ N(0, 0.1), BN means ~ N(0, 0.1), variances in [0.5, 1.5],
    counters 7; ``data_preprocessor`` = the ImageNet mean/std in 0..255 units (mmpose's values)."""
    gen = torch.Generator().manual_seed(seed)
    imagenet = {"mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)}
    out = {}
    for key, shape, _ in entries:
        leaf = key.rsplit(".", 1)[1]
        if device == "meta":
            out[key] = torch.empty(shape, device="meta", dtype=torch.int64 if leaf == "num_batches_tracked"
                                   else torch.float32)
        elif key.startswith("data_preprocessor."):
            out[key] = torch.tensor(imagenet[leaf]).view(shape)
        elif leaf == "num_batches_tracked":
            out[key] = torch.tensor(7)
        elif leaf == "running_var":
            out[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.1
    return out


@pytest.fixture(scope="session")
def layouts():
    """``layouts.keys(layout, cfg, counters=True, preprocessor=False)`` -> [(key, shape, is_param)] and
    ``layouts.tensors(entries, seed=0, device='cpu')`` -> {key: tensor}: published checkpoint layouts."""

    class Layouts:
        keys = staticmethod(published_layout)
        tensors = staticmethod(layout_tensors)

    return Layouts
