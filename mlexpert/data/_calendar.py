"""Calendar parts of datetime64 values in plain numpy: what the tree and linear preprocessing
(``features.DatetimeFeatures``) and the compiled path (``compiled``) both compute, so every
path reads a date the same way without pandas or scikit-learn."""
from __future__ import annotations

import numpy as np

CYCLES = {"month": 12, "day_of_week": 7, "hour": 24}  # a cyclical part's period


def calendar_parts(t: np.ndarray, parts: list[str]) -> list[np.ndarray]:
    """One float array per part of ``parts`` (year, month, day, day_of_week, day_of_year,
    epoch_days (days since 1970), hour, and ``<part>_sin`` / ``<part>_cos`` of the cyclical
    ones) for datetime64[ns] values ``t``; NaT gives NaN."""
    missing = np.isnat(t)
    days = t.astype("datetime64[D]")
    calendar = {
        "year": t.astype("datetime64[Y]").astype(float) + 1970,
        "month": t.astype("datetime64[M]").astype(float) % 12 + 1,
        "day": (days - t.astype("datetime64[M]")).astype(float) + 1,
        "day_of_week": (days.astype(float) + 3) % 7,  # 1970-01-01 was a Thursday
        "day_of_year": (days - t.astype("datetime64[Y]")).astype(float) + 1,
        "epoch_days": (t - np.datetime64("1970-01-01", "ns")).astype(float) / 86400e9,
        "hour": (t - days).astype("timedelta64[h]").astype(float),
    }
    out = []
    for part in parts:
        if part.endswith(("_sin", "_cos")):
            base = part[:-4]
            angle = 2 * np.pi * calendar[base] / CYCLES[base]
            v = np.sin(angle) if part.endswith("_sin") else np.cos(angle)
        else:
            v = calendar[part].copy()
        v[missing] = np.nan
        out.append(v)
    return out
