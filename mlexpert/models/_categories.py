"""Categorical embeddings for the mlp: each categorical of many levels becomes a small learned
vector per level instead of its one-hot columns.

The linear preprocessing one-hot encodes a categorical into a block of columns (its frequent
levels, rare ones grouped into one "infrequent" column, an unseen level read as that group, or
as no column at all where there is none: ``features.one_hot_blocks``). A block of more than
``MAX_ONE_HOT`` columns is looked up in a table of ``dim``-wide vectors, one per column (the
block's one-hot row times the table: exactly its level's vector, zeros for a level with no
column), as RealMLP does (one-hot up to 9 levels, embeddings of 8 beyond); small blocks and all
other columns pass on unchanged. The first layer then sees 8 numbers for a 50-level column
instead of 50, and levels that behave alike share a direction. The mlp's tuner chooses the
width (``category_dim``; its default, 0, keeps every block one-hot: ``models._mlp``).

Three forms of the same function, as ``models._periodic``: the torch module that trains it
(``category_module``), numpy (``CategoryEmbedding.apply``) and ONNX nodes
(``CategoryEmbedding.onnx``). Its output is the passed-on columns in their order, then the
embeddings, block after block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

MAX_ONE_HOT = 9  # a block of this many columns or fewer stays one-hot (RealMLP's default)
DIM = 8  # an embedded categorical's width (one of the widths the mlp's tuner tries; RealMLP's)


def embedded_blocks(blocks: list[list[int]], limit: int = MAX_ONE_HOT) -> list[np.ndarray]:
    """The one-hot blocks worth embedding: those of more than ``limit`` columns."""
    return [np.asarray(b, dtype=np.int64) for b in blocks if len(b) > limit]


@dataclass
class CategoryEmbedding:
    """Trained level vectors: ``tables[j]`` (len(blocks[j]), dim) for the input columns
    ``blocks[j]`` of an input ``n_inputs`` wide, float64."""

    blocks: list[np.ndarray]
    tables: list[np.ndarray]
    n_inputs: int

    @cached_property
    def columns(self) -> np.ndarray:
        """Every embedded block's columns, in order."""
        return np.concatenate(self.blocks)

    @cached_property
    def table(self) -> np.ndarray:
        """The tables as one block-diagonal matrix (columns x blocks * dim): one product looks
        every block up at once (the one-row path)."""
        out = np.zeros((len(self.columns), sum(t.shape[1] for t in self.tables)))
        r = c = 0
        for t in self.tables:
            out[r:r + t.shape[0], c:c + t.shape[1]] = t
            r, c = r + t.shape[0], c + t.shape[1]
        return out

    @cached_property
    def rest(self) -> np.ndarray:
        """The input columns passed on unchanged."""
        return np.setdiff1d(np.arange(self.n_inputs), self.columns)

    @property
    def width(self) -> int:
        return len(self.rest) + self.table.shape[1]

    def apply(self, h: np.ndarray) -> np.ndarray:
        return np.hstack([h[:, self.rest], h[:, self.columns] @ self.table])

    def onnx(self, g: Any, h: str) -> str:
        """``apply`` as graph nodes (double): two Gathers, a MatMul, a Concat."""
        e = g.op("MatMul", [g.op("Gather", [h, g.const(self.columns)], axis=1),
                            g.const(self.table)])
        if not len(self.rest):
            return e
        return g.concat([g.op("Gather", [h, g.const(self.rest.astype(np.int64))], axis=1), e])


def category_module(torch: Any, blocks: list[np.ndarray], n_inputs: int, dim: int,
                    seed_generator: Any) -> Any:
    """The embedding as a torch module over the network's whole input, its tables initialised
    from ``seed_generator`` as ``nn.Embedding`` is (standard normal) scaled by ``1/sqrt(dim)``:
    a vector of about unit length, as large as a one-hot column's contribution."""
    nn = torch.nn
    columns = np.concatenate(blocks)
    rest = np.setdiff1d(np.arange(n_inputs), columns)
    sizes = [len(b) for b in blocks]

    class Categories(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tables = nn.ParameterList(
                [nn.Parameter(torch.randn(k, dim, generator=seed_generator) / math.sqrt(dim))
                 for k in sizes])
            self.register_buffer("columns", torch.as_tensor(columns, dtype=torch.long))
            self.register_buffer("rest", torch.as_tensor(rest, dtype=torch.long))
            self.width = len(rest) + dim * len(sizes)

        def forward(self, x: Any) -> Any:
            parts = torch.split(x[:, self.columns], sizes, dim=1)
            return torch.cat([x[:, self.rest], *[p @ t for p, t in zip(parts, self.tables, strict=True)]],
                             dim=1)

        def export(self) -> CategoryEmbedding:
            return CategoryEmbedding([np.asarray(b, dtype=np.int64) for b in blocks],
                                     [t.detach().cpu().double().numpy().copy()
                                      for t in self.tables], n_inputs)

    return Categories()
