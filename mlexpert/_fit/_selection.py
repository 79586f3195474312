"""What feature selection left the shipped model: the columns its members read (the schema a
request must fill then shrinks to them) and the finding that says what was dropped and why."""
from __future__ import annotations

from typing import Any

from mlexpert.data import Schema
from mlexpert.features import Selection
from mlexpert.findings import Finding


def used_columns(members: list[Any]) -> set[str]:
    """The input columns the members' fitted preprocessors read."""
    used: set[str] = set()
    for member in members:
        for transformer, _ in member.parts:
            for _, step, columns in getattr(transformer, "transformers_", []):
                if not (isinstance(step, str) and step == "drop"):
                    used.update(str(c) for c in columns)
    return used


def narrowed(schema: Schema, members: list[Any],
             selections: dict[Any, Selection]) -> tuple[Schema, list[Finding]]:
    """The schema of the columns the shipped members read, and an info finding naming the
    dropped ones with the reason selection gave on all rows (or on the folds)."""
    if not selections:
        return schema, []
    used = used_columns(members)
    features = [c.name for c in schema.features]
    dropped = [c for c in features if c not in used]
    if not dropped:
        return schema, []
    why = {**{k: v for s in selections.values() for k, v in s.dropped.items()},
           **selections.get("all", Selection([])).dropped}
    reasons = {c: why.get(c, "dropped in every fold's selection") for c in dropped}
    duplicates = [c for c, r in reasons.items() if r.startswith("repeats")]
    shown = "; ".join(f"{c!r}: {r}" for c, r in list(reasons.items())[:5])
    more = f" (and {len(dropped) - 5} more)" if len(dropped) > 5 else ""
    message = (f"feature selection kept {len(features) - len(dropped)} of {len(features)} "
               f"columns: {len(duplicates)} repeat another, {len(dropped) - len(duplicates)} "
               "were no more important to a quick model than shuffled copies of the columns "
               "(decided on "
               f"each training fold's rows, and on all rows for the shipped model). {shown}{more}.")
    finding = Finding(check="feature_selection", severity="info", columns=tuple(dropped),
                      message=message, evidence={"kept": len(features) - len(dropped),
                                                 "columns": len(features),
                                                 "dropped": reasons},
                      suggestion="requests to the model need only the kept columns; fit without "
                                 "select_columns to keep every one.")
    return schema.narrowed([c for c in features if c in used]), [finding]
