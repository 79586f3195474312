"""Deployment cost (issue #9): single-row latency (median and p99 over 1,000 calls), 10,000-row
batch throughput and size on disk of the native bundle (one row through its members, and
``Model.predict`` as called, which compiles small batches after a few calls), its ONNX graph
(onnxruntime, one intra-op thread), the distilled model (native and ONNX) and AutoGluon's
predictor on the same task, all measured in this run; ratios are against the native bundle
through its members.

    .venv/bin/python bench/export_latency.py [--task telco_churn_ibm] [--time-limit 60]
        [--presets balanced] [--calls 1000] [--autogluon-python /work/.benchvenv/bin/python]

The task comes from the shared dev suite (`../shared/bench/tasks.py`). AutoGluon runs in its
own venv (a subprocess, `medium_quality`, the same time limit), and is skipped when that venv or
AutoGluon is missing. ONNX is timed twice: the graph alone on a ready feed, and from a one-row
DataFrame (``onnx_inputs`` + run), which is what a Python caller pays. Everything predicts in
this one process with ``OMP_WAIT_POLICY=PASSIVE`` (LightGBM and onnxruntime bring two OpenMP
runtimes; see ../shared/STACK.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
if not SHARED_BENCH.is_dir():
    SHARED_BENCH = Path("/work/shared/bench")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

AUTOGLUON = r'''
import json, sys, time, shutil, os
import numpy as np, pandas as pd
from autogluon.tabular import TabularPredictor
train = pd.read_parquet(sys.argv[1]); test = pd.read_parquet(sys.argv[2])
target, time_limit, calls, path = sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
p = TabularPredictor(label=target, path=path, verbosity=0).fit(
    train, time_limit=time_limit, presets="medium_quality")
X = test.drop(columns=[target])
row = X.iloc[:1]
for _ in range(20):
    p.predict(row)
t = []
for _ in range(calls):
    t0 = time.perf_counter(); p.predict(row); t.append(time.perf_counter() - t0)
big = pd.concat([X] * (10000 // len(X) + 1)).iloc[:10000]
p.predict(big)
t0 = time.perf_counter(); p.predict(big); batch = time.perf_counter() - t0
size = sum(f.stat().st_size for f in __import__("pathlib").Path(path).rglob("*") if f.is_file())
print(json.dumps({"p50_ms": float(np.median(t) * 1e3), "p99_ms": float(np.quantile(t, .99) * 1e3),
                  "rows_per_s": 10000 / batch, "bytes": size,
                  "models": list(p.model_names())[:20], "best": p.model_best}))
'''


def load_task(task_id: str):
    sys.path.insert(0, str(SHARED_BENCH))
    import tasks
    from _taskbase import load_task_from_spec

    spec = next(t for t in tasks.TASKS if t["id"] == task_id)
    train, test, target, kind, metric = load_task_from_spec(spec)
    return train, test, target


def timed(fn, calls: int) -> tuple[float, float]:
    for _ in range(20):
        fn()
    t = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t) * 1e3), float(np.quantile(t, 0.99) * 1e3)


def throughput(fn) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    return 10000 / (time.perf_counter() - t0)


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(
        f.stat().st_size for f in path.rglob("*") if f.is_file())


def session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="telco_churn_ibm")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--presets", default="balanced")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--autogluon-python", default="/work/.benchvenv/bin/python")
    args = ap.parse_args()

    import mlexpert
    from mlexpert.errors import ExportError
    from mlexpert.export import onnx_inputs

    train, test, target = load_task(args.task)
    X = test.drop(columns=[target])
    row = X.iloc[:1]
    big = pd.concat([X] * (10000 // len(X) + 1)).iloc[:10000]
    work = Path(tempfile.mkdtemp(prefix="export_bench_"))
    rows: dict[str, dict] = {}
    try:
        t0 = time.monotonic()
        model = mlexpert.fit(train, target=target, time_limit=args.time_limit,
                             presets=args.presets, seed=0)
        print(f"fit {time.monotonic() - t0:.1f} s: {model}", flush=True)
        model.save(work / "native")
        through_members(rows, "native bundle", model, row, big, args.calls, work / "native")

        def onnx_rows(name: str, m, path: Path) -> None:
            try:
                m.to_onnx(path)
            except ExportError as exc:
                rows[name] = {"note": f"not exportable: {exc}"}
                return
            sess = session(path)
            feed, feed_big = onnx_inputs(row, m), onnx_inputs(big, m)
            p50, p99 = timed(lambda: sess.run(None, feed), args.calls)
            f50, f99 = timed(lambda: sess.run(None, onnx_inputs(row, m)), args.calls)
            rows[name] = {"p50_ms": p50, "p99_ms": p99, "frame_p50_ms": f50,
                          "frame_p99_ms": f99,
                          "rows_per_s": throughput(lambda: sess.run(None, feed_big)),
                          "bytes": size_of(path)}

        onnx_rows("native as ONNX", model, work / "native.onnx")
        t0 = time.monotonic()
        distilled = model.distill(train, work / "small", time_limit=args.time_limit)
        student = distilled.model
        print(f"distill {time.monotonic() - t0:.1f} s: {json.dumps(distilled.report, default=str)}",
              flush=True)
        through_members(rows, "distilled bundle", student, row, big, args.calls, work / "small")
        onnx_rows("distilled as ONNX", student, work / "small.onnx")
        scores = {"native": model.evaluate(test, n_resamples=200)["metrics"][model.metric],
                  "distilled": student.evaluate(test, n_resamples=200)["metrics"][model.metric]}
        rows["autogluon medium_quality"] = autogluon(args, train, test, target, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, scores, model.metric)


def through_members(rows: dict[str, dict], name: str, model, row, big, calls: int,
                    path: Path) -> None:
    """Two rows: one row through the members (pandas and the fitted steps, what predict did
    before it compiled small batches) and ``Model.predict`` as a user calls it (the compiled
    path, built on its first calls, which the warm-up covers)."""
    p50, p99 = timed(lambda: model._labels(*model._predict_raw(row, compiled=False)), calls)
    rows[name] = {"p50_ms": p50, "p99_ms": p99,
                  "rows_per_s": throughput(lambda: model.predict(big)), "bytes": size_of(path)}
    model.compile()  # what predict builds in the background after a few small calls
    p50, p99 = timed(lambda: model.predict(row), calls)
    rows[f"{name}: Model.predict"] = {"p50_ms": p50, "p99_ms": p99,
                                      "rows_per_s": rows[name]["rows_per_s"],
                                      "bytes": rows[name]["bytes"]}
    print(f"{name}: {model.compiled_path}", flush=True)


def autogluon(args, train, test, target, work: Path) -> dict:
    py = Path(args.autogluon_python)
    if not py.exists():
        return {"note": f"skipped: {py} not found"}
    train.to_parquet(work / "train.parquet")
    test.to_parquet(work / "test.parquet")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(py), "-c", AUTOGLUON, str(work / "train.parquet"),
                        str(work / "test.parquet"), target, str(args.time_limit),
                        str(args.calls), str(work / "ag")],
                       capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        return {"note": "skipped: " + (r.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def report(rows: dict[str, dict], scores: dict, metric: str) -> None:
    base = rows["native bundle"]
    print(f"\n{'':28s} {'1-row p50 ms':>12s} {'p99 ms':>9s} {'from frame':>11s} "
          f"{'10k rows/s':>11s} {'size MB':>9s}  vs native (1-row, batch, size)")
    for name, r in rows.items():
        if "note" in r:
            print(f"{name:28s} {r['note']}")
            continue
        frame = f"{r['frame_p50_ms']:.3f}" if "frame_p50_ms" in r else "-"
        print(f"{name:28s} {r['p50_ms']:12.3f} {r['p99_ms']:9.3f} {frame:>11s} "
              f"{r['rows_per_s']:11.0f} {r['bytes'] / 1e6:9.2f}  "
              f"{base['p50_ms'] / r['p50_ms']:.1f}x faster, "
              f"{r['rows_per_s'] / base['rows_per_s']:.1f}x rows/s, "
              f"{r['bytes'] / base['bytes']:.2f}x size")
    print(f"\ntest {metric}: " + ", ".join(
        f"{k} {v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]" for k, v in scores.items()))
    print(json.dumps({"rows": rows, "scores": scores}, default=str))


if __name__ == "__main__":
    main()
