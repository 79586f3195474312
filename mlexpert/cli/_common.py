"""What every command shares: the Rich console, the user-error boundary, strict JSON on stdout,
number formatting, findings lines and the Annotated option types several commands declare.

Rich is imported inside the functions that print, never at module load: `mlexpert --help`
stays light.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

COMMAND_STARTED = time.monotonic()  # when the command's time began (its modules load first)
LEADERBOARD_ROWS = 12  # candidates (and drift rows) shown in the terminal; --json has them all

ModelDir = Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")]
Target = Annotated[str, typer.Option("--target", "-t", help="Column to predict.")]
Task = Annotated[Optional[str], typer.Option(help="binary, multiclass or regression (auto).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def rich_console(stderr: bool = False) -> Any:
    """A Rich console without highlighting (Rich honours NO_COLOR)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def fitted_table(console: Any, title: str, columns: list[tuple[str, str]], rows: list[tuple],
                 drop_order: tuple[str, ...] = (), caption: str | None = None) -> Any:
    """A Rich table whose first column (names users tell apart) is never cut: when the terminal
    is too narrow, the columns of ``drop_order`` go first, in that order, rather than every
    column being squeezed to a few characters. ``columns``: (header, justify)."""
    from rich.measure import Measurement
    from rich.table import Table

    keep = [name for name, _ in columns]
    widest = max([len(str(r[0])) for r in rows] + [len(keep[0])])
    while True:
        table = Table(title=title, caption=caption)
        for i, (name, justify) in enumerate(columns):
            if name in keep:
                table.add_column(name, justify=justify, no_wrap=i == 0,
                                 min_width=widest if i == 0 else None)
        for r in rows:
            table.add_row(*(v for (name, _), v in zip(columns, r, strict=True) if name in keep))
        droppable = [c for c in drop_order if c in keep]
        if not droppable or Measurement.get(console, console.options, table).minimum <= console.width:
            return table
        keep.remove(droppable[0])


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn library errors into one line + exit 1, and Ctrl-C into exit 130."""
    from mlexpert.errors import MlexpertError

    try:
        yield
    except MlexpertError as exc:
        rich_console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        rich_console(stderr=True).print("interrupted: nothing partial was written.")
        raise typer.Exit(130) from None


def print_json(obj: Any) -> None:
    """One strict JSON object on stdout: NaN and infinities (undefined intervals) become null."""
    from mlexpert._io import dumps

    print(dumps(obj))


def fmt_value(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals, "-" for None or NaN, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def interval(entry: dict[str, float]) -> str:
    """An entry's 95% interval as "[low, high]", "-" when undefined."""
    if math.isnan(entry.get("low", float("nan"))):
        return "-"
    return f"[{entry['low']:.4f}, {entry['high']:.4f}]"


def print_findings(console: Any, findings: list[Any]) -> None:
    """One coloured line per finding, its suggestion dimmed after an arrow."""
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in findings:
        tip = f" [dim]→ {f.suggestion}[/]" if f.suggestion else ""
        console.print(f"[{colours[f.severity]}]{f.severity}:[/] {f.message}{tip}", soft_wrap=True)


def load_model(model_dir: Path) -> Any:
    """The bundle at ``model_dir`` through the public ``mlexpert.load``."""
    import mlexpert

    return mlexpert.load(model_dir)


def write_csv(table: Any, out: Path) -> None:
    """Write a DataFrame as CSV to ``out`` atomically (no half file after an error or Ctrl-C)."""
    from mlexpert._io import atomic_file

    with atomic_file(out) as tmp:
        table.to_csv(tmp, index=False)
