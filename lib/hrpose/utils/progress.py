"""Progress lines with rate and ETA for long jobs (prediction, evaluation, record building, inference).

Plain log lines, so they read the same in a terminal, a log file and a Slurm output file; at most one
every ``every_s`` seconds, plus the last one. Only the main process logs (under DDP each rank counts its
own shard; rank 0's count and ETA stand for all, since the shards differ by at most one item).
"""

import datetime
import logging
import time

from hrpose.utils.dist import is_main_process


class ProgressLog:
    """``update(n)`` after each piece of work; logs ``<what>: done/total (pct), rate <unit>/s, eta``."""

    def __init__(self, what: str, total: int, unit: str, logger: logging.Logger, every_s: float = 10.0):
        self.what, self.total, self.unit, self.logger, self.every_s = what, int(total), unit, logger, every_s
        self.done = 0
        self.start = self.last_log = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += int(n)
        now = time.perf_counter()
        if now - self.last_log >= self.every_s or self.done == self.total:
            self.last_log = now
            self.log(now)

    def log(self, now: float | None = None) -> None:
        if not is_main_process():
            return
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        rate = self.done / elapsed
        if self.total <= 0:  # unknown total: count and rate only
            self.logger.info("%s: %d %s, %.1f %s/s, elapsed %s", self.what, self.done, self.unit, rate,
                             self.unit, _clock(elapsed))
            return
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        self.logger.info("%s: %d/%d %s (%.1f%%), %.1f %s/s, elapsed %s, eta %s", self.what, self.done,
                         self.total,
                         self.unit, pct, rate, self.unit, _clock(elapsed), _clock(left))


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))
