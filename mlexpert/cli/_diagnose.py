"""`mlexpert diagnose`: a training run's curves checked (diverging, oscillating, stuck at chance,
slow, overfitting, underfitting, a gap from the start), or a fitted model (`mlexpert diagnose
MODEL_DIR --data labelled.csv --serving rows.jsonl`: learning curve, bias and variance, the dummy
baseline, train/serve skew), as a table, JSON or an HTML report."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import AsJson, Task, print_json, rich_console, user_errors


def diagnose(
    model: Annotated[Optional[str], typer.Argument(
        help="A model bundle directory (or models:/NAME@ALIAS) to diagnose with --data and "
             "--serving, instead of a training run.", show_default=False)] = None,
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
        help="Labelled table (CSV, TSV or Parquet): with MODEL, rows with its target for the "
             "learning curve, bias/variance and the dummy baseline; with --history, the class "
             "priors.")] = None,
    serving: Annotated[Optional[str], typer.Option(
        help="With MODEL: rows as the service receives them (JSON Lines, CSV or Parquet), "
             "checked for train/serve skew.")] = None,
    time_limit: Annotated[float, typer.Option(
        help="With MODEL and --data: seconds for the learning curve's refits, all sizes "
             "together.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the splits, resamples and refits.")] = 0,
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
    wrong, from which epoch, and what to try. Or a fitted model (MODEL --data labelled.csv
    --serving rows.jsonl): does more data help, over- or underfitting, better than a dummy,
    train/serve skew."""
    if sum(x is not None for x in (model, run, history)) != 1:
        raise typer.BadParameter("give exactly one of MODEL, --run and --history",
                                 param_hint="MODEL")
    if model is None and serving is not None:
        raise typer.BadParameter("--serving needs MODEL (a bundle directory)",
                                 param_hint="--serving")
    if fail_on not in (None, "error", "warning"):
        raise typer.BadParameter("must be error or warning", param_hint="--fail-on")
    with user_errors():
        import mlexpert

        if model is not None:
            if not model.startswith("models:/") and not Path(model).is_dir():
                raise mlexpert.DataError(f"no model bundle at {model!r}: give the directory "
                                         "written by mlexpert fit --out (or models:/NAME@ALIAS).")
            report = mlexpert.diagnose(model if model.startswith("models:/") else Path(model),
                                       data, target=target, task=task, priors=priors,
                                       serving=serving, time_limit=time_limit, seed=seed)
        else:
            report = mlexpert.diagnose(run if run is not None else history, data,
                                       target=target, task=task, priors=priors,
                                       tracking_uri=tracking_uri)
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
                      f"{section.summary.get('description') or 'not run (see below)'}",
                      soft_wrap=True)
    _curve_table(report, console)
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


def _curve_table(report: Any, console: Any) -> None:
    """The learning curve's points, when one was drawn: rows, held-out score with its
    interval, training score."""
    from rich.table import Table

    section = report.section("learning_curve")
    if section is None or not section.summary.get("rows"):
        return
    s = section.summary
    table = Table(title=f"Learning curve ({s['metric']}, {s['held_out']} held-out rows)")
    for col in ("rows", "held-out", "95 % interval", "training"):
        table.add_column(col, justify="right")
    for rows, point, train in zip(s["rows"], s["held_out_scores"], s["train_scores"],
                                  strict=True):
        band = "-" if point["low"] is None else f"{point['low']:.4g} to {point['high']:.4g}"
        table.add_row(str(rows), f"{point['value']:.4g}", band, f"{train:.4g}")
    console.print(table)
