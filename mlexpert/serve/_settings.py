"""ServeSettings: every knob of the service in one small value object, validated at the edge."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlexpert.errors import bad_option

API_KEY_ENV = "MLEXPERT_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """How the service behaves. Sizes in bytes, times in seconds.

    ``api_key_env``: name of the environment variable holding the API key; when it is set and
    non-empty every route but ``/health`` needs the header ``X-API-Key`` (or
    ``Authorization: Bearer``). ``strict``: extra fields in a record are a 422 instead of being
    ignored. ``cors_origins``: empty means CORS stays off. ``watch_interval``: seconds between
    checks that the model source now resolves to another version (0: never; reload on demand).
    ``monitor_window``: rows of recent traffic the live drift monitor keeps per worker (0: off);
    ``monitor_min_rows``: rows it needs before it judges; ``monitor_interval``: the most seconds
    the drift gauges of ``/metrics`` lag the traffic (``GET /monitor`` is always fresh).
    With a challenger: ``mode`` ``shadow`` (it scores every record, its answers are never
    returned) or ``canary`` (it answers a ``share`` of records, by ``route_key``: a record field
    whose value keeps a customer with one model; by request without it); ``feedback_window``:
    scored records kept for ``POST /feedback`` to label (0: feedback off).
    """

    max_body_bytes: int = 1 << 20          # /predict body
    max_records: int = 1000                # records in one /predict request
    max_batch_rows: int = 1_000_000        # rows in one /predict/batch upload
    max_line_bytes: int = 1 << 20          # one CSV / JSON Lines line in a batch upload
    batch_chunk_rows: int = 5000           # rows predicted at a time in a batch upload
    strict: bool = False
    api_key_env: str = API_KEY_ENV
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    watch_interval: float = 0.0
    monitor_window: int = 1000
    monitor_min_rows: int = 100
    monitor_interval: float = 30.0
    mode: str = "shadow"
    share: float = 0.1
    route_key: str | None = None
    feedback_window: int = 50_000

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_records", "max_batch_rows", "max_line_bytes",
                     "batch_chunk_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad_option(name, value, "a positive integer")
        for name in ("watch_interval", "monitor_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and value >= 0):
                raise bad_option(name, value, "a number of seconds >= 0")
        if self.mode not in ("shadow", "canary"):
            raise bad_option("mode", self.mode, "'shadow' or 'canary'")
        if isinstance(self.share, bool) or not (isinstance(self.share, int | float)
                                                and 0 < self.share < 1):
            raise bad_option("share", self.share, "a fraction of traffic between 0 and 1 "
                             "(exclusive), e.g. 0.1")
        if self.route_key is not None and (not isinstance(self.route_key, str)
                                           or not self.route_key):
            raise bad_option("route_key", self.route_key, "the name of a record field")
        f = self.feedback_window
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise bad_option("feedback_window", f, "0 (off) or a positive number of records")
        w, m = self.monitor_window, self.monitor_min_rows
        if isinstance(w, bool) or not isinstance(w, int) or not (w == 0 or w >= 10):
            raise bad_option("monitor_window", w, "0 (off) or an integer >= 10")
        if isinstance(m, bool) or not isinstance(m, int) or m < 1 or (w and m > w):
            raise bad_option("monitor_min_rows", m, f"an integer from 1 to monitor_window ({w})")

    def api_key(self) -> str | None:
        """The key every protected route needs, read from the environment now (None: auth off)."""
        key = os.environ.get(self.api_key_env, "")
        return key or None
