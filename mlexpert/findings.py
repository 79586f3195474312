"""Finding: one observation about the data or the plan, with severity, evidence and a suggestion.

A leaf module: the schema, the planner and the audit all report through it, and the bundle stores
the findings as JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")  # most severe first


@dataclass(frozen=True)
class Finding:
    """What was seen (``message``), how sure (``evidence``), and what to do (``suggestion``).

    ``rows`` optionally names the rows concerned (0-based positions in the table as given).
    """

    check: str
    severity: Severity
    message: str
    columns: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""
    rows: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``check, severity, columns, rows (only when any), message, evidence,
        suggestion``."""
        out: dict[str, Any] = {"check": self.check, "severity": self.severity,
                               "columns": list(self.columns)}
        if self.rows:
            out["rows"] = [int(r) for r in self.rows]
        out.update(message=self.message, evidence=dict(self.evidence), suggestion=self.suggestion)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(**{**d, "columns": tuple(d.get("columns", ())), "rows": tuple(d.get("rows", ()))})
