"""Finding: one observation about the data or the plan, with severity, evidence and a suggestion.

A leaf module: the schema, the planner and (later) the audit all report through it, and the bundle
stores the findings as JSON.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """What was seen (``message``), how sure (``evidence``), and what to do (``suggestion``)."""

    check: str
    severity: Severity
    message: str
    columns: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = list(self.columns)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(**{**d, "columns": tuple(d.get("columns", ()))})
