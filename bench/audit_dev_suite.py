"""Audit every task of the dev suite (train vs test) and print what it finds: false alarms.

The tasks are random splits of real data, so an `error` finding is a false alarm and warnings
should be few. Run with the project's venv:

    .venv/bin/python bench/audit_dev_suite.py [--bench ../shared/bench] [TASK ...]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--bench", default=str(HERE.parents[1] / "shared" / "bench"),
                        help="folder holding tasks.py")
    parser.add_argument("--details", action="store_true", help="print every warning and error")
    args = parser.parse_args()
    sys.path.insert(0, args.bench)
    from tasks import TASKS, load_task  # noqa: PLC0415 (the shared suite's own module)

    import mlexpert

    ids = args.tasks or [t["id"] for t in TASKS]
    print("| task | rows | cols | s | error | warning | info | errors and warnings (check: columns) "
          "| info checks |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    for tid in ids:
        train, test, target, _, _ = load_task(tid)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = mlexpert.audit(train, target=target, test=test)
        seconds = time.perf_counter() - started
        c = report.counts
        totals.update(c)
        loud = "; ".join(f"{f.severity[0].upper()} {f.check}: {', '.join(f.columns[:3])}"
                         for f in report.findings if f.severity != "info") or "-"
        quiet = ", ".join(sorted({f.check for f in report.of("info")})) or "-"
        print(f"| {tid} | {len(train)} | {train.shape[1] - 1} | {seconds:.1f} | {c['error']} | "
              f"{c['warning']} | {c['info']} | {loud} | {quiet} |")
        if args.details:
            for f in report.findings:
                if f.severity != "info":
                    print(f"|   | {f.severity} {f.check}: {f.message} |", file=sys.stderr)
        if report.skipped:
            print(f"|   | skipped: {report.skipped} |", file=sys.stderr)
    print(f"\ntotal: {totals['error']} error, {totals['warning']} warning, {totals['info']} info "
          f"over {len(ids)} tasks")


if __name__ == "__main__":
    main()
