"""Model size and cost: parameters, the reference's "GFLOPs", and true FLOPs.

Two FLOP conventions are in use and they differ by more than 2x:

- reference "GFLOPs" (the HRNet README, ``get_model_summary``): multiply-adds of convolution and linear
  layers only, divided by 2**30. For a convolution (also a transposed one) it counts
  ``weight.numel() * output H * output W``; for a transposed stride-2 conv that is 4x its real cost, a
  quirk kept so the numbers match the published ones (W32 256x192: 7.12).
- true FLOPs: 2 x multiply-adds of every operation that ``torch.utils.flop_counter`` knows (convolutions,
  transposed convolutions, matrix products), in units of 1e9.

All functions run one forward pass of a single zero image in eval mode on the model's device; build the
model on the 'meta' device (``with torch.device("meta"): model = build_model(cfg, is_train=False)``) to
get the figures instantly, without memory or compute.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

REFERENCE_GFLOP = 1024**3  # the reference divides multiply-adds by 2**30 and calls it GFLOPs


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (every parameter, trainable or not; BN buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _dummy_forward(model: nn.Module, image_size: Sequence[int]) -> None:
    """One forward of a zero image ``[1, 3, h, w]`` (``image_size`` is [w, h]) in eval mode."""
    param = next(model.parameters())
    width, height = int(image_size[0]), int(image_size[1])
    images = torch.zeros(1, 3, height, width, device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        model.train(was_training)


def reference_macs(model: nn.Module, image_size: Sequence[int]) -> int:
    """Conv + linear multiply-adds for one ``image_size`` ([w, h]) image, counted as the reference."""
    total = 0

    def count(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.modules.conv._ConvNd):
            total += module.weight.numel() * output.shape[2:].numel()
        elif isinstance(module, nn.Linear):
            total += output.numel() * inputs[0].shape[-1]

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    try:
        _dummy_forward(model, image_size)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def reference_gflops(model: nn.Module, image_size: Sequence[int]) -> float:
    """The reference's "GFLOPs": ``reference_macs / 2**30`` (W32 at 256x192: 7.12)."""
    return reference_macs(model, image_size) / REFERENCE_GFLOP


def true_flops(model: nn.Module, image_size: Sequence[int]) -> int:
    """FLOPs (2 per multiply-add) of one ``image_size`` ([w, h]) image, by ``torch.utils.flop_counter``."""
    counter = FlopCounterMode(display=False)
    with counter:
        _dummy_forward(model, image_size)
    return counter.get_total_flops()
