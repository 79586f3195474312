"""`mlexpert report`: the model card, one self-contained HTML file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlexpert.cli._common import ModelDir, load_model, rich_console, user_errors


def report(
    model_dir: ModelDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("card.html"),
    data: Annotated[Optional[str], typer.Option(
        help="Labelled held-out table: adds holdout metrics, explanations, latency.")] = None,
    sensitive_column: Annotated[Optional[str], typer.Option(
        help="Column to compare groups on (needs --data).")] = None,
    card_notes: Annotated[Optional[Path], typer.Option(
        help='Markdown with "## Intended use" and "## Limitations" sections.')] = None,
) -> None:
    """Write the model card: one self-contained HTML file."""
    with user_errors():
        from mlexpert.report import read_notes, write_card

        model = load_model(model_dir)
        notes = read_notes(card_notes)
        path = write_card(model, out, data=data, sensitive_column=sensitive_column, notes=notes,
                          bundle_dir=model_dir)
        rich_console(stderr=True).print(f"model card written to {path}")
