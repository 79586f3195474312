"""Tracking from the command line: the Tracker `fit` logs to, and the `runs` (list, compare,
sync) and `registry` (register, list, show, promote, archive) sub-commands; the logic is in
mlexpert.tracking, MLflow imported only when a command runs."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import (
    AsJson,
    fitted_table,
    fmt_value,
    interval,
    print_json,
    rich_console,
    user_errors,
)


def tracker_for(track: bool | None, uri: str | None, experiment: str) -> Any:
    """The Tracker for `fit`, or None with --no-track (resolved before the fit: bad options
    fail fast, and MLflow is not imported until the run is logged)."""
    from mlexpert.tracking import Tracker, track_by_default

    if not (track if track is not None else track_by_default(True)):
        return None
    return Tracker(uri, experiment)


def log_run(tracker: Any, model: Any, out: Path) -> Any:
    """Log the saved bundle; a store that is down gives one warning line and a pending run."""
    import warnings

    if tracker is None:
        return None
    from mlexpert.tracking import TrackingWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", TrackingWarning)
        run = tracker.log_fit(model, bundle=out, command=["mlexpert", *sys.argv[1:]])
    for w in caught:
        if issubclass(w.category, TrackingWarning):
            rich_console(stderr=True).print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
    return run


def run_json(run: Any) -> Any:
    """The logged run as the "run" entry of `fit --json` (None when not tracked)."""
    if run is None:
        return None
    return {"run_id": run.run_id, "tracking_uri": run.uri, "experiment": run.experiment,
            "model_uri": run.model_uri, "pending": str(run.pending) if run.pending else None}


def report_run(run: Any) -> None:
    """One line naming the logged run, its store and experiment."""
    if run is not None and run.run_id:
        rich_console().print(f"run [bold]{run.run_id}[/] logged to {run.uri} "
                             f"(experiment {run.experiment!r})", soft_wrap=True)


TrackingUri = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./.mlexpert).")]

runs_app = typer.Typer(no_args_is_help=True, help="Logged fits: list, compare, sync pending runs.")
registry_app = typer.Typer(no_args_is_help=True,
                           help="Registered models with stages (staging, production, archived).")


def _when(ms: Any) -> str:
    """Milliseconds since the epoch as UTC "YYYY-MM-DD HH:MM:SS", "-" when missing."""
    from datetime import datetime, timezone

    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@runs_app.command("list")
def runs_list(
    experiment: Annotated[str, typer.Option(help="Experiment to list.")] = "mlexpert",
    limit: Annotated[int, typer.Option(help="Most recent runs to show.", min=1)] = 20,
    tracking_uri: TrackingUri = None,
    as_json: AsJson = False,
) -> None:
    """The latest fits of an experiment, newest first."""
    with user_errors():
        from mlexpert.tracking import list_runs

        runs = list_runs(uri=tracking_uri, experiment=experiment, limit=limit)
        if as_json:
            print_json({"experiment": experiment, "runs": runs})
            return
        columns = [("run id", "left"), ("started (UTC)", "left"), ("status", "left"),
                   ("target (task)", "left"), ("CV metric", "left"), ("95% CI", "left"),
                   ("rows", "right"), ("data", "left")]
        rows = [(r["run_id"], _when(r["start_time"]), r["status"],
                 f"{r['target'] or ''} ({r['task'] or ''})",
                 f"{r['metric'] or ''} {fmt_value(r['value'])}",
                 interval({"low": r["low"] if r["low"] is not None else math.nan,
                           "high": r["high"]}), r["rows"] or "", (r["data_fingerprint"] or "")[:8])
                for r in runs]
        console = rich_console()
        table = fitted_table(console, f"Runs of experiment {experiment!r}", columns, rows,
                             drop_order=("data", "status", "rows", "started (UTC)", "95% CI"))
        console.print(table)


@runs_app.command("compare")
def runs_compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="Run id or runs:/ID.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="Run id or runs:/ID.")],
    tracking_uri: TrackingUri = None,
    as_json: AsJson = False,
) -> None:
    """Metrics side by side with deltas (B - A), and the params that differ."""
    with user_errors():
        from rich.table import Table

        from mlexpert.tracking import compare_runs

        report = compare_runs(run_a, run_b, uri=tracking_uri)
        if as_json:
            print_json(report)
            return
        console = rich_console()
        table = Table(title=f"Metrics: A={report['a']['run_id'][:12]} B={report['b']['run_id'][:12]}")
        for col in ("metric", "A", "B", "B - A"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for m in report["metrics"]:
            delta = m["delta"]
            shown = "-" if delta is None else f"{delta:+.4f}"
            table.add_row(m["metric"], fmt_value(m["a"]), fmt_value(m["b"]), shown)
        console.print(table)
        if report["params_differing"]:
            params = Table(title="Params that differ")
            for col in ("param", "A", "B"):
                params.add_column(col)
            for p in report["params_differing"]:
                params.add_row(p["param"], str(p["a"]), str(p["b"]))
            console.print(params)
        else:
            console.print("same params")
        console.print("same data (fingerprint)" if report["same_data"] else
                      "[yellow]different data[/] (fingerprints differ)")


@runs_app.command("sync")
def runs_sync(tracking_uri: TrackingUri = None, as_json: AsJson = False) -> None:
    """Send runs kept on disk while the tracking store was unreachable."""
    with user_errors():
        from mlexpert.tracking import sync_pending

        results = sync_pending(tracking_uri)
        failed = [r for r in results if r["error"]]
        if as_json:
            print_json({"synced": [r for r in results if not r["error"]], "failed": failed})
        else:
            console = rich_console()
            if not results:
                console.print("no pending runs")
            for r in results:
                if r["error"]:
                    console.print(f"[red]kept[/] {r['pending']}: {r['error']}", soft_wrap=True)
                else:
                    console.print(f"sent {r['pending']} as run [bold]{r['run_id']}[/]",
                                  soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _print_version(v: dict[str, Any]) -> None:
    """One line for a registered model version: name, version, stage, run, metric."""
    rich_console().print(f"{v['name']} version [bold]{v['version']}[/]: {v['stage']} "
                         f"(run {v['run_id']}, {v['metric'] or '-'})", soft_wrap=True)


Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with the transition).")]
Who = Annotated[Optional[str], typer.Option("--who", help="Who (default: the OS user).")]


@registry_app.command("register")
def registry_register(
    source: Annotated[str, typer.Argument(metavar="RUN_OR_BUNDLE",
                                          help="Run id, runs:/ID or bundle directory.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Registered model name.")],
    experiment: Annotated[str, typer.Option(help="Experiment for a bundle's new run.")] = "mlexpert",
    reason: Reason = "", who: Who = None, tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Register a run's model (or a bundle, logged as a new run) as a new version of NAME."""
    with user_errors():
        from mlexpert.tracking import register

        v = register(source, name, uri=tracking_uri, experiment=experiment, reason=reason, who=who)
        print_json(v) if as_json else _print_version(v)


