"""The promotion gate: a challenger replaces the champion only when it is significantly better on
the same recent rows and no worse on the guardrails (one-row latency, calibration, group gaps).

Pure: it reads two comparisons' numbers and returns a verdict with every reason, so the
service's ``/compare`` and ``mlexpert retrain`` word the same decision the same way.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlexpert.evaluate import PairedComparison

LATENCY_RATIO = 1.5      # the challenger may be this much slower per row...
LATENCY_SLACK_MS = 1.0   # ...or this many milliseconds, whichever allows more
ECE_SLACK = 0.02         # expected calibration error may grow by this much (absolute)
GAP_SLACK = 0.05         # a fairness gap between groups may grow by this much (absolute)


@dataclass(frozen=True)
class Guardrail:
    """One check the challenger must pass: its value, the champion's, the most it may be."""

    name: str
    champion: float | None
    challenger: float | None
    limit: float | None
    passed: bool
    note: str


@dataclass(frozen=True)
class Verdict:
    """Promote or not, and why: the comparison of the metric and every guardrail."""

    promote: bool
    reason: str
    comparison: PairedComparison
    guardrails: list[Guardrail] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "reason": self.reason,
                "comparison": self.comparison.to_dict(),
                "guardrails": [asdict(g) for g in self.guardrails]}


def schema_guard(champion_columns: list[str], challenger_columns: list[str]) -> Guardrail:
    """The challenger may read no column the champion did not: production's clients send only
    what the champion asked for (fewer columns are fine: extra fields are ignored)."""
    new = [c for c in challenger_columns if c not in set(champion_columns)]
    note = ("reads only columns the champion reads" if not new else
            "needs columns production's clients do not send: " + ", ".join(map(repr, new[:6])))
    return Guardrail("input_columns", float(len(champion_columns)),
                     float(len(challenger_columns)), None, not new, note)


def latency_guard(champion_ms: float | None, challenger_ms: float | None) -> Guardrail:
    """The challenger's estimated one-row latency (ms, from its fit) within the allowance."""
    if champion_ms is None or challenger_ms is None:
        return Guardrail("latency_ms_per_row", champion_ms, challenger_ms, None, True,
                         "not compared: a model records no latency estimate.")
    limit = max(champion_ms * LATENCY_RATIO, champion_ms + LATENCY_SLACK_MS)
    ok = challenger_ms <= limit
    return Guardrail("latency_ms_per_row", champion_ms, challenger_ms, limit, ok,
                     f"{challenger_ms:.3g} ms per row vs the champion's {champion_ms:.3g} ms "
                     f"(at most {LATENCY_RATIO}x or +{LATENCY_SLACK_MS:g} ms)")


def calibration_guard(champion_ece: float, challenger_ece: float) -> Guardrail:
    """Expected calibration error on the holdout may not grow by more than ``ECE_SLACK``."""
    limit = champion_ece + ECE_SLACK
    ok = challenger_ece <= limit or not math.isfinite(challenger_ece + champion_ece)
    return Guardrail("ece", champion_ece, challenger_ece, limit, ok,
                     f"expected calibration error {challenger_ece:.3g} vs the champion's "
                     f"{champion_ece:.3g} (at most +{ECE_SLACK:g})")


def gap_guard(name: str, champion_gap: float | None, challenger_gap: float | None,
              column: str) -> Guardrail:
    """A gap between groups of ``column`` may not grow by more than ``GAP_SLACK``."""
    if champion_gap is None or challenger_gap is None:
        return Guardrail(name, champion_gap, challenger_gap, None, True,
                         f"not compared: fewer than two groups of {column!r} are large enough.")
    limit = champion_gap + GAP_SLACK
    ok = challenger_gap <= limit
    return Guardrail(name, champion_gap, challenger_gap, limit, ok,
                     f"{name} over {column!r}: {challenger_gap:.3g} vs the champion's "
                     f"{champion_gap:.3g} (at most +{GAP_SLACK:g})")


def judge(comparison: PairedComparison, guardrails: list[Guardrail]) -> Verdict:
    """Promote only when the comparison says so and every guardrail passes."""
    failed = [g for g in guardrails if not g.passed]
    if comparison.decision != "promote":
        return Verdict(False, f"not promoted: {comparison.reason}", comparison, guardrails)
    if failed:
        return Verdict(False, "not promoted: better on the metric but worse on "
                       + "; ".join(g.note for g in failed) + ".", comparison, guardrails)
    return Verdict(True, f"promoted: {comparison.reason[0].lower()}{comparison.reason[1:]}"
                   " Every guardrail passed.", comparison, guardrails)
