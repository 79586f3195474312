"""`mlexpert audit`: the data audit before modelling, as a table or JSON, with --fail-on."""
from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import AsJson, Seed, Target, Task, print_json, rich_console, user_errors


def audit(
    data: Annotated[str, typer.Argument(help="Table to audit: CSV, TSV or Parquet path.")],
    target: Target,
    test: Annotated[Optional[str], typer.Option(help="Test table: adds duplicates, shared entities and shift.")] = None,
    time_column: Annotated[Optional[str], typer.Option(help="Column of event times.")] = None,
    groups: Annotated[Optional[str], typer.Option(help="Column naming entities (customer, patient...).")] = None,
    task: Task = None,
    seed: Seed = 0,
    as_json: AsJson = False,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 1 when a finding of this severity (or worse) exists: error or warning.")] = None,
) -> None:
    """Check DATA before modelling: quality, target, leakage, label issues, train/test shift."""
    import warnings

    if fail_on not in (None, "error", "warning"):
        raise typer.BadParameter("must be error or warning", param_hint="--fail-on")
    with user_errors():
        import mlexpert

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = mlexpert.audit(data, target=target, test=test, time_column=time_column,
                                    groups=groups, task=task, seed=seed)
        if as_json:
            print_json(report.to_dict())
        else:
            _report_audit(report)
    failing = {"error": ("error",), "warning": ("error", "warning")}.get(fail_on or "", ())
    if any(f.severity in failing for f in report.findings):
        raise typer.Exit(1)


def _report_audit(report: Any) -> None:
    """The findings as one table, then the checks that did not run."""
    from rich.table import Table

    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    c = report.counts
    table = Table(title=f"Audit of {report.rows} rows x {report.columns} columns, target "
                        f"{report.target!r} ({report.task}): {c['error']} error(s), "
                        f"{c['warning']} warning(s), {c['info']} info", show_lines=True)
    for col in ("severity", "check", "columns", "finding", "suggestion"):
        table.add_column(col)
    for f in report.findings:
        cols = ", ".join(f.columns[:4]) + (f" (+{len(f.columns) - 4})" if len(f.columns) > 4 else "")
        table.add_row(f"[{colours[f.severity]}]{f.severity}[/]", f.check, cols, f.message,
                      f.suggestion)
    console = rich_console()
    console.print(table)
    for line in report.skipped:
        console.print(f"[dim]not run: {line}[/]", soft_wrap=True)
