"""LightGBM fit time with 1 vs 2 threads on a small table, 3 fits each, in fresh processes.

Run it on an idle machine and again while another process keeps a core busy (e.g. a second
benchmark): the 2-thread fit is ~1.5x faster when idle, and erratic (up to tens of times slower)
when the cores are shared, which is why mlexpert fits small data on one thread.

    .venv/bin/python bench/threads.py [rows]
"""
import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np
import sklearn.feature_extraction.text  # noqa: F401 - load scikit-learn's OpenMP first, as fit does
import lightgbm as lgb
rows, threads = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 50))
y = (X[:, 0] + rng.normal(size=rows) > 0).astype(int)
times = []
for _ in range(3):
    t = time.perf_counter()
    lgb.LGBMClassifier(n_estimators=200, n_jobs=threads, verbose=-1).fit(X, y)
    times.append(time.perf_counter() - t)
print(" ".join(f"{s:.2f}" for s in times))
"""


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1600
    for threads in (1, 2):
        out = subprocess.run([sys.executable, "-c", CHILD, str(rows), str(threads)],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"rows={rows} threads={threads} fit seconds: {out}")


if __name__ == "__main__":
    main()
