"""Option checks: a valid value comes back as the number it is; anything else is refused with
one ConfigError naming the option, what it must be and what was given."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlexpert._options import count, one_of, positive, seconds
from mlexpert.errors import ConfigError

ANY = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)


@given(ANY)
def test_seconds_accepts_exactly_the_finite_positive_numbers(value):
    ok = isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0
    if ok:
        assert seconds("time_limit", value) == float(value)
    else:
        with pytest.raises(ConfigError, match=r"^time_limit must be a positive number of "
                                              r"seconds, but got "):
            seconds("time_limit", value)


@given(ANY)
def test_count_accepts_exactly_the_integers_from_low(value):
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 2
    if ok:
        assert count("budget", value, "tuning trials", low=2) == value
    else:
        with pytest.raises(ConfigError, match=r"^budget must be a number of tuning trials "
                                              r"\(2 or more\), but got "):
            count("budget", value, "tuning trials", low=2)


def test_optional_options_take_none_and_say_so_when_refusing():
    assert positive("size_limit", None, "megabytes", optional=True) is None
    assert count("budget", None, "tuning trials", optional=True) is None
    with pytest.raises(ConfigError, match="a positive number of megabytes, or None, but got 0"):
        positive("size_limit", 0, "megabytes", optional=True)


def test_one_of_lists_the_choices():
    assert one_of("presets", "fast", ["fast", "best"]) == "fast"
    with pytest.raises(ConfigError, match="presets must be one of fast, best, but got 'x'"):
        one_of("presets", "x", ["fast", "best"])
