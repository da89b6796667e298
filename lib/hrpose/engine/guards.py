"""Divergence guard: stop a run whose weights or loss have blown up, before anything of it is saved.

The step-level guard (``train_one_epoch``) skips a step with a non-finite loss or gradient on the device
(the weights never see it) and stops the run at the next read of the statistics. A run
can also diverge with finite numbers (e.g. Adam at a huge LR: loss 1e26, weights 1e32), which would then
be validated and saved as ``best.pth``. After every epoch, ``DivergenceGuard.check`` compares

* the largest absolute weight with the one at the start of the run: non-finite, or more than
  ``FACTOR`` times larger (at least ``FACTOR`` in absolute terms), is divergence;
* the epoch's mean loss with the first epoch's: ``FACTOR`` times larger is divergence.

Both raise ``FloatingPointError`` naming the epoch and the numbers; the caller has not saved the epoch
yet, so ``last.pth`` still holds the previous one.
"""

import math

import torch
from torch import nn

FACTOR = 1e3


def largest_weight(model: nn.Module) -> float:
    """max |w| over the model's parameters (one host sync; called once per epoch)."""
    with torch.no_grad():
        return max((float(p.detach().abs().max()) for p in model.parameters() if p.numel()), default=0.0)


class DivergenceGuard:
    """Holds the start-of-run weight scale and the first epoch's loss (``first_loss`` None until then)."""

    def __init__(self, model: nn.Module, first_loss: float | None = None):
        self.start_scale = largest_weight(model)
        self.first_loss = first_loss

    def check(self, model: nn.Module, epoch: int, loss: float) -> None:
        scale = largest_weight(model)
        limit = FACTOR * max(self.start_scale, 1.0)
        where = (f"training diverged in epoch {epoch}: nothing of this epoch was saved (last.pth holds the "
                 "epoch before); lower TRAIN.LR or check the data")
        if not math.isfinite(scale) or scale > limit:
            raise FloatingPointError(f"{where}: largest |weight| {scale:.3g} (it was {self.start_scale:.3g} "
                                     f"at the start of the run; limit {limit:.3g})")
        if not math.isfinite(loss):
            raise FloatingPointError(f"{where}: mean loss {loss}")
        if self.first_loss is None:
            self.first_loss = loss
        elif loss > FACTOR * self.first_loss:
            raise FloatingPointError(f"{where}: mean loss {loss:.3g} is more than {FACTOR:g} x the first "
                                     f"epoch's {self.first_loss:.3g}")
