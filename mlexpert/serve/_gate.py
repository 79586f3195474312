"""The pure-ASGI gate in front of the routes: request id, API key, timing, access log, metrics,
and the last-resort 500 that carries only the request id (the traceback goes to the server log)."""
from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from typing import Any

from mlexpert.serve._errors import Problem
from mlexpert.serve._http import json_bytes, route_label
from mlexpert.serve._service import Service

log = logging.getLogger("mlexpert.serve")
access_log = logging.getLogger("mlexpert.serve.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
OPEN_ROUTES = ("/health",)


class Gate:
    """Pure ASGI middleware: request id, API key, timing, access log, metrics, last-resort 500."""

    def __init__(self, app: Any, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        path = scope["path"]
        route = route_label(path)
        state = {"status": 500, "started": False}
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            problem = self._auth(path, headers)
            if problem is not None:
                await _send(send_wrapper, problem.status, problem.body(rid))
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - the last line: never a traceback to the client
            log.exception("internal error (request %s, %s %s)", rid, scope["method"], path)
            if not state["started"]:
                await _send(send_wrapper, 500, {"error": "internal server error; the server log "
                                                "has the details under this request id.",
                                                "request_id": rid})
        elapsed = time.perf_counter() - started
        m = self.service.metrics
        m.requests.labels(route, scope["method"], str(state["status"])).inc()
        m.latency.labels(route).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "request_id": rid, "method": scope["method"],
                "path": path, "status": state["status"], "latency_ms": round(elapsed * 1000, 3),
                "client": client[0]}))

    def _auth(self, path: str, headers: dict[str, str]) -> Problem | None:
        """None when the request may pass: no key configured, an open route, or the right key."""
        key = self.service.settings.api_key()
        if key is None or path in OPEN_ROUTES:
            return None
        given = headers.get("x-api-key")
        if given is None and headers.get("authorization", "").lower().startswith("bearer "):
            given = headers["authorization"][7:].strip()
        if given is None:
            return Problem(401, "this service needs an API key: send it in the X-API-Key header "
                           "(or Authorization: Bearer <key>).", reason="auth")
        if not hmac.compare_digest(given.encode(), key.encode()):
            return Problem(401, "the API key is not valid; check the X-API-Key header.",
                           reason="auth")
        return None


async def _send(send: Any, status: int, body: dict[str, Any]) -> None:
    """A whole JSON response through raw ASGI messages (the gate answers before any route)."""
    data = json_bytes(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"ApiKey"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
