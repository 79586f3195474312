"""The tree converters' pieces that parity on a few fits may not reach: every way a CatBoost
category split can fall (either side rarer, every code on one side, missing on either side)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.errors import ExportError
from mlexpert.export._trees import LEQ, MEMBER, _CategoryBits


def _bit(level, value: float) -> int:
    """The bit an ONNX node built from ``level`` gives the code ``value`` (NaN: missing)."""
    if math.isnan(value):
        true = level.missing_true
    elif level.mode == MEMBER:
        true = value in level.members
    else:
        assert level.mode == LEQ
        true = value <= level.split
    return level.true_bit if true else 1 - level.true_bit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=3, max_size=40), st.integers(0, 1))
def test_a_category_split_gives_each_code_catboosts_bit(code_bits, missing_bit):
    bits = np.array([*code_bits, missing_bit]).reshape(1, -1, 1, 1)  # column, code, tree, level
    level = _CategoryBits([4], bits).level(0, 0)
    assert level.feature == 4
    got = [_bit(level, float(c)) for c in range(len(code_bits))] + [_bit(level, math.nan)]
    assert got == [*code_bits, missing_bit]
    if level.mode == MEMBER:  # the smaller side is listed
        assert len(level.members) * 2 <= len(code_bits) + 1


def test_a_split_that_moves_with_two_columns_is_refused():
    varies = np.array([0, 1, 0, 1]).reshape(1, -1, 1, 1)
    with pytest.raises(ExportError, match="max_ctr_complexity"):
        _CategoryBits([2, 5], np.concatenate([varies, varies])).level(0, 0)
