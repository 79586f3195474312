"""The conformance suite of the model-library registry, generated from it: every registered
adapter x every capability. A capability an adapter implements must agree with the model's own
predict (compiled numpy, a fold bag, ONNX, contributions summing to the prediction); one it
declares unsupported (``None``) must make its caller take the named fallback; one neither
implemented nor declared fails here. Small tables, few trees, one fit per (family, task)."""
from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
from scipy.special import expit

from mlexpert.compiled import compile_bag, compile_estimator
from mlexpert.ensemble import Member
from mlexpert.errors import ConfigError, ExportError
from mlexpert.models import ADAPTERS, CAPABILITIES, FALLBACKS, Adapter, Unsupported, adapter_for
from tests.conftest import TASKS
from tests.export._parity import assert_parity, converted_tree_nodes
from tests.export.conftest import fit_member, make_model, split

SHORT = {"compile": "compile", "compile_bag": "bag", "onnx": "onnx", "contributions": "shap",
         "fit_dask": "dask", "tree_nodes": "nodes"}
PER_TASK = ("fit", "compile", "onnx", "contributions", "tree_nodes")  # checked on every task
DASK_SIGNATURE = ["client", "data", "params", "task", "n_classes", "categorical", "rounds", "seed",
                  "metric"]


class Fits:
    """Fits shared by the whole module: one per (family, task), plus two folds for bags."""

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple] = {}

    def get(self, name: str, task: str, fold: int | None = None) -> tuple:
        """(model, test rows, prepared test matrix, fitted) of ``name`` on ``task``; a fold
        sees two thirds of the training rows (``fold`` 0: the first, 1: the last)."""
        key = (name, task, fold)
        if key not in self._cache:
            train, test = split(task)
            n = len(train)
            rows = None if fold is None else \
                (np.arange(0, n * 2 // 3) if fold == 0 else np.arange(n // 3, n))
            schema, classes, part = fit_member(name, task, train, rows=rows)
            model = make_model(task, schema, classes, [Member(name, name, 1.0, [part], True)])
            Xt = part[0].transform(schema.prepare(test))
            self._cache[key] = (model, test, Xt, part[1])
        return self._cache[key]


@pytest.fixture(scope="module")
def fits() -> Fits:
    return Fits()


@pytest.fixture(scope="module")
def session_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return so


def _cases() -> list:
    out = []
    for name in ADAPTERS:
        for capability in ("fit", *CAPABILITIES):
            tasks = TASKS if capability in PER_TASK else ("binary",)
            for task in tasks:
                label = f"{name}-{SHORT.get(capability, capability)}"
                out.append(pytest.param(name, capability, task, id=label if len(tasks) == 1
                                        else f"{label}-{task}"))
    return out


# -- the contract itself ---------------------------------------------------------------------
def test_the_adapter_declares_exactly_the_capabilities_the_suite_checks():
    fields = [f for f in Adapter.__dataclass_fields__ if f not in ("family", "owns")]
    assert fields == list(CAPABILITIES)
    assert set(CHECKS) == set(CAPABILITIES) and set(FALLBACKS) == set(CAPABILITIES)


@pytest.mark.parametrize("name, capability",
                         [pytest.param(n, c, id=f"{n}-{SHORT[c]}-declared")
                          for n in ADAPTERS for c in CAPABILITIES])
def test_every_capability_is_implemented_or_declared_unsupported(name, capability):
    value = getattr(ADAPTERS[name], capability)
    assert value is None or callable(value), f"{name}.{capability} is {value!r}"
    if value is None:
        with pytest.raises(Unsupported, match=FALLBACKS[capability].split(" (")[0]):
            ADAPTERS[name].need(capability)
    else:
        assert ADAPTERS[name].need(capability) is value


def test_the_registry_is_keyed_by_family_name():
    assert all(a.name == name == a.family.name for name, a in ADAPTERS.items())


@pytest.mark.parametrize("name, capability, task", _cases())
def test_capability(fits, session_options, name, capability, task):
    adapter = ADAPTERS[name]
    if name == "mlp":  # fitted with the ``deep`` extra; it predicts without it
        pytest.importorskip("torch")
    if capability == "fit":
        return _check_fit(fits, adapter, task)
    if getattr(adapter, capability) is None:
        return FALLBACK_CHECKS[capability](fits, adapter, task)
    CHECKS[capability](fits, adapter, task, session_options)


# -- implemented capabilities ----------------------------------------------------------------
def _check_fit(fits, adapter, task):
    """Fitted on missing values and categories; mapped back to its adapter by the family it
    records and, without it (a Fitted from an old bundle), by its estimator's type alone."""
    model, test, Xt, fitted = fits.get(adapter.name, task)
    pred = fitted.predict(Xt)
    k = len(model.classes or [])
    assert pred.shape == ((len(test),) if task == "regression" else (len(test), k))
    assert np.isfinite(pred).all()
    assert fitted.family == adapter.name and adapter_for(fitted) is adapter
    old = copy.copy(fitted)
    del old.__dict__["family"]  # as unpickled from a version-1 bundle
    assert adapter_for(old) is adapter
    assert [a.name for a in ADAPTERS.values() if a.owns(fitted.estimator)] == [adapter.name]


def _check_compile(fits, adapter, task, _):
    """Numpy agrees with the model's own predict, for one row, two and many."""
    _, _, Xt, fitted = fits.get(adapter.name, task)
    compiled = compile_estimator(fitted)
    assert compiled is not fitted.predict  # not the fallback
    want = fitted.predict(Xt)
    for rows in (slice(0, 1), slice(1, 3), slice(None)):
        np.testing.assert_allclose(compiled(Xt[rows]), want[rows], rtol=0, atol=1e-9)


def _check_bag(fits, adapter, task, _):
    """Two fold models in one call: the sum of their own predictions, each on its own input."""
    (_, _, Xa, a), (_, _, Xb, b) = fits.get(adapter.name, task, 0), fits.get(adapter.name, task, 1)
    bag = compile_bag([a, b])
    assert bag is not None
    want = a.predict(Xa) + b.predict(Xb)
    for rows in (slice(0, 1), slice(0, 2), slice(None)):
        np.testing.assert_allclose(bag(Xa[rows], Xb[rows]), want[rows], rtol=0, atol=1e-9)


def _check_onnx(fits, adapter, task, session_options):
    """The graph answers as the model (labels equal, probabilities within 1e-5)."""
    model, test, _, _ = fits.get(adapter.name, task)
    assert_parity(model, test, session_options)


def _check_contributions(fits, adapter, task, _):
    """Contributions plus the base value give the prediction in the space they are in."""
    model, _, Xt, fitted = fits.get(adapter.name, task)
    k = len(model.classes or [])
    C = k if task == "multiclass" else 1
    phi, base, space = adapter.contributions(fitted, Xt, task, C)
    assert phi.shape == (Xt.shape[0], Xt.shape[1], C) and base.shape == (Xt.shape[0], C)
    total = base + phi.sum(axis=1)
    pred = fitted.predict(Xt)
    if space == "value":
        want = pred[:, None]
    elif space == "probability":
        want = pred[:, 1:2] if task == "binary" else pred
    else:
        assert space == "margin"
        if task == "binary":
            total = expit(total)
            want = pred[:, 1:2]
        else:
            e = np.exp(total - total.max(axis=1, keepdims=True))
            total, want = e / e.sum(axis=1, keepdims=True), pred
    np.testing.assert_allclose(total, want, atol=1e-5)


def _check_fit_dask(fits, adapter, task, _):
    """Declared with the signature ``distributed.train_on_cluster`` calls, and trained there
    (the real LocalCluster fits are ``tests/distributed/test_train.py``)."""
    from mlexpert.distributed import _train

    assert list(inspect.signature(adapter.fit_dask).parameters) == DASK_SIGNATURE
    assert adapter.name in _train.FAMILIES


def _check_tree_nodes(fits, adapter, task, _):
    """The count, read without converting, is the nodes the conversion adds to a graph."""
    from mlexpert.models import counted_tree_nodes

    _, _, _, fitted = fits.get(adapter.name, task)
    assert adapter.tree_nodes(fitted) == counted_tree_nodes([fitted]) == \
        converted_tree_nodes([fitted]) > 0


CHECKS = {"compile": _check_compile, "compile_bag": _check_bag, "onnx": _check_onnx,
          "contributions": _check_contributions, "fit_dask": _check_fit_dask,
          "tree_nodes": _check_tree_nodes}


# -- declared unsupported: the caller's fallback is taken, and named -------------------------
def _fallback_compile(fits, adapter, task):
    _, _, _, fitted = fits.get(adapter.name, task)
    assert compile_estimator(fitted) == fitted.predict  # the model's own predict


def _fallback_bag(fits, adapter, task):
    _, _, _, fitted = fits.get(adapter.name, task)
    assert compile_bag([fitted, fitted]) is None  # one compiled call per fold model


def _fallback_onnx(fits, adapter, task):
    model, _, _, _ = fits.get(adapter.name, task)
    from mlexpert.export import to_onnx

    with pytest.raises(ExportError, match="no ONNX converter"):
        to_onnx(model)


def _fallback_contributions(fits, adapter, task):
    from mlexpert.explain import contributions

    model, test, _, _ = fits.get(adapter.name, task)
    with pytest.raises(ConfigError, match="contributions are not available"):
        contributions(model._members, model.schema.prepare(test), task, len(model.classes or []))


def _fallback_fit_dask(fits, adapter, task):
    from mlexpert.distributed import _train

    assert adapter.name not in _train.FAMILIES  # not on the cluster
    with pytest.raises(Unsupported, match="not on the cluster"):
        adapter.need("fit_dask")


def _fallback_tree_nodes(fits, adapter, task):
    """Not counted beforehand: the conversion counts its trees as it writes them (a graph
    with no room for a tree refuses the model there), or has none (a linear model, the mlp)."""
    from mlexpert.models import Graph, counted_tree_nodes

    _, _, _, fitted = fits.get(adapter.name, task)
    assert counted_tree_nodes([fitted]) == 0
    g = Graph(0)
    try:
        adapter.need("onnx")(g, fitted, "x")
    except ExportError as exc:
        assert "the graph would hold" in str(exc)
    else:
        assert g.tree_nodes == 0


FALLBACK_CHECKS = {"compile": _fallback_compile, "compile_bag": _fallback_bag,
                   "onnx": _fallback_onnx, "contributions": _fallback_contributions,
                   "fit_dask": _fallback_fit_dask, "tree_nodes": _fallback_tree_nodes}
