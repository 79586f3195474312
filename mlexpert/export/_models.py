"""One fitted model (``models.Fitted``) to graph nodes: probabilities (n, K) or values (n, 1),
exactly what ``Fitted.predict`` returns, from the preprocessed feature matrix; each library's
conversion is its adapter's (``models.ADAPTERS``)."""
from __future__ import annotations

from typing import Any

from mlexpert.errors import not_exportable
from mlexpert.models import DISTILL_HINT, Graph, Unsupported, adapter_for


def model_output(g: Graph, family: str, fitted: Any, x: str) -> str:
    """Graph output of one fitted model of the member ``family`` on the feature matrix ``x``."""
    if getattr(fitted, "offset", None) is not None:  # only with entity history, refused before
        raise not_exportable(f"the {family} member", "it predicts a change from an entity's "
                             "stored history", "Refit with entity=False (CLI: --entity none).")
    try:
        convert = adapter_for(fitted).need("onnx")
    except Unsupported:
        raise not_exportable(f"the {family} member ({type(fitted.estimator).__name__})",
                             "mlexpert has no ONNX converter for it", DISTILL_HINT) from None
    return convert(g, fitted, x)
