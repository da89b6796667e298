"""Fold BatchNorm into the preceding convolution for inference (``TEST.FUSE_BN``).

In eval mode BN is an affine map per channel, ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so a
convolution followed only by a BN equals one convolution with scaled weights and a bias. The pairs are
found from the data flow (a ``torch.fx`` trace), not from attribute names: a BN is folded only when its
input is a convolution's output that nothing else uses. The fused model keeps the module hierarchy and
names (the BNs become ``nn.Identity``), so it prints, profiles and exports like the original.
"""

import copy
import logging

import torch
import torch.fx
from torch import nn

logger = logging.getLogger(__name__)

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def find_conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` for every BatchNorm2d that directly and solely consumes a convolution."""
    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if (isinstance(source, torch.fx.Node) and source.op == "call_module"
                and isinstance(modules[source.target], _CONVS) and len(source.users) == 1):
            pairs.append((source.target, node.target))
    return pairs


@torch.no_grad()
def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Fold ``bn`` into ``conv`` in place (computed in float64, stored in the conv's dtype)."""
    if not bn.track_running_stats or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    gamma = bn.weight.double() if bn.affine else torch.ones_like(bn.running_var, dtype=torch.float64)
    beta = bn.bias.double() if bn.affine else torch.zeros_like(bn.running_mean, dtype=torch.float64)
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)  # [C_out]
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    # Output channels are dim 0 of a conv weight [out, in/g, k, k] but dim 1 of a transposed conv's
    # [in, out/g, k, k] (groups = 1 here: the models have no grouped transposed convs).
    if isinstance(conv, nn.ConvTranspose2d):
        if conv.groups != 1:
            raise ValueError("folding BN into a grouped ConvTranspose2d is not supported")
        shape = (1, -1, 1, 1)
    else:
        shape = (-1, 1, 1, 1)
    weight = conv.weight.double() * scale.view(shape)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    new_bias = (bias - bn.running_mean.double()) * scale + beta
    conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """A fused copy of ``model`` in eval mode; ``model`` itself is left unchanged.

    Its outputs equal ``model.eval()``'s up to float rounding (relative 1e-5 in float32). Inference
    only: training the copy would train without BatchNorm. Raises if the model cannot be traced.
    """
    fused = copy.deepcopy(model).eval()
    pairs = find_conv_bn_pairs(fused)
    for conv_name, bn_name in pairs:
        _fold(fused.get_submodule(conv_name), fused.get_submodule(bn_name))
        _replace(fused, bn_name, nn.Identity())
    remaining = sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    logger.info("fuse_conv_bn: folded %d BatchNorm layers into convolutions (%d left unfused)",
                len(pairs), remaining)
    return fused
