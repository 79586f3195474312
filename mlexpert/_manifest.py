"""Manifest: what a bundle records about its model, as typed fields, and its JSON form.

Every way of fitting (in one process, on a Dask cluster, by distillation) fills one of these,
``Model`` holds it, and ``manifest.json`` is its ``to_dict()``. The sections inside (the schema,
metrics, leaderboard rows, findings...) are plain JSON values: each belongs to the package that
writes it. Keys a later mlexpert writes and this one does not know are kept in ``extra`` and
written back as they were.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from mlexpert._format import FORMAT, FORMAT_VERSION, library_versions
from mlexpert._version import __version__
from mlexpert.errors import BundleError

# optional sections: written only when present (the others are written even when null)
_OPTIONAL = ("inference", "size", "cluster", "distillation", "registry", "compiled", "files",
             "saved_at")


@dataclass(frozen=True)
class Target:
    """The column predicted, the task, and the class labels in the model's order."""

    name: str
    task: str
    classes: list[Any] | None = None


@dataclass(frozen=True)
class Manifest:
    """A fitted model's record (see the module docstring). Frozen: a new section makes a new
    manifest (``with_sections``), never a change to one a Model already holds."""

    target: Target
    metric: str
    schema: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=lambda: {"cv": {}})
    plan: dict[str, Any] = field(default_factory=dict)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    ensemble: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    calibration_report: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    inference: dict[str, Any] | None = None  # one-row latency measured at the end of fit
    size: dict[str, Any] | None = None  # megabytes of the members, estimated and measured
    cluster: dict[str, Any] | None = None  # how the Dask route trained
    distillation: dict[str, Any] | None = None  # what a distilled model lost and gained
    registry: dict[str, Any] | None = None  # where it was fetched from (in memory only)
    compiled: dict[str, Any] | None = None  # the one-row ONNX graph saved with it (file, version)
    files: dict[str, str] | None = None  # file name -> SHA-256, set when saved
    saved_at: str | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    mlexpert_version: str = __version__
    libraries: dict[str, str] = field(default_factory=library_versions)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """A manifest from its JSON form (format 1 and 2 alike); BundleError when the target,
        metric or schema is missing."""
        known = {f.name for f in fields(cls)} - {"target", "extra"}
        try:
            target = Target(**data["target"])
            kept = {k: v for k, v in data.items() if k in known}
            return cls(target=target, **kept,
                       extra={k: v for k, v in data.items() if k not in known | {"target"}})
        except (KeyError, TypeError) as exc:
            raise BundleError(f"the manifest has no usable {exc}; the bundle is corrupt. Fit the "
                              "model again.") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a new dict; the sections are shared, not copied)."""
        out: dict[str, Any] = {"format": self.format, "format_version": self.format_version,
                               "mlexpert_version": self.mlexpert_version,
                               "libraries": self.libraries,
                               "target": {"name": self.target.name, "task": self.target.task,
                                          "classes": self.target.classes}}
        for f in fields(self):
            if f.name in out or f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL:
                continue
            out[f.name] = value
        out.update(self.extra)
        return out

    def with_sections(self, **sections: Any) -> Manifest:
        """A copy with these sections replaced (``findings=[...]``, ``inference={...}``...)."""
        return replace(self, **sections)
