"""The model-family contract: what to build, its portfolio of configurations, how to fit it.

A family is stateless; ``fit`` returns a picklable :class:`Fitted` whose ``predict`` gives class
probabilities (n, K) for classification or values (n,) for regression. Every fit honours a
deadline: boosting stops adding rounds and forests stop adding trees when it passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from mlexpert._clock import Deadline

if TYPE_CHECKING:
    from mlexpert.features import Kind as Preprocessing

Kind = Literal["tree", "linear"]
LIBRARY_DEFAULTS = "library_defaults"  # a config holding only this key: the library as shipped
# A search parameter, not the library's: False fits a tree family on the columns without level
# encodings (native categories only); the tuner lets cross-validation choose where it matters
LEVELS = "level_encodings"
# Another: True fits the family on free text as sentence embeddings (the ``deep`` extra) instead
# of TF-IDF; the portfolio has candidates of each on a table with text, and the tuner lets
# cross-validation choose
EMBEDDINGS = "text_embeddings"
SEARCH_KEYS = (LEVELS, EMBEDDINGS)


@dataclass
class FitRequest:
    """Everything one fit needs besides the family's own parameters."""

    task: str
    n_classes: int
    categorical: list[int]
    seed: int
    deadline: Deadline
    n_threads: int = 1
    sample_weight: np.ndarray | None = None
    X_val: Any = None
    y_val: np.ndarray | None = None
    size_share: float = 1.0  # the share of a family's model size cap this fit may take: the K
    # fold models of one candidate are held together (1/K each), a refit alone (1)
    one_hot_blocks: list[list[int]] = field(default_factory=list)  # the input columns each
    # categorical's one-hot encoding took (linear kinds; ``features.one_hot_blocks``): a family
    # may read such a block as one categorical (the mlp's embeddings)


@dataclass
class Fitted:
    """A fitted estimator plus what the search needs to know about how the fit went."""

    estimator: Any
    task: str
    n_classes: int
    best_iteration: int | None = None
    truncated: bool = False  # stopped by the deadline rather than by convergence
    extra: dict[str, Any] = field(default_factory=dict)
    family: str | None = None  # the registered family that fitted it (None in old bundles)
    offset: int | None = None  # regression: the input column the estimator predicts a change
    offset_fill: float = 0.0  # from (an entity's last known target), this where it is missing,
    offset_relative: bool = False  # the change as a log ratio (a quantity that grows in %)

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            out = np.asarray(self.estimator.predict(_adapt(self, X)), dtype=float)
            return out if self.offset is None else self.from_change(out, X)
        proba = np.asarray(self.estimator.predict_proba(_adapt(self, X)), dtype=float)
        classes = np.asarray(self.estimator.classes_).astype(int)
        if proba.shape[1] == self.n_classes and np.array_equal(classes, np.arange(self.n_classes)):
            return proba
        full = np.zeros((proba.shape[0], self.n_classes))  # a class absent from the training fold
        full[:, classes] = proba
        return full

    def baseline(self, X: Any) -> np.ndarray:
        """The value the estimator's prediction is added to: input column ``offset``, missing
        values filled (zeros without an offset)."""
        if self.offset is None:
            return np.zeros(X.shape[0])
        return _filled(_column(X, self.offset), self.offset_fill)

    def from_change(self, change: np.ndarray, X: Any) -> np.ndarray:
        """The prediction from the estimator's output: the baseline plus the change, or times
        its exponential (``offset_relative``)."""
        base = self.baseline(X)
        return base * np.exp(change) if self.offset_relative else base + change


@dataclass(frozen=True)
class Offset:
    """The input column a regression model predicts the change from, and whether the change is
    a log ratio (``relative``) rather than a difference."""

    column: int
    relative: bool = False


def fit_from_offset(family: Family, X: Any, y: np.ndarray, params: dict[str, Any],
                    req: FitRequest, offset: Offset | None) -> Fitted:
    """``family.fit``, or for regression with an ``offset``, the fit of the change from its
    column (y minus the column, or log(y / column) when ``relative``; missing values filled with
    the mean of y): what trees, which cannot extrapolate a level, need where the level drifts
    (an entity's last known target). The Fitted turns its output back on every predict."""
    if offset is None or req.task != "regression":
        return family.fit(X, y, params, req)
    fill = float(np.mean(y)) if len(y) else 0.0
    relative = offset.relative and fill > 0

    def change(values: np.ndarray, base: np.ndarray) -> np.ndarray:
        return np.log(values / base) if relative else values - base

    if req.X_val is not None and req.y_val is not None:
        req = replace(req, y_val=change(req.y_val, _filled(_column(req.X_val, offset.column),
                                                            fill)))
    fitted = family.fit(X, change(y, _filled(_column(X, offset.column), fill)), params, req)
    fitted.offset, fitted.offset_fill, fitted.offset_relative = offset.column, fill, relative
    return fitted


def _column(X: Any, j: int) -> np.ndarray:
    if hasattr(X, "iloc"):
        return X.iloc[:, j].to_numpy(dtype=float)
    if hasattr(X, "tocsc"):
        return np.asarray(X[:, j].toarray(), dtype=float).ravel()
    return np.asarray(X[:, j], dtype=float)


def _filled(values: np.ndarray, fill: float) -> np.ndarray:
    return np.where(np.isnan(values), fill, values)


def _adapt(fitted: Fitted, X: Any) -> Any:
    adapter = fitted.extra.get("adapter")
    return adapter(X) if adapter is not None else X


class Family(Protocol):
    """One model family: a name, the preprocessing it wants, a portfolio, and a fit."""

    name: str
    kind: Kind

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        """Named configurations in order of expected value (strong defaults first)."""
        ...

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        """Fit on (X, y); early-stop on ``req.X_val`` when given; stop at ``req.deadline``."""
        ...

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        """Parameters to refit on all rows, given the fold fits (e.g. their mean best round)."""
        ...

    def search_space(self, task: str) -> dict[str, Any]:
        """Optuna distributions of the parameters worth tuning (empty: not tuned), with their
        defaults under the name ``"_defaults"`` so that portfolio configurations map into it."""
        ...


def preprocessing(family: Family, params: dict[str, Any]) -> Preprocessing:
    """The preprocessing kind of ``family`` fitted with ``params``: ``"native"`` for a tree
    library as shipped (``LIBRARY_DEFAULTS``: the default model compared against is the one a
    user would run) or told ``LEVELS=False``, else the family's kind; with ``EMBEDDINGS=True``
    that kind's embedding variant (``features.EMBED``: free text as sentence embeddings)."""
    native = params.get(LIBRARY_DEFAULTS) or params.get(LEVELS) is False
    kind = "native" if family.kind == "tree" and native else family.kind
    return f"{kind}_embed" if params.get(EMBEDDINGS) else kind  # type: ignore[return-value]


def library_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the search's own keys (``SEARCH_KEYS``): what the family's fit gets."""
    return {k: v for k, v in params.items() if k not in SEARCH_KEYS}
