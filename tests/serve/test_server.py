"""`mlexpert serve` as a real uvicorn process on 127.0.0.1, talked to over HTTP: every route and
error, auth, reload under load, SIGTERM under load, several workers, CLI errors."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pandas as pd
import pytest

from tests.serve.conftest import ROOT, free_port, record_of, run_server

KEY = {"MLEXPERT_API_KEY": "test-key-0123"}
AUTH = {"X-API-Key": "test-key-0123"}

pytestmark = pytest.mark.heavy  # every test here starts real server processes


def test_every_route_over_http(bundles, tables, tmp_path):
    rec = record_of(tables["binary"], 0)
    with run_server(bundles["binary"], "--monitor-min-rows", "20", "--monitor-interval", "0",
                    tmp=tmp_path) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        r = c.post("/predict", json=rec, headers={"X-Request-ID": "e2e-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "e2e-1"
        assert r.json()["predictions"][0] in ("yes", "no")
        assert c.post("/predict", json=[rec] * 3).json()["predictions"].__len__() == 3
        csv = tables["binary"].head(50).to_csv(index=False)
        r = c.post("/predict/batch", content=csv, headers={"content-type": "text/csv"})
        assert r.status_code == 200 and len(pd.read_csv(io.StringIO(r.text))) == 50
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").json()["ready"] is True
        assert c.get("/metadata").json()["task"] == "binary"
        assert c.get("/openapi.json").json()["components"]["schemas"]["Record"]
        assert c.get("/docs").status_code == 200
        # the error contract over the wire
        assert c.post("/predict", content=b"{oops").status_code == 400
        assert c.post("/predict", json={k: v for k, v in rec.items() if k != "x2"}).status_code == 422
        assert c.post("/predict", content=b"[" + b"1," * 600_000 + b"1]").status_code == 413
        assert c.post("/admin/reload").status_code == 403          # no key configured: off
        live = c.get("/monitor").json()                             # 1 + 3 + 50 rows scored
        assert live["window"]["rows"] == 54 and live["result"]["drift_detected"] in (True, False)
        metrics = c.get("/metrics").text
        assert 'route="/predict",status="200"' in metrics and 'route="/predict",status="413"' in metrics
        assert "mlexpert_drift_window_rows" in metrics and "mlexpert_feature_drift_score{" in metrics
    log = srv.log_text()
    assert "Uvicorn running on http://127.0.0.1:" in log           # loopback unless told
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
    mine = [a for a in access if a["request_id"] == "e2e-1"]
    assert mine and mine[0]["status"] == 200 and mine[0]["latency_ms"] > 0
    assert "Traceback" not in log


def test_auth_on_over_http(bundles, tables, tmp_path):
    rec = record_of(tables["regression"], 0)
    with run_server(bundles["regression"], env=KEY, tmp=tmp_path, ready_headers=AUTH) as srv, \
            httpx.Client(base_url=srv.url) as c:
        assert c.get("/health").status_code == 200
        assert c.post("/predict", json=rec).status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.post("/predict", json=rec, headers={"X-API-Key": "test-key-0124"}).status_code == 401
        assert c.post("/predict", json=rec, headers=AUTH).status_code == 200


def _hammer(url: str, rec: dict, seconds: float, out: list, stop_flag: threading.Event) -> None:
    """Sequential keep-alive predictions until ``stop_flag`` or ``seconds``; records results."""
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as c:
        while time.monotonic() < end and not stop_flag.is_set():
            try:
                r = c.post("/predict", json=rec)
                out.append((r.status_code, r.json()["model"]["version"] if r.status_code == 200 else r.text))
            except httpx.TransportError as exc:
                out.append(("transport", repr(exc)))


def test_reload_under_load_fails_no_request(fitted, other_binary, tables, tmp_path):
    bundle = tmp_path / "live"
    fitted["binary"].save(bundle)
    other = other_binary
    rec = record_of(tables["binary"], 0)
    with run_server(bundle, env=KEY, tmp=tmp_path, ready_headers=AUTH) as srv:
        results: list = []
        flag = threading.Event()
        threads = [threading.Thread(target=_hammer, args=(srv.url, rec, 60, results, flag))
                   for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        first = httpx.post(srv.url + "/admin/reload", headers=AUTH, timeout=60).json()
        assert first["changed"] is False
        other.save(bundle, overwrite=True)                 # a new version at the same source
        second = httpx.post(srv.url + "/admin/reload", headers=AUTH, timeout=60).json()
        assert second["changed"] is True and second["current"] != second["previous"]
        time.sleep(0.5)
        flag.set()
        for t in threads:
            t.join(30)
    statuses = [s for s, _ in results]
    assert len(results) > 20 and set(statuses) == {200}, [r for r in results if r[0] != 200][:3]
    versions = [v for _, v in results]
    assert versions[0] == second["previous"] and versions[-1] == second["current"]


def test_sigterm_lets_in_flight_requests_finish(bundles, tables, tmp_path):
    """An upload still streaming when SIGTERM arrives completes with 200 and every row; the
    process then exits 0 and refuses new connections."""
    frame = tables["binary"].drop(columns="y")
    header = frame.head(0).to_csv(index=False).encode()
    body_rows = [frame.iloc[i:i + 1].to_csv(index=False, header=False).encode() for i in range(40)]
    sent = threading.Event()

    def slow_body():
        yield header
        for i, row in enumerate(body_rows):
            yield row
            if i == 5:
                sent.set()
            time.sleep(0.05)

    result: dict = {}
    with run_server(bundles["binary"], tmp=tmp_path) as srv:
        def upload():
            try:
                r = httpx.post(srv.url + "/predict/batch", content=slow_body(),
                               headers={"content-type": "text/csv"}, timeout=60)
                result["status"], result["rows"] = r.status_code, len(r.text.splitlines()) - 1
            except httpx.TransportError as exc:
                result["error"] = repr(exc)

        t = threading.Thread(target=upload)
        t.start()
        assert sent.wait(30)
        os.kill(srv.proc.pid, signal.SIGTERM)
        t.join(60)
        code = srv.proc.wait(30)
        assert result.get("status") == 200 and result["rows"] == 40, result
        assert code in (0, -signal.SIGTERM), srv.log_text()   # uvicorn re-raises SIGTERM when done
        assert "Finished server process" in srv.log_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(srv.url + "/health", timeout=2)


@pytest.mark.slow
def test_two_workers_share_the_load_and_the_metrics(bundles, tables, tmp_path):
    rec = record_of(tables["multiclass"], 0)
    with run_server(bundles["multiclass"], "--workers", "2", tmp=tmp_path) as srv:
        for _ in range(20):
            with httpx.Client(base_url=srv.url) as c:   # new connections spread over workers
                assert c.post("/predict", json=rec).status_code == 200
        text = httpx.get(srv.url + "/metrics").text
        assert 'mlexpert_rows_predicted_total{route="/predict"} 20.0' in text, text[-2000:]
        pids = {line.split("[")[1].split("]")[0] for line in srv.log_text().splitlines()
                if "Started server process" in line}
        assert len(pids) == 2


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mlexpert.cli", "serve", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_cli_errors(bundles, tmp_path):
    r = _cli(str(tmp_path / "nothing"))
    assert r.returncode == 1 and "is not a directory" in r.stderr and "Traceback" not in r.stderr
    r = _cli(str(bundles["binary"]), "--port", "70000")
    assert r.returncode == 2
    r = _cli(str(bundles["binary"]), "--workers", "0")
    assert r.returncode == 2
    port = free_port()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        r = _cli(str(bundles["binary"]), "--port", str(port))
    assert r.returncode == 1 and f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr


def test_schemathesis_finds_no_server_error(bundles, tmp_path):
    """Property-based requests generated from the service's own OpenAPI document: zero 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    with run_server(bundles["multiclass"], tmp=tmp_path) as srv:
        schema = schemathesis.openapi.from_url(srv.url + "/openapi.json")
        seen: dict[str, set[int]] = {}

        def checker(op):
            @settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy())
            def check(case):
                r = case.call(base_url=srv.url, timeout=20)
                seen.setdefault(op.label, set()).add(r.status_code)
                assert r.status_code < 500, (op.label, r.status_code, r.text[:300])

            return check

        for result in schema.get_all_operations():
            checker(result.ok())()
    assert {"POST /predict", "POST /predict/batch", "GET /metadata"} <= set(seen)
    assert 200 in seen["POST /predict"] and 422 in seen["POST /predict"]


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_soak_mixed_requests(bundles, tables, tmp_path):
    """20,000 mixed valid and invalid requests (at most 2 minutes, 4 clients): zero 5xx, none
    dropped, resident memory flat within 10 % after warm-up. Prints the figures."""
    rec = record_of(tables["binary"], 0)
    bodies = [json.dumps(rec).encode(), json.dumps([rec] * 5).encode(),
              json.dumps(dict(rec, color="unseen-colour")).encode(),
              json.dumps({k: v for k, v in rec.items() if k != "x2"}).encode(),   # 422
              json.dumps(dict(rec, x2="text")).encode(),                          # 422
              b'{"x1": ', b"[]", b"12"]                                           # 400, 422, 422
    total, clients, limit_s = 20_000, 4, 120
    counts: dict = {}
    lock = threading.Lock()
    with run_server(bundles["binary"], "--log-level", "warning", tmp=tmp_path) as srv:
        def client(k: int, n: int) -> None:
            mine: dict = {}
            end = time.monotonic() + limit_s
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                for i in range(n):
                    if time.monotonic() > end:
                        break
                    try:
                        status = c.post("/predict", content=bodies[(i + k) % len(bodies)]).status_code
                    except httpx.TransportError:
                        status = "dropped"
                    mine[status] = mine.get(status, 0) + 1
            with lock:
                for s, v in mine.items():
                    counts[s] = counts.get(s, 0) + v

        client(0, 2000)                                  # warm-up
        before = _rss_kib(srv.proc.pid)
        counts.clear()
        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(k, total // clients)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(limit_s + 30)
        wall = time.monotonic() - t0
        after = _rss_kib(srv.proc.pid)
    done = sum(counts.values())
    print(f"\nsoak: {done} requests in {wall:.1f}s ({done / wall:.0f}/s), statuses {counts}, "
          f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({(after / before - 1) * 100:+.1f}%)")
    assert "dropped" not in counts and all(s < 500 for s in counts)
    assert done >= 5000
    assert after <= before * 1.10
