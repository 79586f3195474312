"""Robust statistics on one curve: a running median (so one noisy epoch decides nothing), its
noise, trends over the tail and the first non-finite value."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SMOOTH_SHARE = 0.1  # running-median window: a tenth of the run, so noise, not trends, is removed
SMOOTH_MAX = 9      # ...at most 9 epochs wide, so a turn (the overfitting epoch) stays sharp
MIN_EPOCHS = 5      # fewer points than this carry no trend: the trend checks are skipped


@dataclass(frozen=True)
class Curve:
    """The finite part of a series, smoothed: ``x``, ``raw`` and ``smooth`` have one entry per
    finite value; ``first_bad`` is the first epoch with NaN or infinity (None when none)."""

    name: str
    x: np.ndarray
    raw: np.ndarray
    smooth: np.ndarray
    first_bad: int | float | None
    bad_value: float | None

    @property
    def n(self) -> int:
        return len(self.x)

    def at(self, epoch: float) -> float:
        """The smoothed value at ``epoch`` (the nearest logged one)."""
        return float(self.smooth[int(np.argmin(np.abs(self.x - epoch)))])

    @property
    def noise(self) -> float:
        """Median absolute deviation of the raw values from the smoothed curve."""
        return float(np.median(np.abs(self.raw - self.smooth))) if self.n else 0.0


def window(n: int) -> int:
    """The running-median width for ``n`` points: odd, 1 (none) below MIN_EPOCHS."""
    if n < MIN_EPOCHS:
        return 1
    w = max(3, min(SMOOTH_MAX, int(round(n * SMOOTH_SHARE))))
    return w if w % 2 else w + 1


def running_median(y: np.ndarray, w: int) -> np.ndarray:
    """Centred running median; the window shrinks (stays centred) at both ends."""
    if w <= 1 or len(y) < 3:
        return y.astype(float).copy()
    half = w // 2
    out = np.empty(len(y))
    for i in range(len(y)):
        k = min(half, i, len(y) - 1 - i)
        out[i] = np.median(y[i - k:i + k + 1])
    return out


def curve(name: str, x: np.ndarray, y: np.ndarray) -> Curve:
    """The Curve of a logged series: non-finite values cut the curve where they start."""
    finite = np.isfinite(y)
    first_bad = bad = None
    if not finite.all():
        i = int(np.argmin(finite))
        first_bad, bad = x[i].item(), float(y[i])
        x, y = x[:i], y[:i]  # what follows a NaN is not training any more
    return Curve(name, x, y.astype(float), running_median(y.astype(float), window(len(y))),
                 first_bad, bad)


def tail(c: Curve, share: float) -> slice:
    """The last ``share`` of the points (at least 3)."""
    k = max(3, int(math.ceil(c.n * share)))
    return slice(max(0, c.n - k), c.n)


def falling_share(values: np.ndarray) -> float:
    """Share of steps where the values go down."""
    d = np.diff(values)
    return float(np.mean(d < 0)) if len(d) else 0.0


def slope(c: Curve, part: slice) -> float:
    """Least-squares slope of the smoothed curve over ``part`` (units per epoch)."""
    x, y = c.x[part].astype(float), c.smooth[part]
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])
