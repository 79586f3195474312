"""Choose a compiled prediction path by measuring: build each, check it against the Model's own
path on probe rows, time the survivors on one row, keep the fastest.

Both ``Model.predict`` (after a few small calls) and the service use this, so a bundle answers
one row the same way in process and over HTTP.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import median_seconds
from mlexpert.compiled import Rows, Unsupported
from mlexpert.data import Role, Schema
from mlexpert.ensemble import SMALL_BATCH
from mlexpert.evaluate import thresholded
from mlexpert.runtime._numpy import IN_GRAPH, FastPath

log = logging.getLogger("mlexpert.runtime")
FAST_MAX_ROWS = SMALL_BATCH  # above this, pandas' column-wise work beats the per-row paths
VERIFY_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-5  # the export's parity promise (XGBoost sums its trees in float32)
ROW_PROBES = 30  # single-row calls timed per path when choosing between them
TIMING_BUDGET = 0.2  # seconds: fewer timed calls for a slow path (a sklearn forest: ~30 ms each)
BUILD_SWITCH_INTERVAL = 0.0002  # seconds between the interpreter's thread switches while building
PERTURBED_PROBES = 24  # probe rows with values missing, unseen or at a quantile
CLEARLY_SLOWER = 3.0  # a first call this many times slower needs no median (warm-up: ~2x)
MIXED = "numpy+onnxruntime"  # preprocessing in numpy, the boosters in one graph
# a whole graph slower than this a row (seconds) is timed against the mixed path too
# (star_math, two quiet runs: whole graph 5.6-6.0 ms, mixed 2.5-2.8, numpy 5.1-5.3; which of
# its parts costs the graph more than numpy — CatBoost's oblivious trees expanded into binary
# ones, its wide code tables — not isolated)
SLOW_GRAPH = 0.001


def rows_frame(schema: Schema, rows: Rows) -> pd.DataFrame:
    """Canonical rows (one value per feature, schema order) as the DataFrame ``prepare`` takes."""
    cols: dict[str, Any] = {}
    for i, c in enumerate(schema.features):
        values = [r[i] for r in rows]
        if c.role == Role.NUMERIC:
            cols[c.name] = np.array(values, dtype=float)
        elif c.role == Role.DATETIME:
            cols[c.name] = np.array(values, dtype="datetime64[ns]")
        else:
            cols[c.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(cols)


def probe_rows(schema: Schema, base: list[Rows]) -> list[list[Any]]:
    """``base`` rows, then rows derived from the first with each value missing, unseen or at a
    random quantile (seeded): what a compiled path must get right besides typical rows."""
    rng = np.random.default_rng(0)
    out = [list(r) for r in base]
    for _ in range(PERTURBED_PROBES):
        row = list(base[0])
        for i, c in enumerate(schema.features):
            u = rng.random()
            if u < 0.2:
                row[i] = {Role.NUMERIC: np.nan, Role.CATEGORICAL: np.nan,
                          Role.DATETIME: np.datetime64("NaT", "ns"), Role.TEXT: ""}[c.role]
            elif c.role == Role.NUMERIC:
                st = c.stats or {}
                lo, hi = st.get("q01"), st.get("q99")
                if lo is not None and hi is not None:
                    row[i] = float(rng.uniform(lo, hi))
            elif c.role == Role.CATEGORICAL:
                cats = c.categories or ["x"]
                row[i] = str(rng.choice(cats)) if u < 0.8 else "\x01unseen"
            elif c.role == Role.DATETIME and row[i] == row[i]:
                row[i] = row[i] + np.timedelta64(int(rng.integers(0, 900)), "D")
            elif c.role == Role.TEXT:
                row[i] = "good bad fine" if u < 0.6 else "zzz unseen words"
        out.append(row)
    return out


def reference(model: Any, rows: Rows) -> np.ndarray:
    """The Model's own answer for canonical rows through pandas and the fitted steps (never a
    compiled path): (n, K) probabilities summing to 1, or (n,) values."""
    raw = model.ensemble.raw(model.schema.prepare(rows_frame(model.schema, rows)))
    return raw if model.task == "regression" else raw / raw.sum(axis=1, keepdims=True)


def verify(model: Any, path: Any, probes: Rows, want: np.ndarray, tolerance: float) -> str:
    """'' when ``path`` matches ``want`` on ``probes`` (one by one and all together, within
    ``tolerance``, relative to values above 1: a price of 200,000 summed in float32 by XGBoost
    is ~0.02 off; the same labels), else the problem."""
    got = np.concatenate([path.predict(probes[i:i + 1]) for i in range(len(probes))])
    both = path.predict(probes)
    scale = np.maximum(1.0, np.abs(want))
    err = max(float(np.max(np.abs(got - want) / scale)), float(np.max(np.abs(both - want) / scale)))
    if not np.isfinite(err) or err > tolerance:
        return f"differs from the Model by {err:.3g} (relative above 1) on probe rows"
    if model.task != "regression":
        label = lambda p: thresholded(p, model.threshold).argmax(axis=1)  # noqa: E731
        if not np.array_equal(label(got), label(want)):
            return "labels differ from the Model's on probe rows"
    return ""


def fastest(model: Any, probes: Rows, want: np.ndarray | None = None) -> tuple[Any, str]:
    """The faster of the numpy path and the ONNX graph among those that match the Model on
    ``probes`` (timed on one row), or None; and what was decided, in words."""
    *_, last = staged(model, probes, want, interim=False)
    return last


def staged(model: Any, probes: Rows, want: np.ndarray | None = None,
           interim: bool = True, pause: Callable[[], None] | None = None,
           ) -> Iterator[tuple[Any, str]]:
    """``fastest``'s decision after each build, the numpy path first: it builds in seconds at
    most, where the graph of a large ensemble takes tens of them (verbagg_resp: 2 s vs 32 s),
    so a caller can use it meanwhile (``interim``: only where it beats the members on one
    row); the last decision is ``fastest``'s. ``pause``: called between the graph's parts
    (``to_onnx``) and before its checks, where a background build gives way to predictions."""
    from mlexpert.runtime import _onnx

    def graph(m: Any) -> Any:
        path = _onnx.OnnxPath(m, pause=pause)
        if pause is not None:
            pause()
        return path

    def mixed(m: Any) -> Any:
        path = FastPath(m, graph=True, pause=pause)
        if pause is not None:
            pause()
        return path

    want = reference(model, probes) if want is None else want
    ok: list[tuple[float, str, Any]] = []
    problems: list[str] = []
    members: float | None = None  # one-row seconds of the Model's own path, timed on use
    # the boosters' trees in onnxruntime beside numpy's preprocessing (``MIXED``): where the
    # whole graph is not built (benefits_ui's CatBoost, trump_tweet_source's text,
    # verbagg_resp's size) or is slow (``SLOW_GRAPH``), for a model with a booster to walk
    builds = [("numpy", FastPath, VERIFY_TOLERANCE), ("onnxruntime", graph, ONNX_TOLERANCE)]
    if any(m.family in IN_GRAPH for m in model.ensemble.members):
        builds.append((MIXED, mixed, ONNX_TOLERANCE))
    for i, (name, build, tolerance) in enumerate(builds):
        try:
            path = build(model)
            problem = verify(model, path, probes, want, tolerance)
        except Unsupported as exc:
            path, problem = None, f"not compiled ({exc})"
        except Exception as exc:  # noqa: BLE001 - any failure only disables that path
            path, problem = None, f"failed to compile ({type(exc).__name__}: {exc})"
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            ok.append((_row_seconds(path, probes), name, path))
            if name == "onnxruntime" and ok[-1][0] <= SLOW_GRAPH:
                del builds[i + 1:]  # the whole graph holds every member, fast: no mixed path
        building = [f"{n}: still building" for n, _, _ in builds[i + 1:]]
        if interim and building and ok:  # meanwhile, a path slower than the members is no help
            if members is None:
                members = _members_seconds(model, probes[:1], min(sec for sec, _, _ in ok))
            if members <= min(sec for sec, _, _ in ok):
                yield None, (f"on the members meanwhile (one row: members {members * 1e6:.0f} µs, "
                             + ", ".join(f"{n} {sec * 1e6:.0f} µs" for sec, n, _ in ok)
                             + "".join(f"; {p}" for p in problems + building) + ")")
                continue
        yield _decision(ok, problems + building)


def _row_seconds(path: Any, probes: Rows) -> float:
    """Median seconds of one-row calls, each on the next probe row: one row repeated stays in
    the cache, where a large graph's trees do not (verbagg_resp's graph: 0.9 ms on one row
    repeated, 1.6-2.6 ms on varied rows, against 1.8 ms for the numpy path)."""
    rows = itertools.cycle([probes[i:i + 1] for i in range(len(probes))])
    return median_seconds(lambda: path.predict(next(rows)), ROW_PROBES, TIMING_BUDGET)


def _members_seconds(model: Any, row: Rows, compiled: float) -> float:
    """One-row seconds of the Model's own path, enough to tell whether it beats ``compiled``:
    one call when that one is ``CLEARLY_SLOWER`` times slower (benefits_ui's members: 1.1 s a
    call on a busy machine, where the median's warm-up and three calls took 4.5 s of a 60 s
    fit's end), else the median."""
    t0 = time.perf_counter()
    reference(model, row)
    first = time.perf_counter() - t0
    if first > CLEARLY_SLOWER * compiled:
        return first
    return median_seconds(lambda: reference(model, row), ROW_PROBES, TIMING_BUDGET)


def _decision(ok: list[tuple[float, str, Any]], problems: list[str]) -> tuple[Any, str]:
    if not ok:
        return None, "; ".join(problems)
    ok = sorted(ok, key=lambda t: t[0])
    timed = ", ".join(f"{n} {sec * 1e6:.0f} µs" for sec, n, _ in ok)
    return ok[0][2], (f"on: {ok[0][1]} (one row: {timed}; verified against the Model"
                      + "".join(f"; {p}" for p in problems) + ")")


class _Responsive:
    """While any build runs, the interpreter switches threads every 0.2 ms instead of 5: a
    build in the background holds the GIL in Python loops, and each of the caller's predict
    calls would otherwise wait up to 5 ms at every hand-over (email_spam, 20 s bundle: median
    one-row predict during a 15-20 s build 12-102 ms, 4-9 ms with this; two runs each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved = sys.getswitchinterval()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if not self._active:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, BUILD_SWITCH_INTERVAL))
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if not self._active:
                    sys.setswitchinterval(self._saved)


_responsive = _Responsive()


def compile_model(model: Any) -> tuple[Any, str]:
    """``fastest`` for a Model's in-process use (the caller's threads kept responsive): probes
    from its reference sample (training rows) or, without one, from its schema's statistics."""
    with _responsive():
        try:
            return fastest(model, _model_probes(model))
        except Exception as exc:  # noqa: BLE001 - a failed build leaves the Model's own path
            return _failed(exc)


