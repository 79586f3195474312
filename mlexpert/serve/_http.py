"""What the gate, the error handlers and the routes share: the JSON encoder of response bodies,
the request id of a request, and the route label metrics are counted under."""
from __future__ import annotations

import json
from typing import Any

ROUTES = ("/predict", "/predict/batch", "/feedback", "/compare", "/health", "/ready",
          "/metadata", "/metrics", "/monitor", "/admin/reload", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc",
          "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
          "/docs/assets/favicon-32x32.png")


def json_bytes(obj: Any) -> bytes:
    """A response body: compact strict JSON (NaN refused; run ``jsonable`` first where it can
    appear). No walk over the values: this is on the path of every one-row prediction."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":"), default=str).encode()


def route_label(path: str) -> str:
    """The ``route`` label of the metrics: the path of a known route, else 'other'."""
    return path if path in ROUTES else "other"


def request_id(request: Any) -> str:
    """The id the gate gave this request ('' outside the gate)."""
    return request.scope.get("state", {}).get("request_id", "")
