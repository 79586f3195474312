"""`mlexpert history`: rows whose target is now known added to a model's entity history."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlexpert.cli._common import ModelDir, rich_console, user_errors


def history(
    model_dir: ModelDir,
    data: Annotated[str, typer.Argument(
        help="Rows whose target is now known (target column filled): CSV, TSV or Parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing bundle at --out (MODEL itself included).")] = False,
) -> None:
    """Add DATA's labelled rows to the model's entity history without refitting (a model fitted
    with --time-column and an entity): its predictions for those entities' later rows start
    from them. Writes the updated model as a new bundle."""
    with user_errors():
        import mlexpert
        from mlexpert.bundle import check_writable

        check_writable(out, overwrite=force)
        model = mlexpert.load(model_dir)
        before = int(model.manifest.provenance.get("history_rows_added", 0))
        updated = model.with_history(data)
        updated.save(out, overwrite=force)
        added = int(updated.manifest.provenance["history_rows_added"]) - before
        rich_console(stderr=True).print(
            f"added {added} row(s) to the history of {model.manifest.plan['entity']['column']!r};"
            f" bundle written to {out}")
