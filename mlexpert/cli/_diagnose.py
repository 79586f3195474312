"""`mlexpert diagnose`: a training run's curves checked (diverging, oscillating, stuck at chance,
slow, overfitting, underfitting, a gap from the start), as a table, JSON or an HTML report."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import AsJson, Task, print_json, rich_console, user_errors


def diagnose(
    run: Annotated[Optional[str], typer.Option(
        "--run", help="MLflow run id (or runs:/RUN_ID) whose metric histories to read.")] = None,
    history: Annotated[Optional[Path], typer.Option(
        "--history", help="Training log: CSV, JSON or JSON Lines, one row per epoch.")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(
        help="MLflow tracking URI for --run (default: $MLFLOW_TRACKING_URI, else the local "
             "store).")] = None,
    task: Task = None,
    priors: Annotated[Optional[str], typer.Option(
        help="Class shares for the chance level: 0.7,0.3 or no=0.7,yes=0.3.")] = None,
    data: Annotated[Optional[str], typer.Option(
        help="Labelled table (CSV, TSV or Parquet) to compute the class priors from.")] = None,
    target: Annotated[Optional[str], typer.Option(
        "--target", "-t", help="Label column of --data.")] = None,
    html: Annotated[Optional[Path], typer.Option(
        "--html", help="Write a self-contained HTML report with the curves here.")] = None,
    as_json: AsJson = False,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 1 when a finding of this severity (or worse) exists: error or "
                          "warning.")] = None,
) -> None:
    """Diagnose a training run from its per-epoch history (--run or --history): what went
    wrong, from which epoch, and what to try."""
    if (run is None) == (history is None):
        raise typer.BadParameter("give exactly one of --run and --history", param_hint="--run")
    if fail_on not in (None, "error", "warning"):
        raise typer.BadParameter("must be error or warning", param_hint="--fail-on")
    with user_errors():
        import mlexpert

        report = mlexpert.diagnose(run if run is not None else history, data, target=target,
                                   task=task, priors=priors, tracking_uri=tracking_uri)
        if html is not None:
            report.save_html(html)
        if as_json:
            print_json(report.to_dict())
        else:
            _report_diagnosis(report, html)
    failing = {"error": ("error",), "warning": ("error", "warning")}.get(fail_on or "", ())
    if any(f.severity in failing for f in report.findings):
        raise typer.Exit(1)


def _report_diagnosis(report: Any, html: Optional[Path]) -> None:
    """What was read, then the findings as one table."""
    from rich.table import Table

    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    console = rich_console()
    c = report.counts
    for section in report.sections:
        console.print(f"[bold]{section.title}[/] of {report.source}: "
                      f"{section.summary.get('description', '')}", soft_wrap=True)
    table = Table(title=f"Diagnosis: {c['error']} error(s), {c['warning']} warning(s), "
                        f"{c['info']} info", show_lines=True)
    for col in ("severity", "check", "finding", "what to try"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(f"[{colours[f.severity]}]{f.severity}[/]", f.check, f.message, f.suggestion)
    console.print(table)
    for section in report.sections:
        for line in section.skipped:
            console.print(f"[dim]not checked: {line}[/]", soft_wrap=True)
    if html is not None:
        console.print(f"report written to {html}")
