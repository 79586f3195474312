"""Atomic writes leave the old file or directory, never half of a new one; JSON is strict."""
from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlexpert._io import atomic_dir, atomic_file, dumps, jsonable, write_json, write_text


def test_atomic_file_replaces_on_success_and_keeps_the_old_on_failure(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    write_text(out, "one")
    assert out.read_text() == "one"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(out) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert out.read_text() == "one"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]


def test_atomic_dir_swaps_a_whole_directory_or_nothing(tmp_path):
    out = tmp_path / "bundle"
    with atomic_dir(out) as tmp:
        (tmp / "x").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "x").write_text("2")
            raise RuntimeError("interrupted")
    assert (out / "x").read_text() == "1"
    with atomic_dir(out) as tmp:
        (tmp / "y").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_jsonable_turns_numpy_and_non_finite_values_into_plain_json():
    obj = {1: np.float32(0.5), "a": [np.int64(3), float("nan"), np.inf], "b": np.arange(2),
           "c": (np.bool_(True), None), "t": pd.Timestamp("2024-01-02"),
           "d": datetime(2024, 1, 2, 3, 4)}
    assert jsonable(obj) == {"1": 0.5, "a": [3, None, None], "b": [0, 1], "c": [True, None],
                             "t": "2024-01-02T00:00:00", "d": "2024-01-02T03:04:00"}


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=5), kids, max_size=4), max_leaves=20))
def test_dumps_is_always_strict_json_and_keeps_finite_values(obj):
    back = json.loads(dumps(obj), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))

    def same(a, b):
        if isinstance(a, float) and not math.isfinite(a):
            return b is None
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    assert same(obj, back)


def test_write_json_is_strict(tmp_path):
    path = write_json(tmp_path / "m.json", {"v": float("inf")})
    assert json.loads(path.read_text()) == {"v": None}
