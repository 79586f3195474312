"""Large fitted models held compressed while the search runs: a forest scored out of bag is
the member as shipped if ensemble selection picks it, and a fold model is part of a bag or
tells its refit how many trees to grow; until then each takes a third of its memory (or is
freed when not picked)."""
from __future__ import annotations

import dataclasses
import pickle
import zlib
from typing import Any

from mlexpert._system import release_freed_memory
from mlexpert.models import Fitted
from mlexpert.search._probes import pickled_mb

# models pickling to more megabytes than this are held compressed. delivery_time (60 s): its two
# forests kept 146 + 111 MB of RSS from their fit to the end of the search; zlib at level 1
# packs scikit-learn forests 3-4x at ~8 ms a megabyte, and unpacks one in under a second
PACK_MB = 16.0
# ...and a fold model of a candidate cross-validated (forests where the folds read the target:
# imdb_rating's five extra-trees folds took +167 MB, its random forest's +123 MB)
FOLD_PACK_MB = 8.0


class Packed:
    """A model's pickle, zlib-compressed (level 1: the fastest); ``unpack`` gives the model."""

    def __init__(self, data: bytes):
        self._data = data

    @property
    def mb(self) -> float:
        """Megabytes held."""
        return len(self._data) / 1e6

    def unpack(self) -> Any:
        return pickle.loads(zlib.decompress(self._data))  # noqa: S301 - our own bytes


class _Compressing:
    """A file that compresses what is written to it: pickling into it never holds the whole
    pickle (a large forest's arrays went out as bytes as big as the forest beside it)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(1)
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(self._z.compress(data))
        return memoryview(data).nbytes

    def packed(self) -> Packed:
        self._parts.append(self._z.flush())
        data, self._parts = b"".join(self._parts), []
        return Packed(data)


def held_fit(fitted: Fitted, whole: bool = False, mb: float | None = None,
             ) -> tuple[Fitted, float]:
    """(``fitted`` with its estimator ``Packed`` when that pickles to more than
    ``FOLD_PACK_MB``, or ``PACK_MB`` for a model fitted on all rows (``whole``), its record of
    how the fit went kept as is; the estimator's pickled megabytes, as the bundle's members
    file stores it uncompressed: counted here, or ``mb`` where the caller knows it (a
    candidate's other folds are the size of its first). ``release`` hands the memory back
    once the caller has dropped the whole estimator."""
    mb = pickled_mb(fitted.estimator) if mb is None else mb
    if mb <= (PACK_MB if whole else FOLD_PACK_MB):
        return fitted, mb
    out = _Compressing()
    pickle.dump(fitted.estimator, out, protocol=pickle.HIGHEST_PROTOCOL)
    return dataclasses.replace(fitted, estimator=out.packed()), mb


def release(fits: list[Fitted]) -> None:
    """Once the caller holds only ``fits`` (not the whole estimators they were made from): the
    freed pages back to the OS where any of them is packed (``release_freed_memory``: without
    it, the forest's memory stayed in the process)."""
    if any(isinstance(f.estimator, Packed) for f in fits):
        release_freed_memory()


def unpacked_fit(fitted: Fitted) -> Fitted:
    """``fitted`` with its estimator unpacked if ``held_fit`` packed it."""
    if not isinstance(fitted.estimator, Packed):
        return fitted
    return dataclasses.replace(fitted, estimator=fitted.estimator.unpack())
