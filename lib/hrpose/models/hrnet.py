"""HRNet for top-down pose estimation (``MODEL.NAME: pose_hrnet``).

Attribute names and ``nn.Sequential`` indices are those of the reference ``PoseHighResolutionNet``, so
its ``state_dict`` keys and shapes are identical for the same stage specification (e.g. 1754 tensors for
W32, ``num_batches_tracked`` included) and the official checkpoints load with ``strict=True``.

Layout (input ``[N, 3, H, W]``, branch ``b`` runs at stride ``4 * 2**b`` with ``C_b`` channels)::

    conv1 (s2) bn1 relu, conv2 (s2) bn2 relu           stem, stride 4
    layer1                                              stage 1: one branch of residual blocks
    transition1, stage2, transition2, stage3, ...       multi-resolution stages (STAGE2 .. STAGE4)
    final_layer                                         conv on branch 0 -> heatmaps [N, K, H/4, W/4]

With ``head='v2'`` (HRNetV2, ``MODEL.EXTRA.HEAD v2``; see ``heads.py``) the last module keeps every
branch and ``conv_layers`` + ``final_layer`` read all of them, upsampled and concatenated.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch.fx
from torch import Tensor, nn

from .blocks import BLOCKS, BN_MOMENTUM, BasicBlock, Bottleneck, conv3x3, make_res_layer
from .heads import HEADS, final_conv, mixing_layers, upsample_concat


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage, as a ``MODEL.EXTRA.STAGEn`` block of the reference yamls.

    ``num_blocks[b]`` residual blocks of type ``block`` at ``num_channels[b]`` (before expansion) for each
    of the ``num_branches`` branches, repeated ``num_modules`` times with a fusion after each module.
    """

    num_modules: int
    num_branches: int
    block: str  # 'BASIC' | 'BOTTLENECK'
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]
    fuse_method: str = "SUM"  # the only method the reference implements

    def __post_init__(self):
        if self.block not in BLOCKS:
            raise ValueError(f"block {self.block!r}: expected one of {sorted(BLOCKS)}")
        if self.fuse_method != "SUM":
            raise ValueError(f"fuse_method {self.fuse_method!r}: only 'SUM' exists")
        if self.num_modules < 1 or self.num_branches < 1:
            raise ValueError(f"num_modules and num_branches must be >= 1, got {self}")
        for name in ("num_blocks", "num_channels"):
            if len(getattr(self, name)) != self.num_branches:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected num_branches = "
                                 f"{self.num_branches}")

    @property
    def out_channels(self) -> list[int]:
        return [c * BLOCKS[self.block].expansion for c in self.num_channels]


# The reference hardcodes stage 1 as layer1 = 4 Bottlenecks of 64 planes (256 channels out).
REFERENCE_STAGE1 = StageSpec(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,),
                             num_channels=(64,))


def _down_step(in_channels: int, out_channels: int, relu: bool) -> nn.Sequential:
    """One stride-2 3x3 conv + BN (+ ReLU): the unit of every downsampling path."""
    layers: list[nn.Module] = [conv3x3(in_channels, out_channels, stride=2),
                               nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _fuse_path(channels: Sequence[int], i: int, j: int) -> nn.Module | None:
    """Path from branch j to branch i of a fusion (keys ``fuse_layers.i.j.*``).

    j > i: 1x1 conv, BN, nearest upsample by 2**(j-i) (that order). j == i: identity (None).
    j < i: i-j stride-2 steps; the intermediate ones keep C_j channels with ReLU, the last maps to C_i
    without ReLU (the ReLU comes after the sum).
    """
    if j > i:
        return nn.Sequential(
            nn.Conv2d(channels[j], channels[i], kernel_size=1, bias=False),
            nn.BatchNorm2d(channels[i]),
            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
        )
    if j == i:
        return None
    steps = [_down_step(channels[j], channels[j], relu=True) for _ in range(i - j - 1)]
    steps.append(_down_step(channels[j], channels[i], relu=False))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches, then exchange: output i = ReLU(sum_j path_ij(branch_j)).

    Takes and returns a list of ``num_branches`` tensors ``[N, C_b, H / 2**b, W / 2**b]`` (relative to
    branch 0). With ``multi_scale_output=False`` only output 0 is built and returned (a 1-element list).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], in_channels: Sequence[int],
                 num_blocks: Sequence[int], num_channels: Sequence[int], multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(num_channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            make_res_layer(block, in_channels[b], num_channels[b], num_blocks[b])
            for b in range(self.num_branches)
        )
        out_channels = [c * block.expansion for c in num_channels]
        self.fuse_layers = None
        if self.num_branches > 1:
            rows = self.num_branches if multi_scale_output else 1
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(_fuse_path(out_channels, i, j) for j in range(self.num_branches))
                for i in range(rows)
            )
        # In place is safe: y is always a fresh sum (two or more branches), never one of the inputs.
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        x = [branch(x_b) for branch, x_b in zip(self.branches, x, strict=True)]
        if self.fuse_layers is None:
            return x
        outputs = []
        for row in self.fuse_layers:
            y = x[0] if row[0] is None else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if row[j] is None else row[j](x[j]))
            outputs.append(self.relu(y))
        return outputs


