"""A small tabular MLP (of the RealMLP kind) trained with PyTorch, predicting without it.

Inputs are the ``linear`` preprocessing's columns (median-imputed and standard-scaled numbers
with missing indicators, capped one-hot levels, scaled dates and level encodings, TF-IDF).
Standard scaling divides by a standard deviation that outliers inflate, and a row far outside
the training range reaches the network unchanged, so the model re-centres each column on its
median, divides by its interquartile range (columns whose IQR is 0, and one-hot levels, are
left as they are) and clips smoothly: ``z / sqrt(1 + (z / 3)^2)`` (RealMLP's soft clip).
With ``embedding="plr"`` (the default) the continuous columns then pass through periodic
embeddings (``models._periodic``) before the first layer. One-hot columns
(``FitRequest.one_hot_blocks``) are left as they are, even a level of 25-75 % of rows (which has
an IQR of its own); a block wider than ``models._categories.MAX_ONE_HOT`` columns may be looked
up in a learned table of ``category_dim``-wide vectors instead (0, the default: one-hot; the
tuner tries ``CATEGORY_DIMS``), and a level without a column of its own (unseen, no rare group)
then gets the zero vector, as the linear family reads it.

Training (``MLPFamily.fit``): mini-batches from a seeded DataLoader, AdamW, a linear warm-up
then cosine decay of the learning rate set at every batch, gradient-norm clipping, early stopping
on ``req.X_val`` (else an internal 10 % split) with the best epoch's weights kept in memory and
restored, ``req.n_threads`` threads, seeded and deterministic kernels on CPU; on CUDA the GPU
with bfloat16 autocast. ``req.deadline`` is checked before every batch; when the first epoch
shows that the planned epochs cannot finish in time, the schedule is shortened to the epochs
that can (the decay then completes instead of stopping at a high learning rate).

The fitted estimator (``MLPEstimator``) holds numpy arrays only: bundles load and predict
without torch, and without its ~1-2 s import. Its forward pass is the compiled path as is, and
the same operations in ONNX. Contributions are sampled baseline Shapley values (below). Its
fold fits run on Dask workers as any family's do; there is no training over a Dask-partitioned
table (``fit_dask``).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from mlexpert.models._adapter import (
    Adapter,
    Unsupported,
    all_classes,
    instance_of,
    model_classes,
)
from mlexpert.models._base import FitRequest, Fitted
from mlexpert.models._categories import DIM as CATEGORY_DIM
from mlexpert.models._categories import CategoryEmbedding, category_module, embedded_blocks
from mlexpert.models._graph import Graph
from mlexpert.models._periodic import (
    SIGMA,
    PeriodicEmbedding,
    embedded_columns,
    plr_module,
)
from mlexpert.models._trees_onnx import onnx_full

CLIP = 3.0  # the soft clip's scale, in robust standard deviations
MAX_BATCH = 256
MIN_BATCH = 16
MIN_STEPS = 8  # batches per epoch on small tables (the batch shrinks down to MIN_BATCH)
WARMUP = 0.05  # share of the schedule the learning rate rises over
FINAL_LR = 0.02  # the cosine decays to this share of the peak learning rate
VALIDATION_SHARE = 0.1  # held out for early stopping when the request brings no validation rows
MIN_VALIDATION = 20
STAT_ROWS = 10_000  # rows the robust statistics are computed on (a seeded sample beyond)
PREDICT_CHUNK = 8192
DEFAULTS: dict[str, Any] = {"width": 256, "depth": 3, "dropout": 0.1, "lr": 2e-3,
                            "weight_decay": 1e-4, "activation": "silu", "epochs": 64,
                            "patience": 12, "batch_size": MAX_BATCH, "embedding": "plr",
                            "embedding_scale": SIGMA, "category_dim": 0}
EMBEDDINGS = ("plr", "none")
# categorical embeddings (``category_dim``) are tuned, not the default: three-fold CV of the mlp
# alone over 2 seeds (/tmp script, session 26), one-hot (0) vs 4 / 8 / 16 wide: cigar RMSE 7.54
# vs 8.18 / 7.42 / 7.32, benefits AUC 0.6615 vs 0.6588 / 0.6548 / 0.6600, kershaw log loss
# 0.0121 vs 0.0148 / 0.0131 / 0.0173, tate RMSE 3.873 vs 3.900 / 3.909 / 3.891; at 8:
# lendingclub AUC 0.7311 vs 0.7315, verbagg log loss 0.8138 vs 0.8128. Leaving one-hot columns
# unscaled (a level of 25-75 % of rows had been rescaled and periodically embedded as a number),
# same CV: better on 5 of 8 tasks (kershaw 0.0149 -> 0.0121, lendingclub AUC 0.7282 -> 0.7311),
# cigar equal, verbagg 0.8124 -> 0.8138 and telco 0.8476 -> 0.8470 worse
CATEGORY_DIMS = (0, 4, CATEGORY_DIM, 16)
# seconds a training row takes an epoch (forward, backward, step; periodic embeddings of 20-40
# columns) on one core of the 2-core dev machine: 38-56 us measured on 2,000-8,000 random rows,
# niced while a benchmark ran on the other core (an upper figure)
EPOCH_ROW_SECONDS = 50e-6


# -- the estimator: numpy only -----------------------------------------------------------------
class MLPEstimator:
    """A trained MLP as numpy arrays: robust input scaling, soft clip, the categorical
    embeddings (``categories``, None without), the periodic embeddings (``embedding``, None
    without), affine layers.

    ``layers`` is a list of (W (in, out), b (out,)) in float64; every layer but the last is
    followed by ``activation``. Classification: the last layer gives one logit per class in
    ``classes_`` (softmax); regression: one value (the target's scaling folded in)."""

    embedding: PeriodicEmbedding | None = None  # bundles saved before embeddings have none
    categories: CategoryEmbedding | None = None  # nor these

    def __init__(self, center: np.ndarray, scale: np.ndarray, layers: list[tuple[np.ndarray,
                 np.ndarray]], activation: str, classes: np.ndarray | None,
                 embedding: PeriodicEmbedding | None = None,
                 categories: CategoryEmbedding | None = None):
        self.center, self.scale, self.layers = center, scale, layers
        self.activation = activation
        self.classes_ = classes
        self.embedding = embedding
        self.categories = categories

    def raw(self, X: Any) -> np.ndarray:
        """Logits (n, classes) or values (n, 1), in chunks of ``PREDICT_CHUNK`` rows."""
        n = X.shape[0]
        if n <= PREDICT_CHUNK:
            return forward(self, X)
        return np.vstack([forward(self, X[i:i + PREDICT_CHUNK]) for i in range(0, n, PREDICT_CHUNK)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return softmax(self.raw(X))

    def predict(self, X: Any) -> np.ndarray:
        out = self.raw(X)
        if self.classes_ is None:
            return out[:, 0]
        return np.asarray(self.classes_)[out.argmax(axis=1)]


def dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=float)


def soft_clip(z: np.ndarray) -> np.ndarray:
    return z / np.sqrt(1.0 + (z / CLIP) ** 2)


def softmax(z: np.ndarray) -> np.ndarray:
    if z.shape[1] == 2:  # no overflow for a large margin; equal to the softmax
        p1 = expit(z[:, 1] - z[:, 0])
        return np.column_stack([1.0 - p1, p1])
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(est: MLPEstimator, X: Any) -> np.ndarray:
    h = soft_clip((dense(X) - est.center) / est.scale)
    if est.categories is not None:
        h = est.categories.apply(h)
    if est.embedding is not None:
        h = est.embedding.apply(h)
    last = len(est.layers) - 1
    for i, (W, b) in enumerate(est.layers):
        h = h @ W + b
        if i < last:
            h = np.maximum(h, 0.0) if est.activation == "relu" else h * expit(h)
    return h


def robust_statistics(X: Any, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: the median and the interquartile range / 1.349 (a standard deviation for
    normal data), from at most ``STAT_ROWS`` rows; (0, 1) where the IQR is 0 (binary columns,
    mostly-constant ones): those keep the scale the preprocessing gave them; and which columns
    have an IQR of their own."""
    n = X.shape[0]
    rows = np.sort(np.random.default_rng(seed).choice(n, STAT_ROWS, replace=False)) \
        if n > STAT_ROWS else slice(None)
    sample = dense(X[rows])
    q25, median, q75 = np.quantile(sample, [0.25, 0.5, 0.75], axis=0)
    iqr = (q75 - q25) / 1.349
    robust = iqr > 1e-9
    return np.where(robust, median, 0.0), np.where(robust, iqr, 1.0), robust


# -- the family --------------------------------------------------------------------------------
class MLPFamily:
    name = "mlp"
    kind = "linear"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [("mlp", dict(DEFAULTS))]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        return train(self.name, X, y, {**DEFAULTS, **params}, req)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        """The fold fits' schedule (its length may have been shortened by the deadline) run
        on all rows up to their mean best epoch, without a validation split."""
        planned = [f.extra["epochs"] for f in fitted if "epochs" in f.extra]
        best = [f.best_iteration for f in fitted if f.best_iteration]
        if not planned or not best:
            return dict(params)
        epochs = int(round(np.mean(planned)))
        return {**params, "epochs": epochs, "stop_at": max(1, min(epochs, int(np.ceil(
            np.mean(best)))))}

    def expected_fold_seconds(self, n_rows: int, n_columns: int, threads: int) -> float:
        """What one fold's fit of the default configuration may take at most here: every
        planned epoch run (early stopping usually ends sooner), at ``EPOCH_ROW_SECONDS`` a row,
        more for wide tables."""
        width = max(1.0, n_columns / 20)
        return 0.5 + DEFAULTS["epochs"] * n_rows * EPOCH_ROW_SECONDS * width / max(1, threads) ** 0.5

    def search_space(self, task: str) -> dict[str, Any]:
        from mlexpert.models._common import space

        return space(DEFAULTS, lr=(3e-4, 1e-2, "log"), width=[128, 256, 512],
                     depth=(1, 4, "int"), dropout=(0.0, 0.4, "lin"),
                     weight_decay=(1e-6, 1e-1, "log"), embedding=list(EMBEDDINGS),
                     embedding_scale=(0.02, 2.0, "log"), category_dim=list(CATEGORY_DIMS))


def learning_rate(peak: float, progress: float) -> float:
    """The schedule at ``progress`` (0..1 of the planned steps): a linear warm-up over the first
    ``WARMUP`` share, then a cosine decay to ``FINAL_LR`` of the peak."""
    if progress < WARMUP:
        return peak * (0.1 + 0.9 * progress / WARMUP)
    t = min(1.0, (progress - WARMUP) / (1.0 - WARMUP))
    return peak * (FINAL_LR + (1.0 - FINAL_LR) * 0.5 * (1.0 + math.cos(math.pi * t)))


def batch_size(n: int, largest: int) -> int:
    """``largest`` rows, fewer on small tables so that an epoch has ``MIN_STEPS`` batches."""
    return int(max(MIN_BATCH, min(largest, n // MIN_STEPS)))


def epochs_that_fit(planned: int, done: int, epoch_seconds: float, left: float) -> int:
    """The schedule's length once ``done`` epochs took ``epoch_seconds`` each and ``left``
    seconds remain: ``planned`` when it fits, else the epochs that do (at least ``done + 1``)."""
    if epoch_seconds <= 0 or (planned - done) * epoch_seconds <= left:
        return planned
    return max(done + 1, min(planned, done + int(left / epoch_seconds)))


# -- training: torch, imported here only ------------------------------------------------------
class _Rows:
    """Map-style rows for the DataLoader: a list of indices gives one batch of tensors (inputs
    transformed on the fly when the table was too large to transform at once)."""

    def __init__(self, X: Any, target: np.ndarray, weight: np.ndarray,
                 transform: Callable[[Any], np.ndarray] | None):
        self.X, self.target, self.weight, self.transform = X, target, weight, transform

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, idx: list[int]) -> tuple[Any, Any, Any]:
        import torch

        x = self.X[idx] if self.transform is None else self.transform(self.X[idx])
        return (torch.from_numpy(x), torch.from_numpy(self.target[idx]),
                torch.from_numpy(self.weight[idx]))


def train(family: str, X: Any, y: np.ndarray, p: dict[str, Any], req: FitRequest) -> Fitted:
    """Fit the network with ``p`` (``DEFAULTS`` overridden); see the module's docstring."""
    import torch

    classification = req.task != "regression"
    n = X.shape[0]
    w = np.ones(n) if req.sample_weight is None else np.asarray(req.sample_weight, dtype=float)
    w = (w / w.mean() if w.mean() > 0 else np.ones(n)).astype(np.float32)
    X_val, y_val = req.X_val, req.y_val
    stop_at = p.get("stop_at")  # a refit: the fold fits' schedule up to their best epoch
    if stop_at is None and (X_val is None or y_val is None):
        n_val = max(MIN_VALIDATION, int(n * VALIDATION_SHARE))
        if n - n_val >= MIN_VALIDATION:
            order = np.random.default_rng(req.seed).permutation(n)
            val, fit_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
            X_val, y_val, X, y, w = X[val], y[val], X[fit_rows], y[fit_rows], w[fit_rows]
            n = X.shape[0]
    if stop_at is not None:
        X_val = y_val = None
    center, scale, robust = robust_statistics(X, req.seed)
    if p.get("embedding", "none") not in EMBEDDINGS:
        raise ValueError(f"mlp embedding {p['embedding']!r}: one of {', '.join(EMBEDDINGS)}")
    if req.one_hot_blocks:  # 0/1 as they are, even a level of 25-75 % (an IQR of 1), unembedded
        one_hot = np.concatenate([np.asarray(b, dtype=np.int64) for b in req.one_hot_blocks])
        center[one_hot], scale[one_hot], robust[one_hot] = 0.0, 1.0, False
    dim = int(p.get("category_dim", 0))
    blocks = embedded_blocks(req.one_hot_blocks) if dim > 0 else []
    embedded = embedded_columns(robust) if p.get("embedding") == "plr" else np.zeros(0, int)

    def transform(part: Any) -> np.ndarray:
        return soft_clip((dense(part) - center) / scale).astype(np.float32)

    if classification:
        classes = np.unique(y).astype(int)
        target = np.searchsorted(classes, y).astype(np.int64)
        shift, spread = 0.0, 1.0
    else:
        classes = None
        shift = float(np.mean(y)) if n else 0.0
        spread = float(np.std(y)) or 1.0
        target = ((np.asarray(y, dtype=float) - shift) / spread).astype(np.float32)
    val = None
    if X_val is not None and y_val is not None and X_val.shape[0]:
        if classification:
            known = np.isin(y_val, classes)
            if known.any():
                val = (transform(X_val[np.flatnonzero(known)]),
                       np.searchsorted(classes, np.asarray(y_val)[known]).astype(np.int64))
        else:
            val = (transform(X_val),
                   ((np.asarray(y_val, dtype=float) - shift) / spread).astype(np.float32))
    small = n * X.shape[1] <= 50_000_000  # transformed once (float32) below 200 MB
    rows = _Rows(transform(X) if small else X, target, w, None if small else transform)

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.set_num_threads(max(1, req.n_threads))
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(req.seed)
            net, out = _loop(torch, device, rows, val, p, len(classes) if classification else 1,
                             classification, req, stop_at, embedded, blocks)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    layers = [(m.weight.detach().cpu().double().numpy().T.copy(),
               m.bias.detach().cpu().double().numpy().copy())
              for m in net if isinstance(m, torch.nn.Linear)]
    if not classification:  # the target's scaling folded into the last layer
        W, b = layers[-1]
        layers[-1] = (W * spread, b * spread + shift)
    front = [m for m in net if hasattr(m, "export")]  # categories, then PLR, where present
    categories = front.pop(0).export() if blocks else None
    embedding = front.pop(0).export() if len(embedded) else None
    est = MLPEstimator(center, scale, layers, p["activation"], classes, embedding, categories)
    return Fitted(est, req.task, req.n_classes, best_iteration=out.pop("best_epoch"),
                  truncated=out.pop("truncated"), extra=out, family=family)


def _loop(torch: Any, device: Any, rows: _Rows, val: tuple | None, p: dict[str, Any], n_out: int,
          classification: bool, req: FitRequest, stop_at: int | None,
          embedded: np.ndarray, blocks: list[np.ndarray]) -> tuple[Any, dict]:
    """The training loop: (the network with the best epoch's weights, what happened); the
    network's first modules look the one-hot ``blocks`` up and embed the columns ``embedded``,
    where there are any."""
    from torch import nn
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler

    n, d = rows.X.shape
    layers: list[Any] = []
    if blocks:
        cats = category_module(torch, blocks, d, int(p["category_dim"]),
                               torch.Generator().manual_seed(req.seed + 1))
        layers.append(cats)
        embedded = np.searchsorted(np.setdiff1d(np.arange(d), np.concatenate(blocks)), embedded)
        d = cats.width
    if len(embedded):
        plr = plr_module(torch, embedded, d, torch.Generator().manual_seed(req.seed),
                         float(p.get("embedding_scale", SIGMA)))
        layers.append(plr)
        d = plr.width
    for _ in range(int(p["depth"])):
        layers += [nn.Linear(d, int(p["width"])),
                   nn.ReLU() if p["activation"] == "relu" else nn.SiLU(), nn.Dropout(p["dropout"])]
        d = int(p["width"])
    net = nn.Sequential(*layers, nn.Linear(d, n_out)).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    size = batch_size(n, int(p["batch_size"]))
    sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(req.seed))
    loader = DataLoader(rows, sampler=BatchSampler(sampler, size, drop_last=False),
                        batch_size=None)
    steps = math.ceil(n / size)
    amp = device.type == "cuda"

    def loss_of(xb: Any, yb: Any) -> Any:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            z = net(xb)
        z = z.float()
        if classification:
            return nn.functional.cross_entropy(z, yb, reduction="none")
        return (z[:, 0] - yb) ** 2

    def val_loss() -> float:
        net.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(val[1]), 4096):
                xb = torch.from_numpy(val[0][i:i + 4096]).to(device)
                yb = torch.from_numpy(val[1][i:i + 4096]).to(device)
                total += float(loss_of(xb, yb).sum())
        return total / len(val[1])

    planned = int(p["epochs"])
    limit = planned if stop_at is None else min(planned, int(stop_at))
    history: dict[str, list[float]] = {"lr": [], "train_loss": [], "val_loss": []}
    best, best_epoch, best_state, stale = math.inf, 0, None, 0
    epoch, truncated, started = 0, False, time.monotonic()
    while epoch < limit:
        net.train()
        total = 0.0
        for b, (xb, yb, wb) in enumerate(loader):
            if req.deadline.expired():
                truncated = True
                break
            lr = learning_rate(p["lr"], (epoch + b / steps) / planned)
            for group in opt.param_groups:
                group["lr"] = lr
            if b == 0:
                history["lr"].append(lr)
            xb, yb, wb = xb.to(device), yb.to(device), wb.to(device)
            loss = (loss_of(xb, yb) * wb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(yb)
        if truncated:
            break  # a partial epoch is neither scored nor counted
        epoch += 1
        history["train_loss"].append(total / n)
        if val is not None:
            history["val_loss"].append(val_loss())
            if history["val_loss"][-1] < best:
                best, best_epoch, stale = history["val_loss"][-1], epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= int(p["patience"]):
                    break
        if stop_at is None:  # shorten the schedule to what the deadline leaves time for
            planned = epochs_that_fit(planned, epoch, (time.monotonic() - started) / epoch,
                                      req.deadline.remaining())
            limit = planned
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, {"best_epoch": best_epoch or epoch or None, "truncated": truncated,
                 "epochs": planned, "epochs_run": epoch, "batch_size": size,
                 "device": device.type, "history": history}


# -- compiled numpy and ONNX ---------------------------------------------------------------------
class _MLPPredict:
    """The forward pass in numpy: values, or the softmax over the classes the model saw."""

    def __init__(self, est: MLPEstimator, classes: np.ndarray | None, k: int):
        self.est, self.classes, self.k = est, classes, k

    def __call__(self, X: Any) -> np.ndarray:
        out = forward(self.est, X)
        return out[:, 0] if self.classes is None else \
            all_classes(softmax(out), self.classes, self.k)


def compile_mlp(fitted: Fitted) -> Callable[[Any], np.ndarray]:
    classes = None if fitted.task == "regression" else model_classes(fitted)
    return _MLPPredict(fitted.estimator, classes, fitted.n_classes)


def mlp_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    """The forward pass as graph nodes, in double: Sub/Div, the soft clip, the categorical and
    periodic embeddings, MatMul/Add with Relu or x*Sigmoid(x), then Softmax (classification)."""
    est = fitted.estimator
    z = g.div(g.sub(x, g.const(est.center.reshape(1, -1))), g.const(est.scale.reshape(1, -1)))
    t = g.div(z, g.const(CLIP))
    h = g.div(z, g.op("Sqrt", [g.add(g.const(1.0), g.mul(t, t))]))
    if est.categories is not None:
        h = est.categories.onnx(g, h)
    if est.embedding is not None:
        h = est.embedding.onnx(g, h)
    last = len(est.layers) - 1
    for i, (W, b) in enumerate(est.layers):
        h = g.add(g.op("MatMul", [h, g.const(np.asarray(W, dtype=float))]),
                  g.const(np.asarray(b, dtype=float).reshape(1, -1)))
        if i < last:
            h = g.op("Relu", [h]) if est.activation == "relu" else g.mul(h, g.sigmoid(h))
    if fitted.task == "regression":
        return h
    return onnx_full(g, g.softmax(h), est, max(fitted.n_classes, 1))


# -- contributions: baseline Shapley values by antithetic permutation sampling ----------------
SHAP_ORDERINGS = 5  # random orderings, each walked both ways: 2 x 5 x (F + 1) forward rows a row
PATH_CELLS = 2_000_000  # inputs x path steps evaluated in one block (16 MB of float64)


def mlp_contributions(fitted: Fitted, Xt: Any, task: str,
                      C: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Each input's Shapley value against one reference row, the inputs' training medians (the
    model's own ``center``: baseline Shapley), in the margin space (binary: the log-odds;
    multiclass: the logits; regression: the value). Sampled as shap's permutation explainer
    does, vectorized: along ``SHAP_ORDERINGS`` random orderings and their reverses the inputs
    switch from the reference to the row one at a time and each gets its step's change, so the
    values sum exactly to the output minus the reference's; 2 x 5 x (F + 1) forward rows a row
    for F inputs (tests/explain's 200-row tables: 75 s a task with shap's explainer, under
    0.6 s with this)."""
    est = fitted.estimator
    if task != "regression" and len(model_classes(fitted)) != max(C, 2):
        raise Unsupported("an mlp fitted on a fold without every class")

    def margin(X: np.ndarray) -> np.ndarray:
        z = est.raw(X)
        if task == "binary":
            return (z[:, 1] - z[:, 0])[:, None]
        return z[:, :1] if task == "regression" else z

    X = dense(Xt)
    n, F = X.shape
    ref = np.asarray(est.center, dtype=float).reshape(1, F) * np.ones((1, F))
    base = margin(ref)
    rng = np.random.default_rng(0)
    orders = [o for o in (rng.permutation(F) for _ in range(SHAP_ORDERINGS)) for o in (o, o[::-1])]
    phi = np.zeros((n, F, base.shape[1]))
    block = max(1, PATH_CELLS // max(F, 1))  # path steps per forward call
    for order in orders:
        rank = np.empty(F, dtype=int)
        rank[order] = np.arange(F)
        for r in range(n):
            delta = X[r] - ref[0]
            prev = base[0]
            for a in range(0, F, block):
                steps = np.arange(a + 1, min(F, a + block) + 1)  # inputs switched after each
                path = ref + (rank[None, :] < steps[:, None]) * delta[None, :]
                out = margin(path)
                change = np.diff(np.vstack([prev[None, :], out]), axis=0)
                phi[r, order[steps - 1], :] += change
                prev = out[-1]
    phi /= len(orders)
    return phi, np.repeat(base, n, axis=0), "value" if task == "regression" else "margin"


ADAPTER = Adapter(MLPFamily(), instance_of("mlexpert.models._mlp", "MLPEstimator"),
                  compile=compile_mlp, compile_bag=None, onnx=mlp_onnx,
                  contributions=mlp_contributions, fit_dask=None, tree_nodes=None)
