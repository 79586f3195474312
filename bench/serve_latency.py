"""Serving latency and throughput of `mlexpert serve` against two anchors, all measured in this
run on loopback HTTP: the issue's anchor, the same bundle logged as an MLflow pyfunc and served by
`mlflow models serve` (POST /invocations), and a plain-LightGBM FastAPI service.

The baseline is what one would write by hand: a FastAPI endpoint with a pydantic record, one
`pd.DataFrame([record])` per request and LightGBM's sklearn `predict_proba`, on a LightGBM model
trained on the same rows. mlexpert serves a fast-preset model of the same table (LightGBM
shipped). Both run as one uvicorn process; clients run in this process (threads, keep-alive).

Prints, for each service: single-row p50/p99 latency (ms) and throughput (requests/s) at
concurrency 1 and 8, and rows/s for 10,000-row CSV batches; then the ratios. Also the in-process
single-row time of `Model.predict_table` against the service's fast path (µs).

    .venv/bin/python bench/serve_latency.py [--requests 600] [--server-cpus 0,1]

``--server-cpus`` pins both servers to those cores (Linux), e.g. to reproduce the 2-core aims on a
bigger machine. Bounded: --requests per setting (default 600), 3 batches.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

BASELINE = r'''
import sys, io
import joblib, pandas as pd
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
import uvicorn

model, columns, categories = joblib.load(sys.argv[1])

class Record(BaseModel):
    a: float
    b: float
    c: float
    shade: str | None = None

app = FastAPI()

def frame(df):
    df = df[columns].copy()
    df["shade"] = pd.Categorical(df["shade"], categories=categories)
    return df

@app.post("/predict")
def predict(rec: Record):
    p = model.predict_proba(frame(pd.DataFrame([rec.model_dump()])))[0]
    return {"prediction": int(p.argmax()), "probabilities": p.tolist()}

@app.post("/predict/batch")
async def batch(request: Request):
    df = pd.read_csv(io.BytesIO(await request.body()))
    p = model.predict_proba(frame(df))
    out = pd.DataFrame({"y": p.argmax(axis=1), "proba_0": p[:, 0], "proba_1": p[:, 1]})
    return Response(out.to_csv(index=False), media_type="text/csv")

@app.get("/health")
def health():
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.normal(size=n)
    shade = rng.choice(["p", "q", "r", "s"], n).astype(object)
    shade[rng.random(n) < 0.05] = None
    s = np.sign(a * b) + (shade == "p") * 0.5 + 0.3 * c
    return pd.DataFrame({"a": a, "b": b, "c": c, "shade": shade,
                         "y": (s + rng.normal(0, .3, n) > 0).astype(int)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, cpus: set[int] | None, health: str = "/health",
          env: dict[str, str] | None = None) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    pre = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=pre)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server {cmd[:4]} did not start")


def single_rows(url: str, records: list[dict], n: int, concurrency: int,
                path: str = "/predict", mlflow: bool = False) -> dict[str, float]:
    import httpx

    if mlflow:  # MLflow's scoring protocol: one record as dataframe_records
        records = [{"dataframe_records": [r]} for r in records]

    latencies: list[float] = []
    lock = threading.Lock()
    per = n // concurrency

    def worker(k: int) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(per):
                rec = records[(k * per + i) % len(records)]
                t = time.perf_counter()
                r = c.post(path, json=rec)
                mine.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        with lock:
            latencies.extend(mine)

    for rec in records[:20]:  # warm-up
        httpx.post(url + path, json=rec, timeout=30)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "rps": len(ms) / wall}


def batch_rows_per_second(url: str, csv: bytes, rows: int, repeats: int = 3,
                          path: str = "/predict/batch") -> float:
    import httpx

    best = []
    with httpx.Client(base_url=url, timeout=120) as c:
        for _ in range(repeats):
            t = time.perf_counter()
            r = c.post(path, content=csv, headers={"content-type": "text/csv"})
            best.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:200]
            if path == "/invocations":
                assert len(r.json()["predictions"]) == rows
            else:
                assert len(r.text.splitlines()) == rows + 1, r.text[:200]
    return rows / statistics.median(best)


def in_process(model, records: list[dict]) -> tuple[float, float]:
    from mlexpert.serve._predictor import Predictor, model_identity

    p = Predictor(model, model_identity(model, "bench"))
    frames = [pd.DataFrame([r]) for r in records[:200]]
    rows = [p.rows([p.one.validate_python(r)]) for r in records[:200]]

    def median_us(f, items) -> float:
        for x in items[:10]:
            f(x)
        ts = []
        for x in items:
            t = time.perf_counter()
            f(x)
            ts.append(time.perf_counter() - t)
        return float(np.median(ts) * 1e6)

    return median_us(model.predict_table, frames), median_us(p.predict_rows, rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=600, help="requests per setting")
    ap.add_argument("--server-cpus", default="", help="pin the servers to these cores, e.g. 0,1")
    args = ap.parse_args()
    cpus = {int(c) for c in args.server_cpus.split(",") if c} or None

    import joblib
    import lightgbm as lgb

    import mlexpert

    train = table(4000)
    test = table(10_000, seed=1).drop(columns="y")
    records = [{k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                for k, v in r.items()} for r in test.head(1000).to_dict("records")]
    csv = test.to_csv(index=False).encode()
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))

    model = mlexpert.fit(train, target="y", time_limit=60, seed=0, presets="fast", budget=2)
    bundle = model.save(tmp / "bundle")
    print(f"mlexpert model: {model}")

    cats = ["p", "q", "r", "s"]
    X = train.drop(columns="y").copy()
    X["shade"] = pd.Categorical(X["shade"], categories=cats)
    plain = lgb.LGBMClassifier(n_estimators=200, verbose=-1).fit(X, train["y"])
    joblib.dump((plain, list(X.columns), cats), tmp / "plain.joblib")

    predict_us, fast_us = in_process(model, records)
    print(f"in-process single row: Model.predict_table {predict_us:.0f} µs, service fast path "
          f"{fast_us:.0f} µs ({predict_us / fast_us:.0f}x)")
    Xt = test.copy()
    Xt["shade"] = pd.Categorical(Xt["shade"], categories=cats)
    t = time.perf_counter()
    model.predict_table(test)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    plain.predict_proba(Xt)
    theirs = time.perf_counter() - t
    print(f"in-process 10,000 rows (no HTTP): Model.predict_table {len(test) / ours:,.0f} rows/s, "
          f"plain LightGBM predict_proba {len(test) / theirs:,.0f} rows/s")

    from mlexpert.tracking import Tracker

    store = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLEXPERT_HOME"] = str(tmp / "home")
    logged = Tracker(store, experiment="serve-bench").log_fit(model, bundle=bundle)
    mlflow_env = {"MLFLOW_TRACKING_URI": store,
                  "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    results = {}
    for name in ("mlflow", "baseline", "mlexpert"):
        port = free_port()
        health, env, mlflow = "/health", None, name == "mlflow"
        if name == "baseline":
            cmd = [sys.executable, "-c", BASELINE, str(tmp / "plain.joblib"), str(port)]
        elif mlflow:
            cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", logged.model_uri,
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
            health, env = "/ping", mlflow_env
        else:
            cmd = [sys.executable, "-m", "mlexpert.cli", "serve", str(bundle), "--port", str(port),
                   "--log-level", "warning"]
        proc = start(cmd, port, cpus, health, env)
        path = "/invocations" if mlflow else "/predict"
        try:
            url = f"http://127.0.0.1:{port}"
            results[name] = {f"c{c}": single_rows(url, records, args.requests, c, path, mlflow)
                             for c in (1, 8)}
            results[name]["batch"] = batch_rows_per_second(
                url, csv, len(test), path="/invocations" if mlflow else "/predict/batch")
        finally:
            proc.terminate()
            proc.wait(30)

    print(f"\nserver cores: {sorted(cpus) if cpus else 'all'}; {args.requests} single-row requests "
          "per setting; 10,000-row CSV batches (median of 3)")
    print(f"{'service':<10} {'c=1 p50':>9} {'c=1 p99':>9} {'c=1 rps':>9} {'c=8 p50':>9} "
          f"{'c=8 p99':>9} {'c=8 rps':>9} {'batch rows/s':>13}")
    for name, r in results.items():
        print(f"{name:<10} {r['c1']['p50']:9.2f} {r['c1']['p99']:9.2f} {r['c1']['rps']:9.0f} "
              f"{r['c8']['p50']:9.2f} {r['c8']['p99']:9.2f} {r['c8']['rps']:9.0f} "
              f"{r['batch']:13,.0f}")
    m = results["mlexpert"]
    for anchor in ("mlflow", "baseline"):
        b = results[anchor]
        print(f"mlexpert / {anchor}: c=1 p50 {m['c1']['p50'] / b['c1']['p50']:.2f}x, "
              f"c=8 rps {m['c8']['rps'] / b['c8']['rps']:.2f}x, "
              f"c=1 rps {m['c1']['rps'] / b['c1']['rps']:.2f}x, "
              f"batch rows/s {m['batch'] / b['batch']:.2f}x")


if __name__ == "__main__":
    main()
