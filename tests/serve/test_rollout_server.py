"""`mlexpert serve --challenger` as a real uvicorn process on 127.0.0.1 with two real bundles:
shadow responses byte-equal to the champion alone, canary shares within a binomial interval over
2,000 requests, sticky keys, feedback and /compare over HTTP, and the CLI's refusals."""
from __future__ import annotations

import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlexpert.serve._rollout import draw
from tests.serve.conftest import ROOT, record_of, run_server

pytestmark = pytest.mark.heavy  # real server processes

REQUESTS = 2000


@pytest.fixture(scope="module")
def pair(bundles, other_binary, tmp_path_factory):
    """The champion's and the challenger's bundle directories (binary, same columns)."""
    return bundles["binary"], other_binary.save(tmp_path_factory.mktemp("chall") / "chall")


def _rows_scored(c: httpx.Client, role: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(f'mlexpert_model_rows_total{{role="{role}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_shadow_over_http_is_byte_equal_to_the_champion_alone(pair, tables, tmp_path):
    from fastapi.testclient import TestClient

    import mlexpert
    from mlexpert.serve import create_app

    champ, chall = pair
    recs = [record_of(tables["binary"], i) for i in range(20)]
    # the champion alone: its own app over the same bundle, named by the same source
    alone = TestClient(create_app(mlexpert.load(champ), source=str(champ)))
    with alone as a, \
            run_server(champ, "--challenger", str(chall), "--mode", "shadow", tmp=tmp_path) as sh, \
            httpx.Client(base_url=sh.url, timeout=30) as b:
        for i, rec in enumerate([*recs, recs]):
            h = {"X-Request-ID": f"s-{i}"}
            ra, rb = a.post("/predict", json=rec, headers=h), b.post("/predict", json=rec, headers=h)
            assert ra.status_code == rb.status_code == 200
            assert ra.content == rb.content
        deadline = time.monotonic() + 10  # the challenger scores after each response is sent
        while _rows_scored(b, "challenger") < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _rows_scored(b, "challenger") == 40
        # the shadow's answers, never returned, are on the predictions log (stderr, JSON lines)
        assert '"role": "challenger"' in sh.log_text() and '"answered": [false' in sh.log_text()


def test_canary_over_http_shares_sticks_and_compares(pair, tables, tmp_path):
    champ, chall = pair
    share = 0.2
    table = tables["binary"]
    with run_server(champ, "--challenger", str(chall), "--mode", "canary", "--share", str(share),
                    "--key", "cust", tmp=tmp_path) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as c:
        records = [record_of(table, i) for i in range(len(table))]

        def one(i: int) -> str:  # no key in the record: routed by request id
            rid = f"c-{i}"
            r = c.post("/predict", json=records[i % len(records)],
                       headers={"X-Request-ID": rid})
            role = r.json()["answered_by"][0]
            assert role == ("challenger" if draw(rid) < share else "champion")
            assert r.headers["x-model-role"] == role
            return role

        with ThreadPoolExecutor(4) as pool:  # bounded: 2,000 requests, 4 at a time
            roles = list(pool.map(one, range(REQUESTS)))
        to_challenger = roles.count("challenger")
        sd = math.sqrt(REQUESTS * share * (1 - share))
        assert abs(to_challenger - REQUESTS * share) < 3.29 * sd  # 99.9 % binomial interval

        sticky: dict[str, set[str]] = {}
        for i in range(120):  # 30 customers, 4 requests each, new request ids
            key = f"cust-{i % 30}"
            r = c.post("/predict", json={**records[i], "cust": key})
            sticky.setdefault(key, set()).update(r.json()["answered_by"])
        assert all(len(v) == 1 for v in sticky.values())

        labels = [{"request_id": f"c-{i}", "label": table["y"][i]} for i in range(200)]
        assert c.post("/feedback", json=labels).json()["matched"] == 200
        got = c.get("/compare").json()
        assert got["labelled_rows"] == 200
        assert got["recommendation"] in ("promote", "keep", "not_enough_data")
        assert got["champion"]["version"] != got["challenger"]["version"]
        monitor = c.get("/monitor", params={"model": "challenger"}).json()
        assert monitor["role"] == "challenger" and monitor["feedback"]["labelled_rows"] == 200


def test_cli_refuses_contradictory_rollouts(pair, tmp_path):
    from tests.conftest import cli_in_process

    champ, chall = pair
    for args, words in (((str(champ), "--champion", str(champ)), "name the model to serve once"),
                        ((), "name the model to serve once"),
                        ((str(champ), "--mode", "canary"), "need --challenger"),
                        ((str(champ), "--challenger", str(chall), "--workers", "2"),
                         "one worker"),
                        ((str(champ), "--challenger", str(chall), "--share", "2"),
                         "share must be")):
        r = cli_in_process("serve", *args)
        assert r.returncode == 1 and words in r.stderr, (args, r.stderr)
    # a real process too: one line, no traceback
    r = subprocess.run([sys.executable, "-m", "mlexpert.cli", "serve", str(champ), "--mode",
                        "canary"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "need --challenger" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
