"""Training-step statistics kept on the device and read by the host every ``PRINT_FREQ`` iterations.

A ``.item()`` on the loss every step makes the host wait for the device each iteration: the GPU idles
while Python prepares the next step, and CUDA graphs cannot span steps. ``StepStats.update`` therefore
only enqueues a few scalar tensor ops (no host sync); ``StepStats.read`` copies everything to the host
at once (one sync, one all-reduce under DDP) and starts a new log window. ``Span`` times a run of
iterations on the host; read right after ``StepStats.read`` it includes the device's work.

What is tracked (0-dim float64 tensors on the training device):

* the finite losses of the log window and of the epoch (sum and count), and the last finite loss;
* the skipped steps: ``found_inf`` = 1 for a step the optimizer skipped because the loss or a gradient
  was not finite (see ``train_loop.backward_and_step``); their count, the current run of consecutive
  skips, the iteration (and loss) of the first one, and the iteration at which the run of consecutive
  skips first reached ``max_in_a_row``.
"""

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from hrpose.utils.dist import reduce_mean

FIELDS = ("window_sum", "window_count", "epoch_sum", "epoch_count", "last", "skipped", "in_a_row",
          "first_skip", "first_skip_loss", "limit_reached")


@dataclass(frozen=True)
class Reading:
    """One host read of ``StepStats`` (losses: means over the ranks; the skip fields agree on every rank).

    ``first_skip`` / ``limit_reached``: an iteration of the epoch, or -1 when it has not happened.
    """

    window_loss: float  # mean finite loss of the log window
    last_loss: float  # the last finite loss
    epoch_loss: float  # mean finite loss of the epoch so far
    skipped: int  # steps skipped so far this epoch
    first_skip: int  # iteration of the first skipped step
    first_skip_loss: float  # its loss (nan / inf, or finite when only a gradient was not finite)
    limit_reached: int  # iteration at which ``max_in_a_row`` consecutive steps had been skipped


class StepStats:
    """Device-side accumulators for one epoch (see the module docstring)."""

    def __init__(self, device: torch.device, max_in_a_row: int):
        self.max_in_a_row = int(max_in_a_row)
        self.state = torch.zeros(len(FIELDS), dtype=torch.float64, device=device)
        self.state[FIELDS.index("first_skip")] = -1
        self.state[FIELDS.index("limit_reached")] = -1

    def update(self, loss: Tensor, found_inf: Tensor, it: int) -> None:
        """Add iteration ``it``: ``loss`` (0-dim) and ``found_inf`` (0-dim, 1 = the step was skipped).
        Enqueues device work only."""
        (window_sum, window_count, epoch_sum, epoch_count, last, skipped, in_a_row, first_skip,
         first_skip_loss, limit_reached) = self.state.unbind()
        loss = loss.detach().to(torch.float64)
        found = found_inf.to(torch.float64)
        finite = torch.isfinite(loss)
        value, count = torch.where(finite, loss, 0.0), finite.to(torch.float64)
        run = (in_a_row + 1) * found
        first = (found > 0) & (first_skip < 0)
        reached = (run >= self.max_in_a_row) & (limit_reached < 0)
        self.state = torch.stack([
            window_sum + value, window_count + count, epoch_sum + value, epoch_count + count,
            torch.where(finite, loss, last), skipped + found, run, torch.where(first, it, first_skip),
            torch.where(first, loss, first_skip_loss), torch.where(reached, it, limit_reached)])

    def read(self) -> Reading:
        """Copy the statistics to the host (the one sync) and start a new log window."""
        values = dict(zip(FIELDS, reduce_mean(self.state).tolist(), strict=True))
        self.state[FIELDS.index("window_sum")] = 0
        self.state[FIELDS.index("window_count")] = 0
        return Reading(
            window_loss=_mean(values["window_sum"], values["window_count"]), last_loss=values["last"],
            epoch_loss=_mean(values["epoch_sum"], values["epoch_count"]), skipped=round(values["skipped"]),
            first_skip=round(values["first_skip"]), first_skip_loss=values["first_skip_loss"],
            limit_reached=round(values["limit_reached"]))


def _mean(total: float, count: float) -> float:
    return total / count if count else float("nan")


@dataclass
class Span:
    """Host wall-clock of a span of iterations: data-wait seconds, images and iterations in it."""

    start: float
    data_time: float = 0.0
    images: int = 0
    iters: int = 0

    def add(self, data_time: float, images: int) -> None:
        self.data_time += data_time
        self.images += images
        self.iters += 1

    def summary(self) -> dict[str, float]:
        """Per-iteration ``data_time`` and ``step_time`` (the rest of the wall time) and ``images_per_s``."""
        wall = max(time.perf_counter() - self.start, 1e-9)
        iters = max(self.iters, 1)
        return {"data_time": self.data_time / iters, "step_time": (wall - self.data_time) / iters,
                "iter_time": wall / iters, "images_per_s": self.images / wall}
