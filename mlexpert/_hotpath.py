"""The compiled path a Model's small batches take (``runtime``: numpy or the ONNX graph, verified
against the members): built after a few small calls, by ``compile`` or at the end of fit, kept
per manifest and members, stored with a bundle (the graph, or the numpy path where it pickles
without scikit-learn). ``bundle.Model`` mixes it in."""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

from mlexpert._format import COMPILED, COMPILED_NUMPY
from mlexpert._version import __version__
from mlexpert.ensemble import HOT_CALLS

STORED_NOTE = ("on: {} (the {} saved with the bundle, verified against its members when saved; "
               "compile() checks it again)")
# a background build of the compiled path gives way to small predict calls (``_give_way``)
IDLE_SECONDS = 0.05
GIVE_WAY_SECONDS = 2.0


class CompiledPath:
    """The compiled-path state and methods of ``bundle.Model`` (which holds ``manifest``,
    ``ensemble`` and ``_members_id``: which members, known without reading them)."""

    manifest: Any
    ensemble: Any
    _members_id: Callable[[], int]

    def _init_compiled(self, stored: tuple[str, bytes] | None) -> None:
        self._small_calls = 0
        self._compiled: tuple[tuple[int, int], Any, str] | None = None  # (key, path, note)
        self._unverified = False  # the compiled path is the stored one, not checked here
        self._compile_lock = threading.Lock()
        self._building: threading.Thread | None = None
        self._last_small = 0.0  # monotonic end of the last small predict call
        # the bundle's stored compiled path (its file name and bytes: the graph or the numpy
        # form), for these members only
        self._graph = None if stored is None else (self._members_id(), *stored)

    def _key(self) -> tuple[int, int]:
        return id(self.manifest), self._members_id()  # a copy given other members rebuilds

    def _hot_path(self) -> Any:
        """The compiled path once built. A loaded bundle's stored path answers from the first
        small batch (``_stored_path``); otherwise the ``HOT_CALLS``-th small batch builds the
        numpy path and waits for it (seconds at most), so the calls after it take a verified
        compiled path; the ONNX graph builds in a background thread and replaces it when
        faster."""
        compiled = self._compiled
        if compiled is not None and compiled[0] == self._key():
            return compiled[1]
        if self._small_calls == 0:
            with self._compile_lock:
                path = self._stored_path()
            if path is not None:
                return path
        self._small_calls += 1
        if self._small_calls >= HOT_CALLS:
            with self._compile_lock:
                if self._building is None or not self._building.is_alive():
                    self._start_build()
            compiled = self._compiled
            if compiled is not None and compiled[0] == self._key():
                return compiled[1]
        return None

    def _start_build(self) -> None:
        key = self._key()
        from mlexpert.runtime import compile_stages  # a layer above: imported on use

        stages = compile_stages(self, pause=self._give_way)
        self._compiled, self._unverified = (key, *next(stages)), False

        def finish() -> None:
            for path, note in stages:
                self._compiled = (key, path, note)

        # a daemon: exit never waits for a graph still converting (tens of seconds for a large
        # ensemble); runtime._onnx waits at exit only for onnxruntime calls under way
        self._building = threading.Thread(target=finish, daemon=True, name="mlexpert-compile")
        self._building.start()

    def _stored_path(self) -> Any:
        """The compiled path saved with this bundle — its ONNX graph on onnxruntime or its numpy
        form (``runtime.FastPath.stored``) — adopted without reading the members, where it may
        be trusted: it was the verified compiled path when saved (same members, same mlexpert)
        and the libraries it runs on are the versions that verified it. Else None: the usual
        build follows."""
        stored = self._stored_file()
        if stored is None or self._compiled is not None:
            return None
        fname, data = stored
        section = self.manifest.compiled or {}
        versions = section.get("libraries") if fname == COMPILED_NUMPY else \
            {"onnxruntime": section.get("onnxruntime")}  # None: verified by an unknown one
        if not versions or None in versions.values():
            return None
        try:
            if any(importlib.import_module(lib).__version__ != version
                   for lib, version in versions.items()):
                return None
            import mlexpert.runtime as runtime  # a layer above: imported on use

            path = runtime.OnnxPath(self, graph=data) if fname == COMPILED else \
                runtime.FastPath.stored(data)
        except Exception:  # noqa: BLE001 - not usable here: the usual build follows
            return None
        kind = ("onnxruntime", "graph") if fname == COMPILED else \
            ("numpy+onnxruntime", "numpy path and graph") if path.graph_members else \
            ("numpy", "numpy path")
        self._compiled = (self._key(), path, STORED_NOTE.format(*kind))
        self._unverified = True
        if fname == COMPILED_NUMPY:  # the numpy path is its own record now: not held twice
            self._graph = None
        return path

    def _stored_file(self) -> tuple[str, bytes] | None:
        """The stored compiled path's file name and bytes (read and its hash checked by
        ``load``), or None: none saved, another mlexpert version wrote it, or the members are
        no longer the ones loaded."""
        stored, section = getattr(self, "_graph", None), self.manifest.compiled or {}
        if stored is None or stored[0] != self._members_id() or \
                section.get("mlexpert_version") != __version__:
            return None
        return stored[1], stored[2]

    def stored_graph(self) -> bytes | None:
        """The serialized ONNX graph of the compiled path saved with this bundle, or None (see
        ``_stored_file``). The compiled path verifies it against the members before use, unless
        this onnxruntime verified it when it was saved (``_stored_path``)."""
        stored = self._stored_file()
        return stored[1] if stored is not None and stored[0] == COMPILED else None

    def _path_to_store(self) -> tuple[str, bytes, dict[str, Any]] | None:
        """What ``save`` stores of the compiled path: its file name, bytes and the versions
        that verified it (None: unknown, so a process loading it checks it before use) — the
        compiled path's when it was built and verified here (the graph, or the numpy path
        where it pickles without scikit-learn), else the one loaded with these members, else,
        where nothing was built (fit's limit left no time: star_math at 60 s), the numpy path
        built now (seconds: star_math's 3.7 s, most of it its LightGBM and XGBoost models
        converted to graphs), never the graph (tens of seconds for a large ensemble)."""
        import mlexpert.runtime as runtime  # a layer above: imported on use

        compiled = self._compiled
        if compiled is not None and compiled[0] == self._key():
            graph = getattr(compiled[1], "graph", None)
            if isinstance(graph, bytes) and not self._unverified:
                import onnxruntime  # the path runs on it: imported already

                return COMPILED, graph, {"onnxruntime": onnxruntime.__version__}
            if hasattr(compiled[1], "portable"):  # the numpy path (or the one loaded, again)
                stored = runtime.stored_form(self, compiled[1])
                if stored is not None:
                    return COMPILED_NUMPY, stored[0], {"libraries": stored[1]}
        stored = self._stored_file()
        if stored is not None:  # the graph loaded with these members, not checked here
            section = self.manifest.compiled or {}
            return (*stored, {k: section.get(k) for k in ("onnxruntime", "libraries")
                              if k in section})
        if compiled is None or compiled[0] != self._key():
            try:
                stored = runtime.stored_form(self, runtime.FastPath(self, portable=True))
            except Exception:  # noqa: BLE001 - no numpy path: none is stored
                stored = None
            if stored is not None:
                return COMPILED_NUMPY, stored[0], {"libraries": stored[1]}
        return None

    def _give_way(self) -> None:
        """Where the graph's background build pauses: while small predict calls keep coming
        (one ended less than ``IDLE_SECONDS`` ago), for at most ``GIVE_WAY_SECONDS``. Its
        Python loops hold the interpreter: star_math's 200 one-row calls right after fit took
        13 ms each (median) beside the build, 2.3 ms on the numpy path alone."""
        stop = time.monotonic() + GIVE_WAY_SECONDS
        while time.monotonic() - self._last_small < IDLE_SECONDS and time.monotonic() < stop:
            time.sleep(IDLE_SECONDS)

    def _build(self) -> None:
        key = self._key()
        from mlexpert.runtime import compile_model  # a layer above: imported on use

        path, note = compile_model(self)
        self._compiled, self._unverified = (key, path, note), False

    def compile(self, timeout: float | None = None) -> str:
        """Build the compiled path for small batches now and say what was decided (predict
        builds it after a few calls of at most 64 rows: the numpy path in the call, the graph
        in the background; call this after ``load`` in a latency-sensitive process so the
        first requests are fast too). ``timeout`` (seconds): build the numpy path, wait at
        most this long for the graph and leave the rest of its build to a background thread
        (``fit`` does this with what its time limit leaves)."""
        if timeout is not None:
            stop = time.monotonic() + max(0.0, float(timeout))
            with self._compile_lock:
                building = self._building
                if self._stale():
                    if building is None or not building.is_alive():
                        self._start_build()
            building = self._building
            if building is not None:
                building.join(max(0.0, stop - time.monotonic()))
            return self.compiled_path
        building = self._building
        if building is not None:
            building.join()
        if self._stale():
            self._build()
        return self.compiled_path

    def _stale(self) -> bool:
        """Whether ``compile`` must build: no compiled path for these members, or only the
        stored path, not checked against them here."""
        return self._compiled is None or self._compiled[0] != self._key() or self._unverified

    def use_compiled(self, path: Any, note: str) -> None:
        """Adopt a compiled path chosen and verified elsewhere (the service, for this Model)."""
        self._compiled, self._unverified = (self._key(), path, note), False

    @property
    def compiled_path(self) -> str:
        """How small batches (≤ 64 rows) are predicted: the faster of a numpy path and the ONNX
        graph among those that agree with the members on probe rows (within 1e-6 / 1e-5, same
        labels), built by ``compile`` or in the background after a few small calls; what was
        decided, or 'not built yet'."""
        compiled = self._compiled
        return "not built yet" if compiled is None or compiled[0] != self._key() else compiled[2]
