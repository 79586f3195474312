"""The FastAPI application of one model: ``create_app`` wires the parts, each in its module.

``_service`` the mutable state (current predictor, observers, metrics); ``_gate`` the pure-ASGI
gate in front of the routes (request id, API key, access log, last-resort 500); ``_handlers``
the error bodies; ``_predict``, ``_upload``, ``_feedback``, ``_ops`` the routes (``_rollout``
which model answers a record beside a challenger, ``_ledger`` what each predicted, for feedback); ``_openapi`` the document with
the model's record schema; ``_docs`` its Swagger UI from local assets; ``_reload`` reloading on
demand and watching the source.
"""
import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from mlexpert._version import __version__
from mlexpert.errors import MlexpertError
from mlexpert.serve._docs import add_docs
from mlexpert.serve._feedback import add_feedback
from mlexpert.serve._gate import Gate
from mlexpert.serve._handlers import add_handlers
from mlexpert.serve._observe import Observer
from mlexpert.serve._openapi import install_openapi
from mlexpert.serve._ops import add_ops
from mlexpert.serve._predict import add_predict
from mlexpert.serve._predictor import Predictor, model_identity
from mlexpert.serve._reload import watch
from mlexpert.serve._service import Service, warm
from mlexpert.serve._settings import ServeSettings
from mlexpert.serve._upload import add_batch


def create_app(model: Any, *, settings: ServeSettings | None = None, source: str = "model",
               loader: Callable[[], Any] | None = None,
               observers: Sequence[Observer] = (), challenger: Any = None,
               challenger_source: str = "challenger") -> Any:
    """A FastAPI app serving ``model`` (a loaded ``mlexpert.Model``).

    ``source``: how the model was named (its name in /metadata and the version's fallback).
    ``loader``: loads the model again from its source; enables ``POST /admin/reload`` and, with
    ``settings.watch_interval``, following a registry alias. ``observers``: objects with
    ``observe(ObservedBatch)`` called after every prediction (the live monitor's hook).
    ``challenger``: a second loaded Model of the same task, target and classes, sharing the
    traffic as ``settings.mode`` says (shadow or canary); ``/feedback`` and ``/compare`` then
    compare the two on the same labelled records. Reload replaces the champion only. A model
    with entity history is served as given: ``/feedback`` extends that object's stored history.
    """
    from fastapi import FastAPI

    settings = settings or ServeSettings()
    if settings.watch_interval and loader is None:
        raise MlexpertError("watch_interval needs a loader to load the model again; pass loader=.")
    predictor = Predictor(model, model_identity(model, source), strict=settings.strict)
    second = None if challenger is None else \
        Predictor(challenger, model_identity(challenger, challenger_source), strict=settings.strict)
    service = Service(predictor, settings, loader, observers, challenger=second)

    async def lifespan(app: Any) -> Any:
        for p in service.predictors().values():
            warm(p)
        service.ready = True
        watcher = asyncio.create_task(watch(service)) if settings.watch_interval else None
        try:
            yield
        finally:
            service.ready = False
            if watcher is not None:
                watcher.cancel()
            service.close_observers()

    app = FastAPI(title=f"mlexpert: {predictor.identity.name}", version=__version__,
                  description=f"Predictions of the {predictor.task} model "
                              f"{predictor.identity.name!r} (target {predictor.target!r}).",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    add_handlers(app, service)
    add_predict(app, service)   # the order of the routes is the order of the OpenAPI paths
    add_batch(app, service)
    add_feedback(app, service)
    add_ops(app, service)
    add_docs(app)  # Swagger UI from local assets: the page works offline
    install_openapi(app, service)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-api-key", "authorization",
                                          "x-request-id"], expose_headers=["x-request-id"])
    app.add_middleware(Gate, service=service)
    return app
