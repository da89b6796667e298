"""Temporal keypoint filtering: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012), per track.

The filter is an exponential smoother whose cutoff frequency rises with the signal's speed: at rest a low
cutoff (``min_cutoff``, Hz) removes jitter; when the keypoint moves fast the cutoff grows by ``beta``
per pixel/second of (low-passed, ``d_cutoff``) speed, so the lag stays short. For a sample interval
``dt`` and cutoff ``fc`` the smoothing factor is ``alpha = 1 / (1 + 1 / (2 pi fc dt))`` and
``x_hat = alpha x + (1 - alpha) x_hat_prev``.

Units: positions in image pixels, time in seconds (``t``, or frame index / ``rate``). Only ``x, y`` of
keypoints are filtered; scores pass through. Pure numpy.
"""

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the module stays numpy-only (docs/deploy.md)
    from yacs.config import CfgNode


def smoothing_factor(cutoff, dt: float):
    """``alpha`` of an exponential smoother with cutoff ``cutoff`` (Hz) at sample interval ``dt`` (s)."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64) * dt))


class OneEuroFilter:
    """One-Euro filter of an array signal (any shape, each element filtered on its own).

    Args:
        rate: samples per second, used when ``__call__`` gets no time stamp.
        min_cutoff: cutoff at rest (Hz). Lower: less jitter, more lag.
        beta: cutoff increase per unit/s of speed. Higher: less lag on fast motion.
        d_cutoff: cutoff of the speed estimate (Hz).
    """

    def __init__(self, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.05,
                 d_cutoff: float = 1.0):
        if rate <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro filter: need rate, min_cutoff, d_cutoff > 0 and beta >= 0; got rate "
                             f"{rate}, min_cutoff {min_cutoff}, beta {beta}, d_cutoff {d_cutoff}")
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = float(rate), min_cutoff, beta, d_cutoff
        self.x_hat = self.dx_hat = self.t = None

    def reset(self) -> None:
        self.x_hat = self.dx_hat = self.t = None

    def __call__(self, x, t: float | None = None) -> np.ndarray:
        """The filtered value of sample ``x`` at time ``t`` (seconds; default: one ``1/rate`` step on)."""
        x = np.asarray(x, dtype=np.float64)
        if self.x_hat is None:
            self.x_hat, self.dx_hat = x.copy(), np.zeros_like(x)
            self.t = 0.0 if t is None else float(t)
            return x.copy()
        t = self.t + 1.0 / self.rate if t is None else float(t)
        dt = t - self.t
        if dt <= 0:
            raise ValueError(f"One-Euro filter: time stamps must increase, got {t} after {self.t}")
        dx = (x - self.x_hat) / dt
        self.dx_hat = self.dx_hat + smoothing_factor(self.d_cutoff, dt) * (dx - self.dx_hat)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx_hat)
        self.x_hat = self.x_hat + smoothing_factor(cutoff, dt) * (x - self.x_hat)
        self.t = t
        return self.x_hat.copy()


class KeypointSmoother:
    """One ``OneEuroFilter`` per track id over the keypoints' ``x, y``.

    Args:
        rate: frames per second of the video.
        min_cutoff, beta, d_cutoff: see ``OneEuroFilter`` (pixels and seconds).
        max_age: a track's filter is forgotten after this many frames without it (a later reappearance
            starts unfiltered).
    """

    def __init__(self, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 max_age: int = 10):
        OneEuroFilter(rate, min_cutoff, beta, d_cutoff)  # validates the parameters
        self.rate = float(rate)
        self.params = dict(rate=rate, min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self.max_age = int(max_age)
        self.filters: dict[int, OneEuroFilter] = {}
        self.last_seen: dict[int, int] = {}
        self.frame = -1

    def reset(self) -> None:
        self.filters, self.last_seen, self.frame = {}, {}, -1

    def __call__(self, track_ids, keypoints: np.ndarray, t: float | None = None) -> np.ndarray:
        """A smoothed copy of this frame's keypoints float32 ``[N, K, 3]`` for track ids ``[N]`` (ids < 0
        pass unfiltered); ``t`` in seconds (default: one frame after the previous call)."""
        self.frame += 1
        out = np.array(keypoints, dtype=np.float32, copy=True)
        for i, track_id in enumerate(np.asarray(track_ids).tolist()):
            if track_id < 0:
                continue
            filt = self.filters.setdefault(track_id, OneEuroFilter(**self.params))
            stamp = t if t is not None else self.frame / self.rate
            out[i, :, :2] = filt(out[i, :, :2], stamp)
            self.last_seen[track_id] = self.frame
        for track_id in [k for k, seen in self.last_seen.items() if self.frame - seen > self.max_age]:
            del self.filters[track_id], self.last_seen[track_id]
        return out


def build_smoother(cfg: "CfgNode", rate: float) -> KeypointSmoother:
    """The ``SMOOTH.*`` keypoint smoother for a video at ``rate`` frames/s (filters dropped with the
    tracks, after ``TRACK.MAX_AGE`` frames)."""
    s = cfg.SMOOTH
    return KeypointSmoother(rate, s.MIN_CUTOFF, s.BETA, s.D_CUTOFF, cfg.TRACK.MAX_AGE)
