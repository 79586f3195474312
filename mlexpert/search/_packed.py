"""A large fitted model held compressed while the search runs: a forest scored out of bag is
the member as shipped if ensemble selection picks it, and until then it takes a third of its
memory (or is freed when not picked)."""
from __future__ import annotations

import pickle
import zlib
from typing import Any

from mlexpert._system import release_freed_memory
from mlexpert.search._probes import Counting

# models pickling to more megabytes than this are held compressed. delivery_time (60 s): its two
# forests kept 146 + 111 MB of RSS from their fit to the end of the search; zlib at level 1
# packs scikit-learn forests 3-4x at ~8 ms a megabyte, and unpacks one in under a second
PACK_MB = 16.0


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


class _Compressing(Counting):
    """``Counting`` that also compresses what is written: pickling into it never holds the
    whole pickle (a large forest's arrays went out as bytes as big as the forest beside it)."""

    def __init__(self) -> None:
        super().__init__()
        self._z = zlib.compressobj(1)
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(self._z.compress(data))
        return super().write(data)

    def packed(self) -> Packed:
        self._parts.append(self._z.flush())
        data, self._parts = b"".join(self._parts), []
        return Packed(data)


def held(model: Any) -> tuple[Any, float]:
    """(``model``, or it ``Packed`` when it pickles to more than ``PACK_MB``; its pickled
    megabytes, as the bundle's members file stores it uncompressed)."""
    out = _Compressing()
    pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)
    mb = out.written / 1e6
    return (out.packed() if mb > PACK_MB else model), mb


def release(model: Any) -> None:
    """After the last reference to a large model is dropped: its pages back to the OS
    (``release_freed_memory``), so that compressing it lowers the process's memory."""
    if isinstance(model, Packed):
        release_freed_memory()


def unpacked(model: Any) -> Any:
    """The model itself, unpacked if it was held ``Packed``."""
    return model.unpack() if isinstance(model, Packed) else model
