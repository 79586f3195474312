"""`mlexpert load` + the first one-row predict, each bundle in a fresh process (issue #22's aim:
at most 1 s): seconds to import mlexpert, to load the bundle, for its first one-row predict
and the median of the next 50, and the path that answered them. The rows are the caller's,
a DataFrame read (pandas imported) before the clock starts, as in a process that has data. Bundles are read from DIR as
``bench/_bundles.py`` saves them (``<task>_<budget>``) or given as directories.

    .venv/bin/python bench/load_first.py BUNDLE_DIR [BUNDLE_DIR ...]
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, sys, time, warnings
import pandas as pd  # the caller's own rows, read before the clock starts
warnings.simplefilter("ignore")
path = sys.argv[1]
rows = pd.read_parquet(path + "/reference.parquet").iloc[:51]
t0 = time.perf_counter()
import mlexpert
t1 = time.perf_counter()
model = mlexpert.load(path)
t2 = time.perf_counter()
model.predict(rows.iloc[[0]])
t3 = time.perf_counter()
times = []
for i in range(50):
    r = rows.iloc[[1 + i]]
    s = time.perf_counter(); model.predict(r); times.append(time.perf_counter() - s)
times.sort()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_predict_s": t3 - t2,
                  "next_median_ms": 1000 * times[len(times) // 2],
                  "path": model.compiled_path}))
"""


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]]
    if not dirs:
        sys.exit(__doc__)
    print("| bundle | import s | load s | first predict s | load + first s | next ms | path |")
    print("|---|---|---|---|---|---|---|")
    for d in dirs:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(d)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {d.name} | {r['import_s']:.2f} | {r['load_s']:.2f} | {r['first_predict_s']:.3f}"
              f" | {r['load_s'] + r['first_predict_s']:.2f} | {r['next_median_ms']:.2f} |"
              f" {r['path'][:60]} |")


if __name__ == "__main__":
    main()
