"""Periodic numeric embeddings (PLR: Periodic, Linear, ReLU; Gorishniy et al. 2022) for the mlp.

Each embedded input x (a continuous column, robust-scaled and soft-clipped) becomes
``relu(W_j [sin(2 pi c_j x), cos(2 pi c_j x)] + b_j)``: ``FREQUENCIES`` trained frequencies
``c_j`` and a ``DIM``-wide linear map of its own per column. A plain MLP fits smooth functions of
each number; the periodic features let it fit the sharp, non-monotone shapes trees find (the
main reason MLPs trail boosting on tables, per that paper and TabM's / RealMLP's use of them).

Three forms of the same function: the torch module that trains it (``plr_module``), numpy
(``PeriodicEmbedding.apply``: the bundle's predictions, without torch) and ONNX nodes
(``PeriodicEmbedding.onnx``). Columns that are not embedded (binary, one-hot, sparse ones)
follow the embeddings unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

FREQUENCIES = 16  # per column
DIM = 16  # each column's embedding width
# the frequencies' initial standard deviation (the mlp's ``embedding_scale``, tuned on a log
# scale): inputs are ~N(0, 1), clipped at +-3. Three-fold CV of the mlp alone, 0.1 vs 1.0: olive
# log loss 0.160 vs 0.384, kershaw 0.013 vs 0.027, saratoga RMSE 56.0k vs 56.6k, tate 4.34 vs
# 4.33, telco AUC 0.848 vs 0.850, delivery RMSE 1.990 vs 2.002; a step function of one input
# needs 1.0 (tests/models/test_mlp.py)
SIGMA = 0.1
MAX_COLUMNS = 64  # embedded columns at most (the first continuous ones): the first layer's input
# grows by DIM for each


def embedded_columns(scale_is_robust: np.ndarray) -> np.ndarray:
    """The input columns worth embedding: those with a spread of their own (the robust
    statistics' IQR > 0; binary and one-hot columns have none), at most ``MAX_COLUMNS``."""
    return np.flatnonzero(scale_is_robust)[:MAX_COLUMNS]


@dataclass
class PeriodicEmbedding:
    """Trained embeddings of the columns ``columns``: frequencies (m, k), weights (m, 2k, DIM),
    biases (m, DIM), float64."""

    columns: np.ndarray
    frequencies: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    n_inputs: int

    @cached_property
    def rest(self) -> np.ndarray:
        """The input columns passed on unchanged (computed once: ``apply`` is the one-row path)."""
        return np.setdiff1d(np.arange(self.n_inputs), self.columns)

    @property
    def width(self) -> int:
        """Columns out: each embedded column's ``DIM`` values, then the rest as they are."""
        return len(self.columns) * self.weights.shape[2] + len(self.rest)

    def apply(self, h: np.ndarray) -> np.ndarray:
        z = (2.0 * math.pi) * h[:, self.columns, None] * self.frequencies[None]
        p = np.concatenate([np.sin(z), np.cos(z)], axis=2)
        e = np.maximum(np.einsum("nmj,mje->nme", p, self.weights) + self.biases[None], 0.0)
        return np.hstack([e.reshape(len(h), -1), h[:, self.rest]])

    def onnx(self, g: Any, h: str) -> str:
        """``apply`` as graph nodes (double): Gather, Sin/Cos, a batched MatMul per column."""
        m, _, d = self.weights.shape
        x = g.op("Gather", [h, g.const(self.columns.astype(np.int64))], axis=1)
        x = g.op("Unsqueeze", [x, g.const([2], np.int64)])
        z = g.mul(x, g.const((2.0 * math.pi * self.frequencies)[None]))
        p = g.op("Concat", [g.op("Sin", [z]), g.op("Cos", [z])], axis=2)
        p = g.op("Transpose", [p], perm=[1, 0, 2])  # (m, n, 2k) @ (m, 2k, d) -> (m, n, d)
        e = g.op("Transpose", [g.op("MatMul", [p, g.const(self.weights)])], perm=[1, 0, 2])
        e = g.op("Relu", [g.add(e, g.const(self.biases[None]))])
        e = g.op("Reshape", [e, g.const([-1, m * d], np.int64)])
        rest = self.rest
        if not len(rest):
            return e
        return g.concat([e, g.op("Gather", [h, g.const(rest.astype(np.int64))], axis=1)])


def plr_module(torch: Any, columns: np.ndarray, n_inputs: int, seed_generator: Any,
               scale: float = SIGMA) -> Any:
    """The embedding as a torch module over the network's whole input (columns ``columns``
    embedded, the rest passed on), initialised from ``seed_generator``, its frequencies with
    standard deviation ``scale``."""
    nn = torch.nn
    m, k = len(columns), FREQUENCIES
    rest = np.setdiff1d(np.arange(n_inputs), columns)

    class PLR(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            bound = 1.0 / math.sqrt(2 * k)
            self.frequencies = nn.Parameter(torch.randn(m, k, generator=seed_generator) * scale)
            self.weights = nn.Parameter(
                (torch.rand(m, 2 * k, DIM, generator=seed_generator) * 2 - 1) * bound)
            self.biases = nn.Parameter(
                (torch.rand(m, DIM, generator=seed_generator) * 2 - 1) * bound)
            self.register_buffer("columns", torch.as_tensor(columns, dtype=torch.long))
            self.register_buffer("rest", torch.as_tensor(rest, dtype=torch.long))
            self.width = m * DIM + len(rest)  # columns out

        def forward(self, x: Any) -> Any:
            z = (2.0 * math.pi) * x[:, self.columns, None] * self.frequencies[None]
            p = torch.cat([torch.sin(z), torch.cos(z)], dim=2)
            e = torch.relu(torch.einsum("nmj,mje->nme", p, self.weights) + self.biases[None])
            return torch.cat([e.flatten(1), x[:, self.rest]], dim=1)

        def export(self) -> PeriodicEmbedding:
            def arr(t: Any) -> np.ndarray:
                return t.detach().cpu().double().numpy().copy()

            return PeriodicEmbedding(np.asarray(columns, dtype=np.int64), arr(self.frequencies),
                                     arr(self.weights), arr(self.biases), n_inputs)

    return PLR()
