"""AuditReport: the findings of one audit, most severe first, and their JSON form."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlexpert._io import jsonable
from mlexpert.findings import SEVERITIES, Finding, Severity


@dataclass(frozen=True)
class AuditReport:
    """What ``mlexpert.audit`` found. ``findings`` are sorted error, warning, info."""

    findings: list[Finding]
    target: str
    task: str
    rows: int
    columns: int
    test_rows: int | None = None
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def of(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self.of(s)) for s in SEVERITIES}

    def to_dict(self) -> dict[str, Any]:
        """``{"findings": [{check, severity, columns, rows?, message, evidence, suggestion}],
        "summary": {...}}``, strict JSON (no NaN)."""
        return jsonable({
            "findings": [f.to_dict() for f in self.findings],
            "summary": {**self.counts, "target": self.target, "task": self.task,
                        "rows": self.rows, "columns": self.columns, "test_rows": self.test_rows,
                        "seconds": round(self.seconds, 3), "checks_skipped": list(self.skipped)},
        })

    def __repr__(self) -> str:
        c = self.counts
        return (f"AuditReport({c['error']} error(s), {c['warning']} warning(s), {c['info']} info; "
                f"target {self.target!r}, {self.task}, {self.rows} rows)")