def _make_transition(prev_channels: Sequence[int], cur_channels: Sequence[int]) -> nn.ModuleList:
    """Between stages: existing branch i gets conv3x3 + BN + ReLU only if its width changes (else None);
    a new branch gets stride-2 steps from the last previous branch (``transitionN.i.{step}.{0,1}``)."""
    layers: list[nn.Module | None] = []
    for i, cur in enumerate(cur_channels):
        if i < len(prev_channels):
            layers.append(None if cur == prev_channels[i] else nn.Sequential(
                conv3x3(prev_channels[i], cur), nn.BatchNorm2d(cur, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True)))
            continue
        num_steps = i + 1 - len(prev_channels)
        steps = [_down_step(prev_channels[-1], cur if s == num_steps - 1 else prev_channels[-1], relu=True)
                 for s in range(num_steps)]
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def check_input_size(images: Tensor, divisor: int) -> Tensor:
    """Return ``images`` unchanged; raise if H or W is not a multiple of ``divisor``."""
    h, w = images.shape[-2:]
    if h % divisor or w % divisor:
        raise ValueError(f"input {h}x{w} (HxW): both sides must be multiples of {divisor} for this HRNet "
                         "(its lower-resolution branches are upsampled back and summed)")
    return images


# A leaf for torch.fx tracing (used by fuse_conv_bn): a Python `if` on traced shapes cannot be traced.
torch.fx.wrap("check_input_size")


class PoseHighResolutionNet(nn.Module):
    """HRNet + heatmap head: images ``[N, 3, H, W]`` -> raw heatmaps ``[N, K, H/4, W/4]``.

    ``stages`` are STAGE2, STAGE3, ... in order (three in every reference config, named ``stage2`` ..
    ``stage4``); ``stage1`` and ``stem_channels`` default to the reference's hardcoded layer1 and 64.
    H and W must be multiples of ``input_divisor`` (4 * 2**(branches - 1), 32 for four branches) so that
    the upsampled branches line up. ``head`` is 'v1' (the reference) or 'v2' (HRNetV2, ``heads.py``).
    """

    def __init__(self, num_joints: int, stages: Sequence[StageSpec], stage1: StageSpec = REFERENCE_STAGE1,
                 stem_channels: int = 64, final_conv_kernel: int = 1, head: str = "v1"):
        super().__init__()
        if stage1.num_branches != 1:
            raise ValueError(f"stage 1 has exactly one branch, got num_branches={stage1.num_branches}")
        if head not in HEADS:
            raise ValueError(f"head {head!r}: expected one of {list(HEADS)}")
        self.conv1 = conv3x3(3, stem_channels, stride=2)
        self.bn1 = nn.BatchNorm2d(stem_channels, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(stem_channels, stem_channels, stride=2)
        self.bn2 = nn.BatchNorm2d(stem_channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(BLOCKS[stage1.block], stem_channels, stage1.num_channels[0],
                                     stage1.num_blocks[0])
        self.num_stages = len(stages)
        self.head = head
        prev_channels = stage1.out_channels
        for n, spec in enumerate(stages, start=1):
            # Registered as transition1, stage2, transition2, stage3, ... (reference order and names).
            setattr(self, f"transition{n}", _make_transition(prev_channels, spec.out_channels))
            single_scale_end = head == "v1" and n == len(stages)
            setattr(self, f"stage{n + 1}", self._make_stage(spec, single_scale_end))
            prev_channels = spec.out_channels
        self.input_divisor = 4 * 2 ** (stages[-1].num_branches - 1 if stages else 0)
        head_channels = prev_channels[0] if head == "v1" else sum(prev_channels)
        if head == "v2":  # registered before final_layer: state_dict order conv_layers.*, final_layer.*
            self.conv_layers = mixing_layers(head_channels)
        self.final_layer = final_conv(head_channels, num_joints, final_conv_kernel)

    @staticmethod
    def _make_stage(spec: StageSpec, single_scale_end: bool) -> nn.Sequential:
        """``num_modules`` HighResolutionModules. The transition hands every branch its expanded width
        (``out_channels``), so no module needs a shortcut conv. With ``single_scale_end`` (the last stage
        of a v1 head) the last module returns only the highest-resolution branch
        (``multi_scale_output=False``, fuse row 0 only)."""
        block = BLOCKS[spec.block]
        modules = []
        for m in range(spec.num_modules):
            multi_scale = not (single_scale_end and m == spec.num_modules - 1)
            modules.append(HighResolutionModule(block, spec.out_channels, spec.num_blocks,
                                                spec.num_channels, multi_scale_output=multi_scale))
        return nn.Sequential(*modules)

    def forward(self, images: Tensor) -> Tensor:
        images = check_input_size(images, self.input_divisor)
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.relu(self.bn2(self.conv2(x)))
        features = [self.layer1(x)]
        for n in range(1, self.num_stages + 1):
            transition = getattr(self, f"transition{n}")
            # Existing branches transition from themselves, new ones from the lowest resolution. (The
            # reference feeds features[-1] to every non-None transition: identical whenever, as in all
            # its configs, existing branches keep their width.)
            inputs = []
            for i, layer in enumerate(transition):
                source = features[min(i, len(features) - 1)]
                inputs.append(source if layer is None else layer(source))
            features = getattr(self, f"stage{n + 1}")(inputs)
        if self.head == "v1":
            return self.final_layer(features[0])
        return self.final_layer(self.conv_layers(upsample_concat(features)))


__all__ = ["BasicBlock", "Bottleneck", "HighResolutionModule", "PoseHighResolutionNet", "StageSpec",
           "REFERENCE_STAGE1", "make_res_layer"]
