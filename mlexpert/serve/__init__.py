"""The REST service: a FastAPI app factory over one loaded Model, and a uvicorn runner.

``create_app(model, settings=..., loader=..., observers=...)`` builds the app; ``serve(source)``
loads a model the way ``mlexpert.load`` does and runs it on uvicorn (the CLI's ``serve``).
FastAPI, pydantic and uvicorn are imported when these are called, not with ``mlexpert``.
"""
from mlexpert.serve._app import create_app
from mlexpert.serve._observe import ObservedBatch, Observer
from mlexpert.serve._run import serve
from mlexpert.serve._settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "ObservedBatch", "Observer", "ServeSettings", "create_app", "serve"]