@registry_app.command("list")
def registry_list(tracking_uri: TrackingUri = None, as_json: AsJson = False) -> None:
    """Registered models with their latest, staging and production versions."""
    with user_errors():
        from rich.table import Table

        from mlexpert.tracking import list_models

        models = list_models(uri=tracking_uri)
        if as_json:
            print_json({"models": models})
            return
        table = Table(title="Registered models")
        for col in ("name", "versions", "latest", "staging", "production"):
            table.add_column(col, justify="left" if col == "name" else "right")
        for m in models:
            table.add_row(m["name"], str(m["versions"]), fmt_value(m["latest"]), fmt_value(m["staging"]),
                          fmt_value(m["production"]))
        rich_console().print(table)


@registry_app.command("show")
def registry_show(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Every version of NAME with its stage, run, metric and transition history."""
    with user_errors():
        from rich.table import Table

        from mlexpert.tracking import show

        report = show(name, uri=tracking_uri)
        if as_json:
            print_json(report)
            return
        table = Table(title=f"Model {name!r}", show_lines=True)
        for col in ("version", "stage", "created (UTC)", "metric", "run id", "history"):
            table.add_column(col)
        for v in report["versions"]:
            history = "\n".join(f"{t['when']} {t['from'] or '-'}→{t['to']} by {t['who']}: {t['why']}"
                                for t in v["transitions"])
            table.add_row(str(v["version"]), v["stage"], _when(v["created"]), v["metric"] or "-",
                          v["run_id"] or "-", history)
        rich_console().print(table)


@registry_app.command("promote")
def registry_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Option("--version", "-v", help="Version to promote.", min=1)],
    to: Annotated[str, typer.Option("--to", help="staging or production.")],
    force: Annotated[bool, typer.Option("--force", help="Promote even if the input schema "
                                        "differs from production's.")] = False,
    reason: Reason = "", who: Who = None, tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Move VERSION to staging or production; the version it replaces is archived."""
    if to not in ("staging", "production"):
        raise typer.BadParameter("must be staging or production", param_hint="--to")
    with user_errors():
        from mlexpert.tracking import promote

        v = promote(name, version, to, uri=tracking_uri, force=force, reason=reason, who=who)
        print_json(v) if as_json else _print_version(v)


@registry_app.command("archive")
def registry_archive(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Option("--version", "-v", help="Version to archive.", min=1)],
    reason: Reason = "", who: Who = None, tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Take VERSION out of staging/production and mark it archived."""
    with user_errors():
        from mlexpert.tracking import archive

        v = archive(name, version, uri=tracking_uri, reason=reason, who=who)
        print_json(v) if as_json else _print_version(v)
