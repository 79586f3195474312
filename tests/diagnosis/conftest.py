"""Real training histories for the diagnosis tests: scikit-learn MLPs trained epoch by epoch with
``partial_fit`` on real (breast cancer, digits) or generated data, with deliberately broken
settings. Each epoch logs what a trainer logs: the epoch's mean training loss (``loss_``), the
validation log loss, both accuracies, the learning rate and the gradient norm at the epoch's
end. Seeds are fixed: the same histories every run."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest


def grad_norm(m, X: np.ndarray, Y: np.ndarray) -> float:
    """The L2 norm of the gradient of ``m``'s training objective (mean loss + L2 penalty) over
    all weights and biases, by backpropagation through its ReLU layers."""
    acts = [X]
    with np.errstate(all="ignore"):
        for i, (W, b) in enumerate(zip(m.coefs_, m.intercepts_, strict=True)):
            z = acts[-1] @ W + b
            if i < len(m.coefs_) - 1:
                z = np.maximum(z, 0)
            elif m.out_activation_ == "logistic":
                z = 1 / (1 + np.exp(-z))
            elif m.out_activation_ == "softmax":
                z = np.exp(z - z.max(1, keepdims=True))
                z /= z.sum(1, keepdims=True)
            acts.append(z)
        delta, sq = acts[-1] - Y, 0.0
        for i in reversed(range(len(m.coefs_))):
            gw = (acts[i].T @ delta + m.alpha * m.coefs_[i]) / len(X)
            sq += float((gw ** 2).sum() + (delta.mean(0) ** 2).sum())
            if i:
                delta = (delta @ m.coefs_[i].T) * (acts[i] > 0)
        return math.sqrt(sq) if math.isfinite(sq) else math.inf


def _log_loss(y: np.ndarray, p: np.ndarray, classes: np.ndarray) -> float:
    if not np.isfinite(p).all():
        return math.nan
    p = np.clip(p, 1e-15, 1)
    return float(-np.log(p[np.arange(len(y)), np.searchsorted(classes, y)]).mean())


def train_classifier(X, y, *, epochs=60, seed=0, scale=True, shuffle_labels=False,
                     val_unscaled=False, n_train=None, **params) -> pd.DataFrame:
    """A history of ``MLPClassifier(**params)`` on a stratified 70/30 split; a run whose
    weights blow up ends as a real trainer's would, with the non-finite epoch logged."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    if shuffle_labels:
        y = rng.permutation(y)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    if n_train:
        Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    if scale:
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xva = scaler.transform(Xtr), (Xva if val_unscaled else scaler.transform(Xva))
    model = MLPClassifier(random_state=seed, **params)
    classes = np.unique(y)
    Y = (ytr[:, None] == classes[None, :]).astype(float)
    Y = Y[:, 1:] if len(classes) == 2 else Y
    rows = []
    for epoch in range(epochs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                model.partial_fit(Xtr, ytr, classes=classes)
            except ValueError:  # "Solver produced non-finite parameter weights": the run died
                rows.append({"epoch": epoch, "loss": math.nan, "val_loss": math.nan,
                             "lr": model.learning_rate_init})
                break
            ptr, pva = model.predict_proba(Xtr), model.predict_proba(Xva)
        finite = bool(np.isfinite(ptr).all() and np.isfinite(pva).all())
        rows.append({
            "epoch": epoch, "loss": float(model.loss_), "val_loss": _log_loss(yva, pva, classes),
            "accuracy": float(np.mean(classes[ptr.argmax(1)] == ytr)) if finite else math.nan,
            "val_accuracy": float(np.mean(classes[pva.argmax(1)] == yva)) if finite else math.nan,
            "lr": model.learning_rate_init, "grad_norm": grad_norm(model, Xtr, Y)})
    return pd.DataFrame(rows)


def train_regressor(X, y, *, epochs=60, seed=0, **params) -> pd.DataFrame:
    """A history of ``MLPRegressor(**params)`` (scaled inputs and target): squared-error loss
    as the optimizer sees it, validation MSE/2 (the same scale) and R2."""
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=seed)
    sx = StandardScaler().fit(Xtr)
    mu, sd = ytr.mean(), ytr.std()
    Xtr, Xva, ytr, yva = sx.transform(Xtr), sx.transform(Xva), (ytr - mu) / sd, (yva - mu) / sd
    model = MLPRegressor(random_state=seed, **params)
    rows = []
    for epoch in range(epochs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(Xtr, ytr)
        ptr, pva = model.predict(Xtr), model.predict(Xva)
        rows.append({"epoch": epoch, "loss": float(model.loss_),
                     "val_loss": float(np.mean((pva - yva) ** 2) / 2),
                     "r2": r2_score(ytr, ptr), "val_r2": r2_score(yva, pva)})
    return pd.DataFrame(rows)


def _data():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_classification

    return {"cancer": load_breast_cancer(return_X_y=True), "digits": load_digits(return_X_y=True),
            "noisy": make_classification(n_samples=400, n_features=20, n_informative=6,
                                         flip_y=0.1, random_state=0),
            "diabetes": load_diabetes(return_X_y=True)}


# scenario -> (data set, training settings); what each must show is asserted in test_checks.py
SCENARIOS = {
    "healthy": ("cancer", {"hidden_layer_sizes": (32,), "learning_rate_init": 0.01,
                           "alpha": 1e-3, "epochs": 40}),
    "blow_up": ("cancer", {"hidden_layer_sizes": (32,), "solver": "sgd",
                           "learning_rate_init": 50.0, "momentum": 0.9}),
    "huge_rate": ("cancer", {"hidden_layer_sizes": (32,), "solver": "sgd", "alpha": 0.0,
                             "learning_rate_init": 1.5, "momentum": 0.9, "batch_size": 32}),
    "shuffled": ("cancer", {"hidden_layer_sizes": (8,), "shuffle_labels": True, "epochs": 40}),
    "tiny_rate": ("cancer", {"hidden_layer_sizes": (32,), "solver": "sgd",
                             "learning_rate_init": 2e-4, "momentum": 0.0}),
    "unscaled": ("cancer", {"hidden_layer_sizes": (32,), "scale": False, "solver": "sgd",
                            "learning_rate_init": 1e-6, "momentum": 0.9}),
    "too_small": ("digits", {"hidden_layer_sizes": (1,), "learning_rate_init": 0.01}),
    "memorise": ("noisy", {"n_train": 80, "epochs": 100, "hidden_layer_sizes": (256,),
                           "alpha": 0.0, "learning_rate_init": 0.002, "seed": 2}),
    "val_unscaled": ("cancer", {"val_unscaled": True, "hidden_layer_sizes": (32,),
                                "learning_rate_init": 0.01, "alpha": 1e-3, "epochs": 40}),
}


@pytest.fixture(scope="session")
def datasets():
    return _data()


@pytest.fixture(scope="session")
def histories(datasets) -> dict[str, pd.DataFrame]:
    """Every scenario's history, trained once per session (~3 s in all)."""
    out = {name: train_classifier(*datasets[data], **params)
           for name, (data, params) in SCENARIOS.items()}
    out["regression"] = train_regressor(*datasets["diabetes"], hidden_layer_sizes=(32,),
                                        learning_rate_init=0.01, alpha=1e-3)
    return out


@pytest.fixture(scope="session")
def priors(datasets) -> dict[str, list[float]]:
    """Each scenario's class shares (of its whole data set, as a user would compute them)."""
    return {name: (np.bincount(datasets[data][1]) / len(datasets[data][1])).tolist()
            for name, (data, _) in SCENARIOS.items()}
