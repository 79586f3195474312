"""Champion and challenger in one service: which model answers which record.

``shadow``: the champion answers everything; the challenger scores every record off the response
path. ``canary``: a ``share`` of records gets the challenger's answer, drawn by a stable hash of
the record's routing key (the value of the ``key`` field, so a customer stays with one model
across requests and restarts) or, without one, of the request id (a retried request id meets the
same model). In both modes the model that did not answer scores the records off the response path,
so every labelled request can compare the two on the same rows (``/feedback``, ``/compare``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlexpert.errors import ConfigError

MODES = ("shadow", "canary")
CHAMPION, CHALLENGER = "champion", "challenger"
_SALT = b"mlexpert-canary:"  # fixed: the same key meets the same model after a restart


def draw(key: str) -> float:
    """A stable number in [0, 1) for a routing key (BLAKE2b, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(_SALT + key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def routed(keys: Sequence[str], share: float) -> np.ndarray:
    """Per record: True when the challenger answers it (canary)."""
    return np.fromiter((draw(k) < share for k in keys), dtype=bool, count=len(keys))


def routing_keys(key: str | None, request_id: str, body: bytes, rows: list[list[Any]],
                 feature_index: dict[str, int]) -> list[str]:
    """Each record's routing key: the value of field ``key`` (read from the validated row when it
    is a feature, else from the raw JSON), the request id where the record lacks it or no key is
    set."""
    n = len(rows)
    if key is None:
        return [request_id] * n
    if key in feature_index:
        i = feature_index[key]
        return [request_id if r[i] is None else key_text(r[i]) for r in rows]
    try:
        parsed = json.loads(body)
    except ValueError:
        return [request_id] * n
    records = parsed if isinstance(parsed, list) else [parsed]
    return [key_text(r[key]) if isinstance(r, dict) and r.get(key) is not None else request_id
            for r in records[:n]]


def key_text(value: Any) -> str:
    """A key as text, the same for 7, 7.0 and "7" (JSON clients differ in how they send ids)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def check_pair(champion: Any, challenger: Any) -> None:
    """Refuse a challenger that does not predict the same thing as the champion: the responses
    would change meaning and the comparison would be void."""
    a, b = champion.model, challenger.model
    if a.task != b.task:
        raise ConfigError(f"the challenger is a {b.task} model and the champion a {a.task} one; "
                          "serve two models of the same task.")
    if a.target != b.target:
        raise ConfigError(f"the challenger predicts {b.target!r} and the champion {a.target!r}; "
                          "serve two models of the same target.")
    if a.task != "regression" and [str(c) for c in a.classes] != [str(c) for c in b.classes]:
        raise ConfigError(f"the challenger's classes {b.classes} differ from the champion's "
                          f"{a.classes}; both must predict the same classes to share traffic.")
