"""Running statistics for the training log: a windowed median/mean and a global average."""

from collections import deque


class AverageMeter:
    """Weighted running average: ``update(value, n)`` adds ``n`` samples of ``value``."""

    def __init__(self):
        self.total = 0.0
        self.count = 0
        self.last = 0.0

    def update(self, value: float, n: int = 1) -> None:
        self.last = float(value)
        self.total += float(value) * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else 0.0


class SmoothedValue:
    """A value tracked over a sliding window (for the log line) and over the whole epoch."""

    def __init__(self, window: int = 20):
        self.window = deque(maxlen=window)
        self.global_avg = AverageMeter()

    def update(self, value: float, n: int = 1) -> None:
        self.window.append(float(value))
        self.global_avg.update(value, n)

    @property
    def median(self) -> float:
        values = sorted(self.window)
        return values[len(values) // 2] if values else 0.0

    @property
    def avg(self) -> float:
        """Mean over the window."""
        return sum(self.window) / len(self.window) if self.window else 0.0

    @property
    def last(self) -> float:
        return self.window[-1] if self.window else 0.0
