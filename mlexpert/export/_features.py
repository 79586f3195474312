"""The fitted preprocessing that ``features.build_preprocessor`` builds, as graph nodes.

Covers both kinds: trees (numbers passed through with NaN, ``CategoryCodes``, ``DatetimeFeatures``)
and linear (median imputation with missing indicators, standard scaling, capped one-hot with an
infrequent bucket, dates imputed and scaled). Free text is not exported.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import not_exportable
from mlexpert.export._inputs import MISSING_CATEGORY
from mlexpert.models import Graph

_UNSEEN = "\x00mlexpert-unseen\x00"


def transform(g: Graph, transformer: Any, inputs: dict[str, str]) -> str:
    """The feature matrix (n, F) a fitted ColumnTransformer would give, from the input tensors."""
    blocks = []
    for name, step, columns in transformer.transformers_:
        if isinstance(step, str) and step == "drop" or not len(columns):
            continue
        blocks.append(_step(g, step, list(columns), inputs, name))
    return g.concat(blocks)


def _step(g: Graph, step: Any, columns: list[str], inputs: dict[str, str], name: str) -> str:
    from sklearn.pipeline import Pipeline

    # scikit-learn's: imported on use, so that running a stored graph (``runtime``) never does
    from mlexpert.features import CategoryCodes, DatetimeFeatures, LevelEncoding

    if isinstance(step, str) and step == "passthrough" or type(step).__name__ == "FunctionTransformer":
        return g.concat([inputs[c] for c in columns])
    if isinstance(step, Pipeline):
        steps = [sub for _, sub in step.steps]
        if type(steps[0]).__name__ in ("SimpleImputer", "StandardScaler"):
            x = g.concat([inputs[c] for c in columns])  # numbers: the columns as they come
        else:
            x = _step(g, steps.pop(0), columns, inputs, name)
        for sub in steps:
            x = _array_step(g, sub, x)
        return x
    if isinstance(step, CategoryCodes):
        return g.concat([_codes(g, inputs[c], step, j) for j, c in enumerate(step.columns_)])
    if isinstance(step, DatetimeFeatures):
        return g.concat([p for c in step.columns_ for p in _dates(g, inputs[c], step.parts(c))])
    if isinstance(step, LevelEncoding):
        return g.concat([out for j, c in enumerate(step.columns_)
                         for out in _levels(g, inputs[c], step.lookup_table(j))])
    kind = type(step).__name__
    if kind == "OneHotEncoder":
        return _one_hot(g, step, columns, inputs)
    if kind == "TextFeatures":
        raise not_exportable(f"text column {columns[0]!r}", "free text (TF-IDF) is not "
                             "converted", f"Refit with ignore_columns=[{columns[0]!r}] (CLI: "
                             f"--ignore {columns[0]}) to get an exportable model.")
    if kind == "EntityHistory":
        raise not_exportable(f"the entity history features of {columns[0]!r}", "they are "
                             "computed from the rows each entity had in training, kept in the "
                             "bundle, not from the request alone", "Serve the bundle "
                             "(mlexpert serve), or refit with entity=False (CLI: --entity none) "
                             "for an exportable model.")
    raise not_exportable(f"preprocessing step {name!r} ({kind})", "it has no ONNX converter",
                         "Refit with the default preprocessing.")


def _array_step(g: Graph, step: Any, x: str) -> str:
    kind = type(step).__name__
    if kind == "SimpleImputer":
        stats = np.where(np.isnan(step.statistics_), 0.0, step.statistics_).reshape(1, -1)
        missing = g.op("IsNaN", [x])
        out = g.where(missing, g.const(stats), x)
        indicator = getattr(step, "indicator_", None)
        if indicator is not None and len(indicator.features_):
            picked = g.op("Gather", [missing, g.const(np.asarray(indicator.features_, np.int64))],
                          axis=1)
            from onnx import TensorProto

            out = g.concat([out, g.cast(picked, TensorProto.DOUBLE)])
        return out
    if kind == "StandardScaler":
        mean = np.zeros(step.n_features_in_) if step.mean_ is None else step.mean_
        scale = np.ones(step.n_features_in_) if step.scale_ is None else step.scale_
        return g.div(g.sub(x, g.const(mean.reshape(1, -1))), g.const(scale.reshape(1, -1)))
    raise not_exportable(f"preprocessing step {kind}", "it has no ONNX converter",
                         "Refit with the default preprocessing.")


def _codes(g: Graph, x: str, step: Any, j: int) -> str:
    """``CategoryCodes`` of column ``j``: known levels to 0..K-1, missing to NaN, others to K
    (by frequency) or (in value order) numbers to their place among the known ones, NaN."""
    from onnx import TensorProto

    categories = step.categories_[j]
    keys = [str(c) for c in categories]
    values = [float(i) for i in range(len(keys))]
    if MISSING_CATEGORY not in keys:
        keys, values = [*keys, MISSING_CATEGORY], [*values, float("nan")]
    by_value = step.by_value
    codes = g.cast(g.op("LabelEncoder", [x], domain="ai.onnx.ml", keys_strings=keys,
                        values_floats=values,
                        default_float=float("nan") if by_value else float(len(categories))),
                   TensorProto.DOUBLE)
    numbers = step.numbers_[j] if by_value else np.empty(0)
    if not len(numbers):
        return codes
    # an unseen number's place: how many known numbers are below it, less a half
    from mlexpert.features import NUMBER_PATTERN

    readable = g.op("RegexFullMatch", [x], pattern=NUMBER_PATTERN)
    value = g.cast(g.where(readable, x, g.const(np.array(["nan"], dtype=object))),
                   TensorProto.DOUBLE)
    below = g.cast(g.op("Less", [g.const(numbers.reshape(1, -1)), value]), TensorProto.DOUBLE)
    place = g.sub(g.op("ReduceSum", [below, g.const(np.array([1], dtype=np.int64))],
                       keepdims=1), g.const(0.5))
    place = g.where(g.op("IsNaN", [value]), value, place)
    return g.where(g.op("IsNaN", [codes]), place, codes)


def _levels(g: Graph, x: str, lookup: tuple[list[str], np.ndarray, np.ndarray, np.ndarray]
            ) -> list[str]:
    """``LevelEncoding`` of one column: one LabelEncoder per output (a level's share, target
    means, code value), missing through ``MISSING_CATEGORY``, unseen levels to the default."""
    from onnx import TensorProto

    keys, table, default, missing = lookup
    keys = [*keys, MISSING_CATEGORY]
    table = np.vstack([table, missing[None, :]])
    return [g.cast(g.op("LabelEncoder", [x], domain="ai.onnx.ml", keys_strings=keys,
                        values_floats=[float(v) for v in table[:, k]],
                        default_float=float(default[k])), TensorProto.DOUBLE)
            for k in range(table.shape[1])]


def _dates(g: Graph, x: str, parts: list[str]) -> list[str]:
    """``DatetimeFeatures`` from int64 nanoseconds since 1970 (numpy's NaT, the smallest int64,
    for missing), bit for bit: days and hours by exact integer floor division, the civil calendar
    from the day number (H. Hinnant's ``civil_from_days``, exact in double), ``epoch_days`` as
    numpy computes it (nanoseconds as a double over 86400e9)."""
    from onnx import TensorProto

    missing = g.op("Equal", [x, g.const(np.iinfo(np.int64).min, np.int64)])
    x = g.where(missing, g.const(0, np.int64), x)
    day_ns = g.const(86_400 * 10**9, np.int64)
    in_day = g.op("Mod", [x, day_ns])  # sign of the divisor: floor semantics
    days = g.cast(g.div(g.sub(x, in_day), day_ns), TensorProto.DOUBLE)
    hour = g.cast(g.div(in_day, g.const(3_600 * 10**9, np.int64)), TensorProto.DOUBLE)
    epoch_days = g.div(g.cast(x, TensorProto.DOUBLE), g.const(86400e9))
    z = g.add(days, g.const(719468.0))
    era = g.floor(g.div(z, g.const(146097.0)))
    doe = g.sub(z, g.mul(era, g.const(146097.0)))
    yoe = g.floor(g.div(
        g.add(g.sub(doe, g.floor(g.div(doe, g.const(1460.0)))),
              g.sub(g.floor(g.div(doe, g.const(36524.0))), g.floor(g.div(doe, g.const(146096.0))))),
        g.const(365.0)))
    doy = g.sub(doe, g.add(g.mul(yoe, g.const(365.0)),
                           g.sub(g.floor(g.div(yoe, g.const(4.0))),
                                 g.floor(g.div(yoe, g.const(100.0))))))
    mp = g.floor(g.div(g.add(g.mul(doy, g.const(5.0)), g.const(2.0)), g.const(153.0)))
    day = g.add(g.sub(doy, g.floor(g.div(g.add(g.mul(mp, g.const(153.0)), g.const(2.0)),
                                         g.const(5.0)))), g.const(1.0))
    late = g.op("GreaterOrEqual", [mp, g.const(10.0)])  # January, February
    month = g.where(late, g.sub(mp, g.const(9.0)), g.add(mp, g.const(3.0)))
    year = g.add(g.add(yoe, g.mul(era, g.const(400.0))), g.where(late, g.const(1.0), g.const(0.0)))
    # day of year: March 1 is day 60 (+1 in a leap year); January 1 is ``doy`` 306
    leap = g.op("Or", [
        g.op("And", [_divisible(g, year, 4.0), g.op("Not", [_divisible(g, year, 100.0)])]),
        _divisible(g, year, 400.0)])
    leap_days = g.where(leap, g.const(1.0), g.const(0.0))
    day_of_year = g.where(late, g.sub(doy, g.const(305.0)),
                          g.add(g.add(doy, g.const(60.0)), leap_days))
    calendar = {"year": year, "month": month, "day": day,
                "day_of_week": g.fmod(g.add(days, g.const(3.0)), 7.0),
                "day_of_year": day_of_year, "epoch_days": epoch_days, "hour": hour}
    cycles = {"month": 12.0, "day_of_week": 7.0, "hour": 24.0}
    out = []
    nan = g.const(float("nan"))
    for part in parts:
        if part.endswith(("_sin", "_cos")):
            # the parts are whole numbers below their cycle: look up numpy's own values, since
            # onnxruntime's Sin/Cos differ from numpy's in the last bits (and splits notice)
            base = part[:-4]
            steps = np.arange(int(cycles[base]) + 1, dtype=float)
            angle = 2 * np.pi * steps / cycles[base]
            table = np.sin(angle) if part.endswith("_sin") else np.cos(angle)
            clean = g.where(missing, g.const(0.0), calendar[base])
            index = g.op("Reshape", [g.cast(clean, TensorProto.INT64), g.const([-1], np.int64)])
            v = g.op("Gather", [g.const(table.reshape(-1, 1)), index], axis=0)
        else:
            v = calendar[part]
        out.append(g.where(missing, nan, v))
    return out


def _divisible(g: Graph, x: str, m: float) -> str:
    return g.op("Equal", [g.fmod(x, m), g.const(0.0)])


def _one_hot(g: Graph, enc: Any, columns: list[str], inputs: dict[str, str]) -> str:
    """A fitted OneHotEncoder, read by probing it: each known level (missing and an unseen one
    included) is transformed and its hot column noted, so infrequent buckets and the handling of
    unknown levels come out exactly as scikit-learn does them."""
    from onnx import TensorProto

    names = list(enc.feature_names_in_)
    widths = list(enc._n_features_outs)  # output columns per input column
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
    probes = [[*[str(c) for c in cats if not _isnan(c)], np.nan, _UNSEEN]
              for cats in enc.categories_]
    # one transform for every column's probes (each column is encoded on its own: column j's
    # first len(probes[j]) rows are its probes, the rest repeat its first); one frame per column
    # took columns x columns cells: 145 s for permeability_qsar's ~1,000 columns
    n_rows = max(len(p) for p in probes)
    frame = pd.DataFrame({name: pd.Series(probes[i] + [probes[i][0]] * (n_rows - len(probes[i])),
                                          dtype=object) for i, name in enumerate(names)})
    out = enc.transform(frame)
    out = out.tocsc() if hasattr(out, "tocsc") else np.asarray(out)  # sliced by column below
    blocks = []
    for j, c in enumerate(names):
        if widths[j] == 0:
            continue
        block = out[:len(probes[j]), offsets[j]:offsets[j + 1]]
        block = block.toarray() if hasattr(block, "toarray") else block
        keys, values, default = [], [], -1
        for value, row in zip(probes[j], block, strict=True):
            local = int(np.flatnonzero(row)[0]) if row.any() else -1
            if isinstance(value, str) and value == _UNSEEN:
                default = local
            else:
                keys.append(MISSING_CATEGORY if _isnan(value) else value)
                values.append(local)
        idx = g.op("LabelEncoder", [inputs[c]], domain="ai.onnx.ml", keys_strings=keys,
                   values_int64s=values, default_int64=default)
        hot = g.op("Equal", [idx, g.const(np.arange(widths[j], dtype=np.int64).reshape(1, -1))])
        blocks.append(g.cast(hot, TensorProto.DOUBLE))
    return g.concat(blocks)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and np.isnan(v)
