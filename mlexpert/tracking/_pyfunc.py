"""The bundle as an MLflow pyfunc model: ``mlflow.pyfunc.load_model`` and ``mlflow models serve``
load the bundle (hash-checked, as ``mlexpert.load`` does) and predict with it.

Imports MLflow at module level: import this module only when logging or loading a model.
"""
from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from mlexpert._format import pinned_requirements
from mlexpert._manifest import Manifest

BUNDLE_ARTIFACT = "bundle"  # key of the bundle directory among the pyfunc model's artifacts


class BundleModel(mlflow.pyfunc.PythonModel):
    """Predicts with an mlexpert bundle: the label column and, for classification, one
    ``proba_<class>`` column per class (the same table as ``mlexpert predict``)."""

    def load_context(self, context):  # no type hints: MLflow reads them as a schema
        from mlexpert.bundle import load

        self._model = load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self._model.predict_table(frame, source="the request").reset_index(drop=True)


def _kind(dtype: str) -> str:
    d = dtype.lower()
    if d.startswith(("int", "uint")):
        return "long"
    if d.startswith("float"):
        return "double"
    if d in ("bool", "boolean"):
        return "boolean"
    return "string"


def _example_value(col: dict[str, Any], kind: str) -> Any:
    role, stats = col["role"], col.get("stats") or {}
    if role == "numeric":
        v = stats.get("median")
        v = 0.0 if v is None else v
        return int(round(v)) if kind == "long" else (float(v) if kind == "double" else str(v))
    if role == "categorical":
        cats = col.get("categories") or [""]
        v = cats[0]
        try:
            if kind == "long":
                return int(float(v))
            if kind == "double":
                return float(v)
            if kind == "boolean":
                return v.lower() == "true"
        except ValueError:
            return v
        return v
    if role == "datetime":
        v = stats.get("min")
        if v and col.get("datetime_format"):
            try:
                return pd.Timestamp(v).strftime(col["datetime_format"])
            except ValueError:
                pass
        return str(v or "")
    return "example text"


def input_example(manifest: Manifest, rows: int = 2) -> pd.DataFrame:
    """Typical rows built from the schema's training statistics (medians, frequent categories),
    so no training row leaves the machine; each column in the type it had in training."""
    cols = [c for c in manifest.schema["columns"]
            if c["role"] in ("numeric", "categorical", "datetime", "text")]
    data = {}
    for c in cols:
        kind = _input_kind(c)
        data[c["name"]] = [_example_value(c, kind)] * rows
    return pd.DataFrame(data)


def _input_kind(col: dict[str, Any]) -> str:
    kind = _kind(col.get("dtype", ""))
    if col["role"] in ("datetime", "text"):
        return "string"
    if col["role"] == "numeric" and kind not in ("long", "double"):
        return "string"  # numbers stored as text
    if col["role"] == "numeric" and kind == "long":
        return "double"  # missing values arrive as NaN; a long column could not hold them
    return kind


def signature(manifest: Manifest, output: pd.DataFrame) -> Any:
    """Input: one column per feature, by name, of MLflow's ``Any`` type; output: the prediction
    table's columns. Typed inputs made MLflow refuse what users pass (a ``pd.read_csv`` integer
    column against a double, a float with a missing value against a long, numbers as text): the
    bundle's Schema checks and coerces the values itself, with the rule every path uses."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    cols = [c for c in manifest.schema["columns"]
            if c["role"] in ("numeric", "categorical", "datetime", "text")]
    inputs = Schema([ColSpec(AnyType(), c["name"]) for c in cols])
    outputs = Schema([ColSpec(_kind(str(t)), str(n)) for n, t in output.dtypes.items()])
    return ModelSignature(inputs=inputs, outputs=outputs)


def pip_requirements(manifest: Manifest) -> list[str]:
    """Pinned from the bundle's recorded versions (skips MLflow's 4-6 s inference)."""
    return pinned_requirements(manifest.libraries, manifest.mlexpert_version,
                               installed=("mlflow", "pyarrow", "scipy"))
