"""The app in-process (FastAPI TestClient): the whole bad-input contract, auth, metrics, metadata,
OpenAPI, batch uploads and observers. The real-server checks are in test_server.py."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlexpert.errors import ConfigError
from mlexpert.serve import ServeSettings, create_app
from tests.conftest import TASKS
from tests.serve.conftest import record_of

KEY_ENV = "MLEXPERT_TEST_SERVE_KEY"


def client(model, **kw) -> TestClient:
    observers = kw.pop("observers", ())
    loader = kw.pop("loader", None)
    return TestClient(create_app(model, settings=ServeSettings(**kw), source="m", loader=loader,
                                 observers=observers), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def binary(fitted):
    with client(fitted["binary"]) as c:
        yield c


@pytest.fixture
def rec(tables):
    return record_of(tables["binary"], 0)


@pytest.mark.parametrize("task", TASKS)
def test_predict_one_and_many_match_the_model(fitted, tables, task):
    model = fitted[task]
    frame = tables[task].drop(columns="y").head(5)
    records = [record_of(tables[task], i) for i in range(5)]
    with client(model) as c:
        one = c.post("/predict", json=records[0])
        many = c.post("/predict", json=records)
    assert one.status_code == 200 and many.status_code == 200, many.text
    body = many.json()
    assert body["request_id"] == many.headers["x-request-id"]
    assert body["model"]["version"].startswith("sha256:")
    want = model.predict_table(frame)
    if task == "regression":
        np.testing.assert_allclose(body["predictions"], want["y"], rtol=1e-6)
        assert "probabilities" not in body
    else:
        assert body["predictions"] == want["y"].tolist()
        proba = pd.DataFrame(body["probabilities"])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(proba.to_numpy(), want.drop(columns="y").to_numpy(), atol=1e-6)
    assert one.json()["predictions"] == body["predictions"][:1]


@pytest.mark.parametrize("change, status, words", [
    (lambda r: r.pop("x1"), 422, ["'x1'", "missing", "a number"]),
    (lambda r: r.update(x2="abc"), 422, ["'x2'", "must be a number", "'abc'"]),
    (lambda r: r.update(x2=None), 422, ["'x2'", "may not be null"]),
    (lambda r: r.update(color={"a": 1}), 422, ["'color'", "a category"]),
    (lambda r: r.update(when="yesterday"), 422, ["'when'", "not a date"]),
    (lambda r: r.update(when=20210101), 422, ["'when'", "a date string"]),
    (lambda r: r.update(when="0001-01-01"), 422, ["'when'", "outside the dates"]),
    (lambda r: r.update(review=["x"]), 422, ["'review'", "a string"]),
    (lambda r: r.update(x1=None, size=None), 200, []),            # missing in training: accepted
    (lambda r: r.update(color="magenta"), 200, []),                 # unseen: accepted and counted
    (lambda r: r.update(x1="1.5"), 200, []),                        # number as text: coerced
    (lambda r: r.update(when="2021-03-04T10:00:00+02:00"), 200, []),
    (lambda r: r.update(extra_field=1, y="yes"), 200, []),          # extra fields: ignored
], ids=["missing", "wrong-type", "null-not-allowed", "object-as-category", "bad-date",
        "number-as-date", "date-out-of-range", "list-as-text", "null-allowed", "unseen-category", "numeric-text",
        "iso-date-with-zone", "extra-fields"])
def test_bad_and_odd_records(binary, rec, change, status, words):
    change(rec)
    r = binary.post("/predict", json=rec)
    assert r.status_code == status, r.text
    body = r.json()
    if status != 200:
        assert body["request_id"] == r.headers["x-request-id"]
        for w in words:
            assert w in body["error"], body
        assert body["detail"][0]["field"] in body["error"]


def test_errors_in_a_list_name_the_row(binary, rec):
    bad = dict(rec, x2="oops")
    r = binary.post("/predict", json=[rec, rec, bad])
    assert r.status_code == 422
    assert r.json()["detail"] == [{"row": 2, "field": "x2", "problem": "wrong_type",
                                   "message": "row 2: field 'x2' must be a number, but got 'oops'."}]


@pytest.mark.parametrize("body, status, words", [
    (b'{"x1": 1,', 400, ["not valid JSON"]),
    (b"", 400, ["empty"]),
    (b"   ", 400, ["empty"]),
    (b"\xff\xfe", 400, ["not valid JSON"]),
    (b"42", 422, ["JSON object"]),
    (b'"text"', 422, ["JSON object"]),
    (b"null", 422, ["JSON object"]),
    (b"[]", 422, ["no records"]),
    (b"[1, 2]", 422, ["row 0", "JSON object"]),
])
def test_malformed_bodies(binary, body, status, words):
    r = binary.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["error"]


def test_nan_and_infinity_literals(binary, rec):
    ok = json.dumps(dict(rec, x1=float("nan"))).encode()   # x1 had missing values
    assert binary.post("/predict", content=ok).status_code == 200
    bad = json.dumps(dict(rec, x2=float("inf"))).encode()  # x2 had none
    r = binary.post("/predict", content=bad)
    assert r.status_code == 422 and "'x2'" in r.json()["error"]


def test_limits_are_413(fitted, rec):
    with client(fitted["binary"], max_records=3, max_body_bytes=4000) as c:
        r = c.post("/predict", json=[rec] * 4)
        assert r.status_code == 413 and "3 records" in r.json()["error"]
        r = c.post("/predict", json=[dict(rec, review="word " * 1000)])
        assert r.status_code == 413 and "4,000 bytes" in r.json()["error"]
        assert c.post("/predict", json=[rec] * 3).status_code == 200


def test_strict_refuses_extra_fields(fitted, rec):
    with client(fitted["binary"], strict=True) as c:
        r = c.post("/predict", json=dict(rec, colour="red"))
        assert r.status_code == 422
        assert "'colour'" in r.json()["error"] and "--strict" in r.json()["error"]
        assert c.post("/predict", json=rec).status_code == 200


def _json_values():
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_json_never_500(binary, rec, data):
    """Any JSON (or a record with hostile values) gets 200/400/413/422 with a JSON error body."""
    if data.draw(st.booleans()):
        body = data.draw(_json_values())
    else:
        body = dict(rec)
        for key in data.draw(st.lists(st.sampled_from(list(rec)), max_size=3, unique=True)):
            body[key] = data.draw(_json_values())
    r = binary.post("/predict", content=json.dumps(body).encode())
    assert r.status_code in (200, 400, 413, 422), r.text
    if r.status_code != 200:
        assert set(r.json()) >= {"error", "request_id"} and "Traceback" not in r.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=64))
def test_garbage_bytes_never_500(binary, raw):
    r = binary.post("/predict", content=raw)
    assert r.status_code in (200, 400, 422), r.text


def test_unknown_routes_and_methods(binary):
    r = binary.get("/nope")
    assert r.status_code == 404 and "/docs" in r.json()["error"]
    r = binary.get("/predict")
    assert r.status_code == 405 and r.json()["request_id"]
    r = binary.post("/predict/batch?format=xml", content=b"a")
    assert r.status_code == 422 and "format" in r.json()["error"]


def test_request_ids(binary, rec):
    r = binary.post("/predict", json=rec, headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and r.json()["request_id"] == "abc-123"
    r = binary.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces" and len(r.headers["x-request-id"]) == 32


def test_api_key(fitted, rec, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "s3cret-key")
    with client(fitted["binary"], api_key_env=KEY_ENV) as c:
        assert c.get("/health").status_code == 200                     # liveness stays open
        for path in ("/ready", "/metadata", "/metrics", "/openapi.json"):
            assert c.get(path).status_code == 401, path
        r = c.post("/predict", json=rec)
        assert r.status_code == 401 and "X-API-Key" in r.json()["error"]
        assert r.headers["www-authenticate"] == "ApiKey" and r.json()["request_id"]
        assert c.post("/predict", json=rec, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/predict", json=rec, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        auth = {"Authorization": "Bearer s3cret-key"}
        assert c.post("/predict", json=rec, headers=auth).status_code == 200
        assert c.get("/metadata", headers=auth).json()["auth"] is True


def test_reload_needs_a_key_and_a_source(fitted, monkeypatch):
    with client(fitted["binary"], api_key_env=KEY_ENV) as c:
        r = c.post("/admin/reload")
        assert r.status_code == 403 and KEY_ENV in r.json()["error"]
    monkeypatch.setenv(KEY_ENV, "k")
    with client(fitted["binary"], api_key_env=KEY_ENV) as c:
        r = c.post("/admin/reload", headers={"X-API-Key": "k"})
        assert r.status_code == 409 and "SOURCE" in r.json()["error"]


def test_reload_swaps_and_a_failed_load_keeps_the_old_model(fitted, monkeypatch, rec):
    from mlexpert.errors import BundleError

    monkeypatch.setenv(KEY_ENV, "k")
    models = [fitted["multiclass"]]

    def loader():
        if not models:
            raise BundleError("the bundle is gone; restore it.")
        return models.pop()

    h = {"X-API-Key": "k"}
    with client(fitted["binary"], api_key_env=KEY_ENV, loader=loader) as c:
        before = c.get("/metadata", headers=h).json()
        r = c.post("/admin/reload", headers=h)
        assert r.status_code == 200 and r.json()["changed"] is True
        after = c.get("/metadata", headers=h).json()
        assert (before["task"], after["task"]) == ("binary", "multiclass")
        assert c.post("/predict", json=rec, headers=h).json()["predictions"][0] in ("low", "mid", "high")
        doc = c.get("/openapi.json", headers=h).json()   # the documented schema follows the model
        assert doc["info"]["title"] == "mlexpert: m"
        r = c.post("/admin/reload", headers=h)
        assert r.status_code == 409 and "still serving" in r.json()["error"]
        assert c.get("/metadata", headers=h).json()["version"] == after["version"]
        assert 'mlexpert_reloads_total{result="failed"} 1.0' in c.get("/metrics", headers=h).text


def test_a_server_error_is_500_with_only_the_request_id(fitted, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, "k")

    def loader():
        raise RuntimeError("secret internal detail")

    with client(fitted["binary"], api_key_env=KEY_ENV, loader=loader) as c:
        with caplog.at_level(logging.ERROR, logger="mlexpert.serve"):
            r = c.post("/admin/reload", headers={"X-API-Key": "k", "X-Request-ID": "req-500"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal server error; the server log has the details under "
                                 "this request id.", "request_id": "req-500"}
    assert "secret" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if "req-500" in rec.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_metrics_count_what_happened(fitted, rec):
    with client(fitted["binary"]) as c:
        c.post("/predict", json=[rec, dict(rec, color="magenta")])
        c.post("/predict", json=dict(rec, x2="bad"))
        c.post("/predict", content=b"{")
        text = c.get("/metrics").text
    assert 'mlexpert_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert 'mlexpert_requests_total{method="POST",route="/predict",status="422"} 1.0' in text
    assert 'mlexpert_request_duration_seconds_count{route="/predict"} 3.0' in text
    assert 'mlexpert_rows_predicted_total{route="/predict"} 2.0' in text
    assert 'mlexpert_validation_failures_total{reason="wrong_type",route="/predict"} 1.0' in text
    assert 'mlexpert_validation_failures_total{reason="malformed_json",route="/predict"} 1.0' in text
    assert 'mlexpert_unseen_categories_total{column="color"} 1.0' in text
    assert "mlexpert_predicted_class_total{label=" in text
    assert 'mlexpert_model_info{name="m",version="sha256:' in text


def test_metadata_and_openapi(binary, fitted):
    meta = binary.get("/metadata").json()
    model = fitted["binary"]
    assert meta["task"] == "binary" and meta["classes"] == ["no", "yes"]
    assert meta["metrics"]["roc_auc"].keys() >= {"value", "low", "high"}
    assert meta["trained_at"] and meta["fast_path"].startswith("on")
    cols = {c["name"]: c for c in meta["input_schema"]}
    assert list(cols) == [c.name for c in model.schema.features]
    assert cols["x1"]["nullable"] and not cols["x2"]["nullable"]
    assert set(cols["color"]["categories"]) == {"red", "green", "blue", "yellow"}
    doc = binary.get("/openapi.json").json()
    record = doc["components"]["schemas"]["Record"]
    one = record["oneOf"][0]
    assert set(one["required"]) == set(cols)
    color = one["properties"]["color"]
    assert set(color["anyOf"][0]["enum"]) == {"red", "green", "blue", "yellow"}
    assert {"type": "null"} in one["properties"]["x1"]["anyOf"]
    assert record["examples"][0].keys() == cols.keys()
    assert doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    # the documented example is itself a valid request
    assert binary.post("/predict", json=record["examples"][0]).status_code == 200


def test_metadata_with_undefined_intervals_is_strict_json(fitted):
    import copy

    model = copy.deepcopy(fitted["binary"])
    model._manifest["metrics"]["cv"]["roc_auc"].update(low=float("nan"), high=float("inf"))
    with client(model) as c:
        r = c.get("/metadata")
    assert r.status_code == 200 and "NaN" not in r.text and "Infinity" not in r.text
    assert r.json()["metrics"]["roc_auc"]["low"] is None


def test_cors_is_off_unless_asked(fitted, rec):
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    with client(fitted["binary"]) as c:
        r = c.options("/predict", headers=origin)
        assert "access-control-allow-origin" not in r.headers
    with client(fitted["binary"], cors_origins=("https://app.example",)) as c:
        r = c.post("/predict", json=rec, headers={"Origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_no_route_takes_a_path(binary):
    for route in binary.app.routes:
        params = [p.name for p in getattr(route, "dependant", None).query_params] \
            if getattr(route, "dependant", None) else []
        assert not any("path" in p or "file" in p for p in params), (route.path, params)


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="max_records must be a positive integer"):
        ServeSettings(max_records=0)
    with pytest.raises(ConfigError, match="watch_interval"):
        ServeSettings(watch_interval=-1)


# -- observers ------------------------------------------------------------------------------
class Collect:
    def __init__(self):
        self.batches, self.closed = [], False

    def observe(self, batch):
        self.batches.append(batch)

    def close(self):
        self.closed = True


class Broken:
    def observe(self, batch):
        raise ValueError("observer bug")


def test_observers_see_rows_and_predictions_and_cannot_break_requests(fitted, rec):
    seen = Collect()
    with client(fitted["binary"], observers=[Broken(), seen]) as c:
        r = c.post("/predict", json=[rec, dict(rec, color="magenta")])
        assert r.status_code == 200
        csv = pd.DataFrame([rec] * 3).to_csv(index=False)
        assert c.post("/predict/batch", content=csv, headers={"content-type": "text/csv"}).status_code == 200
        assert "mlexpert_observer_errors_total 2.0" in c.get("/metrics").text
    assert seen.closed
    first, second = seen.batches
    assert first.route == "/predict" and len(first) == 2 and first.outputs.shape == (2, 2)
    assert first.unseen_categories == {"color": 1}
    assert first.request_id == r.json()["request_id"] and first.model_version == r.json()["model"]["version"]
    assert list(first.features.columns) == [c.name for c in fitted["binary"].schema.features]
    assert first.features["color"].tolist() == ["red" if rec["color"] == "red" else rec["color"], "magenta"]
    assert second.route == "/predict/batch" and len(second) == 3
    assert second.unseen_categories == ({"color": 3} if rec["color"] == "magenta" else {})


def test_batch_counts_unseen_categories(fitted, tables):
    frame = tables["binary"].head(6).copy()
    frame.loc[[1, 4], "color"] = "octarine"
    with client(fitted["binary"]) as c:
        assert c.post("/predict/batch", content=frame.to_csv(index=False),
                      headers={"content-type": "text/csv"}).status_code == 200
        text = c.get("/metrics").text
    assert 'mlexpert_unseen_categories_total{column="color"} 2.0' in text
    assert 'mlexpert_rows_predicted_total{route="/predict/batch"} 6.0' in text


def test_watch_follows_a_new_version(fitted, rec):
    """With watch_interval, the service loads from its source again and swaps on a new version."""
    import time

    sources = [fitted["binary"], fitted["regression"]]

    def loader():
        return sources[-1] if len(sources) == 1 else sources.pop(0)

    with client(fitted["binary"], loader=loader, watch_interval=0.2) as c:
        first = c.get("/metadata").json()["version"]
        deadline = time.monotonic() + 20
        while c.get("/metadata").json()["version"] == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.get("/metadata").json()["task"] == "regression"
        assert isinstance(c.post("/predict", json=rec).json()["predictions"][0], float)


# -- batch uploads ---------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_batch_csv_in_chunks_matches_the_model(fitted, tables, task):
    frame = tables[task].head(23)
    with client(fitted[task], batch_chunk_rows=5) as c:
        r = c.post("/predict/batch?id_column=x2", content=frame.to_csv(index=False),
                   headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    import io

    got = pd.read_csv(io.StringIO(r.text))
    want = fitted[task].predict_table(frame)
    assert len(got) == 23 and list(got.columns) == ["x2", *want.columns]
    np.testing.assert_allclose(got["x2"], frame["x2"])
    if task == "regression":
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6)
    else:
        assert got["y"].tolist() == want["y"].tolist()
        np.testing.assert_allclose(got.iloc[:, 2:].to_numpy(), want.iloc[:, 1:].to_numpy(), atol=1e-6)


def test_batch_csv_with_byte_order_mark_and_quoted_header(fitted, tables):
    frame = tables["binary"].head(3).drop(columns="y")
    csv = "\ufeff" + frame.to_csv(index=False, quoting=1)   # every field quoted, BOM first
    with client(fitted["binary"]) as c:
        r = c.post("/predict/batch", content=csv.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.text.splitlines()[1:] and len(r.text.splitlines()) == 4


def test_batch_json_lines_and_output_format(fitted, tables):
    frame = tables["binary"].head(7)
    lines = "\n".join(json.dumps(record_of(tables["binary"], i)) for i in range(7)) + "\n"
    with client(fitted["binary"], batch_chunk_rows=3) as c:
        r = c.post("/predict/batch", content=lines, headers={"content-type": "application/x-ndjson"})
        out = [json.loads(x) for x in r.text.splitlines()]
        assert r.status_code == 200 and len(out) == 7
        assert [o["y"] for o in out] == fitted["binary"].predict(frame).tolist()
        r = c.post("/predict/batch?format=jsonl&output=csv", content=lines)
        assert r.status_code == 200 and r.text.splitlines()[0] == "y,proba_no,proba_yes"


def test_batch_csv_quoted_newlines_and_crlf(fitted, tables):
    frame = tables["binary"].head(4).copy()
    frame.loc[1, "review"] = "good\nbad, fine"
    csv = frame.drop(columns="y").to_csv(index=False, lineterminator="\r\n")
    with client(fitted["binary"]) as c:
        r = c.post("/predict/batch", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.text.splitlines()[1:] and len(r.text.splitlines()) == 5
    assert r.text.splitlines()[2].split(",")[0] == fitted["binary"].predict(frame).iloc[1]


@pytest.mark.parametrize("content, ctype, status, words", [
    ("x1,x2\n1,2\n", "text/csv", 422, ["lacks", "'color'"]),
    ("", "text/csv", 422, ["no rows"]),
    ("HEADER_ONLY", "text/csv", 422, ["lacks"]),
    ('{"x1": 1}\n[1]\n', "application/x-ndjson", 422, ["line 2", "object"]),
    ('{"x1": 1\n', "application/x-ndjson", 400, ["line 1", "not valid JSON"]),
    ("a,b", "application/pdf", 415, ["Content-Type"]),
    ("a,b", None, 415, ["Content-Type"]),
    ("x1,x\r2,color\n1,2,red\n", "text/csv", 400, ["header (line 1)", "cannot be parsed"]),
], ids=["missing-columns", "empty", "header-only", "jsonl-not-object", "jsonl-malformed",
        "pdf", "no-content-type", "carriage-return-in-header"])
def test_batch_bad_uploads(binary, content, ctype, status, words):
    headers = {"content-type": ctype} if ctype else {}
    r = binary.post("/predict/batch", content=content.encode(), headers=headers)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["error"], r.json()


def test_batch_jsonl_wrong_type_names_the_line(binary, tables):
    good = json.dumps(record_of(tables["binary"], 0))
    bad = json.dumps(dict(record_of(tables["binary"], 1), x2="nope"))
    r = binary.post("/predict/batch", content=f"{good}\n{good}\n{bad}\n",
                    headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 422 and r.json()["detail"][0]["line"] == 3
    assert "line 3: field 'x2'" in r.json()["error"]


def test_batch_row_and_line_limits_are_413(fitted, tables):
    frame = tables["binary"].head(30)
    with client(fitted["binary"], max_batch_rows=20, batch_chunk_rows=8, max_line_bytes=2000) as c:
        r = c.post("/predict/batch", content=frame.to_csv(index=False), headers={"content-type": "text/csv"})
        assert r.status_code == 413 and "20 rows" in r.json()["error"]
        long = frame.head(2).copy()
        long["review"] = "word " * 1000
        r = c.post("/predict/batch", content=long.to_csv(index=False), headers={"content-type": "text/csv"})
        assert r.status_code == 413 and "line" in r.json()["error"]
        r = c.post("/predict/batch", content=frame.head(20).to_csv(index=False),
                   headers={"content-type": "text/csv"})
        assert r.status_code == 200 and len(r.text.splitlines()) == 21


def test_batch_values_pandas_cannot_hold_are_422(binary, tables):
    frame = tables["binary"].head(3).drop(columns="y").copy()
    frame["when"] = ["0001-01-01", "2021-01-01", "9999-12-31"]
    r = binary.post("/predict/batch", content=frame.to_csv(index=False),
                    headers={"content-type": "text/csv"})
    assert r.status_code in (200, 422), r.text


def test_batch_garbage_csv_is_400_not_500(binary):
    csv = "x1,x2,color,size,when,review\n1,2,red,M,2021-01-01,ok\n1,2,3,4,5,6,7,8,9\n\"unterminated\n"
    r = binary.post("/predict/batch", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code in (400, 422) and "line" in r.json()["error"].lower()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(alphabet=',"\n\r;x1abc{}[]:0.5-', max_size=200).map(str.encode),
       ctype=st.sampled_from(["text/csv", "application/x-ndjson"]))
def test_garbage_uploads_never_500(binary, raw, ctype):
    header = b"x1,x2,color,size,when,review\n" if ctype == "text/csv" else b""
    r = binary.post("/predict/batch", content=header + raw, headers={"content-type": ctype})
    assert r.status_code in (200, 400, 413, 422), r.text


def test_labels_follow_the_decision_threshold(fitted, tables):
    """A binary model with a decision threshold (optimize_threshold / cost_matrix) labels rows in
    the service as Model.predict does, not by the larger probability."""
    from mlexpert import Model

    base = fitted["binary"]
    model = Model(base.manifest.with_sections(decision={"threshold": 0.9}), base.ensemble.members,
                  base.reference_sample)
    records = [record_of(tables["binary"], i) for i in range(30)]
    want = model.predict(tables["binary"].drop(columns="y").head(30)).tolist()
    assert want != fitted["binary"].predict(tables["binary"].drop(columns="y").head(30)).tolist()
    with client(model) as c:
        got = c.post("/predict", json=records).json()["predictions"]
    assert got == want


def test_docs_page_loads_nothing_from_outside(binary):
    """/docs works offline: every script, style and icon it names is served by the app itself."""
    import re

    r = binary.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    assert not re.search(r"https?://|//cdn", r.text), re.findall(r"https?://[^'\" ]+", r.text)
    urls = set(re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", r.text))
    assets = {u for u in urls if u.startswith("/docs/assets/")}
    assert {u.rsplit("/", 1)[1] for u in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in assets:
        got = binary.get(url)
        assert got.status_code == 200 and len(got.content) > 500, url
    assert binary.get("/docs/assets/nope.js").status_code == 404
    assert binary.get("/openapi.json").status_code == 200
    assert binary.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
