"""The app's OpenAPI document: FastAPI's, plus the ``Record`` schema of the current model (one
record or a list of them), rebuilt when a reload changes the model version."""
from __future__ import annotations

from typing import Any

from mlexpert.serve._predictor import Predictor
from mlexpert.serve._service import Service


def _record_schema(p: Predictor) -> dict[str, Any]:
    schema = p.record_model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    return schema


def install_openapi(app: Any, service: Service) -> None:
    """Replace ``app.openapi`` with the builder of the document with the model's schema."""

    def openapi() -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        if app.openapi_schema is None or app.state.openapi_version != service.predictor.identity.version:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            record = _record_schema(service.predictor)
            comps = doc.setdefault("components", {}).setdefault("schemas", {})
            comps["Record"] = {
                "oneOf": [record, {"type": "array", "items": record, "minItems": 1,
                                   "maxItems": service.settings.max_records}],
                "examples": [service.predictor.example]}
            app.openapi_schema = doc
            app.state.openapi_version = service.predictor.identity.version
        return app.openapi_schema

    app.state.openapi_version = None
    app.openapi = openapi