def compile_stages(model: Any, pause: Callable[[], None] | None = None,
                   ) -> Iterator[tuple[Any, str]]:
    """``compile_model`` in stages (``staged``): the numpy path's decision first, for the caller
    to wait for; the rest kept responsive for a background thread to finish, giving way where
    ``pause`` waits."""
    try:
        stages = staged(model, _model_probes(model), pause=pause)
        yield next(stages)
    except Exception as exc:  # noqa: BLE001 - a failed build leaves the Model's own path
        yield _failed(exc)
        return
    with _responsive():
        yield from stages


def stored_form(model: Any, path: Any) -> tuple[bytes, dict[str, str]] | None:
    """What a bundle stores of the numpy ``path`` (``FastPath.portable``: its bytes and the
    libraries it runs on), where its portable copy answers as the Model's members do on probe
    rows (within the graph's tolerance where models became graphs); else None."""
    found = path.portable()
    if found is None:
        return None
    copy, data, libraries = found
    probes = _model_probes(model)
    tolerance = ONNX_TOLERANCE if "onnxruntime" in libraries else VERIFY_TOLERANCE
    try:
        problem = verify(model, copy, probes, reference(model, probes), tolerance)
    except Exception as exc:  # noqa: BLE001 - not stored: the bundle builds it after load
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        log.info("the numpy path is not stored with the bundle: %s", problem)
        return None
    return data, libraries


def _model_probes(model: Any) -> Rows:
    schema = model.schema
    sample = model.reference_sample
    if sample is not None and len(sample) and all(c.name in sample for c in schema.features):
        base = list(zip(*schema.prepare_arrays(sample.iloc[:8], "the reference sample"),
                        strict=True))
    else:
        base = [[_typical(c) for c in schema.features]]
    return probe_rows(schema, base)


def _failed(exc: Exception) -> tuple[None, str]:
    log.warning("compiled prediction path off: %s: %s", type(exc).__name__, exc)
    return None, f"failed on the probe rows ({type(exc).__name__}: {exc})"


def _typical(c: Any) -> Any:
    st = c.stats or {}
    if c.role == Role.NUMERIC:
        return float(st.get("median", st.get("q01", 0.0)) or 0.0)
    if c.role == Role.CATEGORICAL:
        return str(c.categories[0]) if c.categories else np.nan
    if c.role == Role.DATETIME:
        return np.datetime64("NaT", "ns")
    return ""
