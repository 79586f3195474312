"""DiagnosisReport: sections (a run's training curves; a fitted model's learning curve, bias and
variance, baseline and train/serve skew), each with its findings, charts and summary, and its
JSON and HTML forms."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlexpert._io import jsonable
from mlexpert.findings import SEVERITIES, Finding, Severity


@dataclass(frozen=True)
class Line:
    """One plotted series; ``kind`` picks its style (train, val, chance, lr, grad). ``low`` and
    ``high``: a 95 % interval per point, drawn as error bars (a learning curve's held-out score)."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    kind: str = "train"
    low: tuple[float | None, ...] | None = None
    high: tuple[float | None, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "kind": self.kind, "x": list(self.x),
                               "y": list(self.y)}
        if self.low is not None and self.high is not None:
            out.update(low=list(self.low), high=list(self.high))
        return out


@dataclass(frozen=True)
class Mark:
    """A vertical marker at ``x`` (the overfitting epoch, the first NaN)."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A line chart: ``key`` names it in the JSON and the page (``data-chart``)."""

    key: str
    title: str
    x_label: str
    lines: tuple[Line, ...]
    marks: tuple[Mark, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "x_label": self.x_label,
                "lines": [ln.to_dict() for ln in self.lines],
                "marks": [{"x": m.x, "label": m.label} for m in self.marks]}


@dataclass(frozen=True)
class Bar:
    """One bar of a ``Bars`` chart, with its 95 % interval when known."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    kind: str = "train"

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "value": self.value, "low": self.low,
                "high": self.high}


@dataclass(frozen=True)
class Bars:
    """A bar chart with error bars (training vs out-of-fold vs holdout vs the dummy)."""

    key: str
    title: str
    y_label: str
    bars: tuple[Bar, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "type": "bars", "y_label": self.y_label,
                "bars": [b.to_dict() for b in self.bars]}


@dataclass(frozen=True)
class Section:
    """One concern of a diagnosis: its findings, its curves, its numbers and what was skipped."""

    key: str
    title: str
    findings: tuple[Finding, ...]
    charts: tuple[Chart | Bars, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "checks": [f.check for f in self.findings],
                "summary": dict(self.summary), "charts": [c.to_dict() for c in self.charts],
                "checks_skipped": list(self.skipped)}


def _severity_order(f: Finding) -> int:
    return SEVERITIES.index(f.severity)


@dataclass(frozen=True)
class DiagnosisReport:
    """What ``mlexpert.diagnose`` found. ``findings``: every section's, error first."""

    source: str
    sections: tuple[Section, ...]

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for s in self.sections for f in s.findings), key=_severity_order)

    def of(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self.of(s)) for s in SEVERITIES}

    @property
    def checks(self) -> list[str]:
        return [f.check for f in self.findings]

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """``{"source", "findings": [{check, severity, columns, message, evidence,
        suggestion}], "summary": counts, "sections": [...]}``, strict JSON (no NaN)."""
        return jsonable({"source": self.source, "findings": [f.to_dict() for f in self.findings],
                         "summary": self.counts, "sections": [s.to_dict() for s in self.sections]})

    def to_html(self) -> str:
        """One self-contained page: findings and inline SVG curves, no script, no network."""
        from mlexpert.diagnosis._html import render

        return render(self)

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write ``to_html()`` to ``path`` atomically."""
        from mlexpert._io import write_text

        return write_text(path, self.to_html())

    def __repr__(self) -> str:
        c = self.counts
        return (f"DiagnosisReport({c['error']} error(s), {c['warning']} warning(s), "
                f"{c['info']} info; {', '.join(self.checks) or 'no findings'})")
