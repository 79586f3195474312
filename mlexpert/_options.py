"""Checks of the options a user passes, one per kind of value, each raising the one message
``errors.bad_option`` words ("time_limit must be a positive number of seconds, but got -1.").

Python, the CLI and the service all reach the same checks, so an option is refused with the
same words whichever way it came in.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from mlexpert.errors import bad_option


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive(name: str, value: Any, unit: str, *, optional: bool = False) -> float | None:
    """A finite number above 0 (``unit`` names what it counts: "seconds", "megabytes"...);
    None passes when ``optional``."""
    if value is None and optional:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise bad_option(name, value, f"a positive number of {unit}" + (", or None" if optional
                                                                         else ""))
    return float(value)


def seconds(name: str, value: Any) -> float:
    """A time budget: a finite number of seconds above 0."""
    return positive(name, value, "seconds")  # type: ignore[return-value]


def count(name: str, value: Any, what: str, *, low: int = 0, optional: bool = False) -> int | None:
    """An integer of at least ``low`` (``what`` names what it counts); None passes when
    ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad_option(name, value, f"a number of {what} ({low} or more)"
                         + (", or None" if optional else ""))
    return value


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of ``choices`` (compared as given)."""
    choices = list(choices)
    if value not in choices:
        raise bad_option(name, value, f"one of {', '.join(map(str, choices))}")
    return value
