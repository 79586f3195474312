"""The app's exception handlers: every refusal (a ``Problem``, a 404/405, a bad query option)
becomes the one error body ``{"error", "detail", "request_id"}``, counted and logged."""

import logging
from typing import Any

from mlexpert.serve._errors import Problem
from mlexpert.serve._http import json_bytes, request_id, route_label
from mlexpert.serve._service import Service

log = logging.getLogger("mlexpert.serve")


def problem_response(problem: Problem, rid: str) -> Any:
    """The JSON response of a refusal (``WWW-Authenticate`` on a 401)."""
    from fastapi.responses import Response

    headers = {"WWW-Authenticate": "ApiKey"} if problem.status == 401 else None
    return Response(json_bytes(problem.body(rid)), status_code=problem.status,
                    media_type="application/json", headers=headers)


def add_handlers(app: Any, service: Service) -> None:
    """Register the handlers of ``Problem``, HTTP errors (404, 405) and request validation."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Any:
        route = route_label(request.url.path)
        if exc.status in (400, 413, 415, 422):
            service.metrics.validation_failures.labels(route, exc.reason).inc()
        log.info("refused %s %s with %d (request %s): %s", request.method, request.url.path,
                 exc.status, request_id(request), exc.message)
        return problem_response(exc, request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Any:
        hint = {404: f"no route {request.url.path!r}; see GET /docs for the routes.",
                405: f"{request.method} is not allowed on {request.url.path!r}; see GET /docs."}
        return problem_response(Problem(exc.status_code, hint.get(exc.status_code, str(exc.detail)),
                                        reason="http"), request_id(request))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Any:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg')}")
        return await on_problem(request, Problem(422, "; ".join(parts) + ". See GET /docs.",
                                                 reason="bad_option"))
