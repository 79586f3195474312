"""The `mlexpert` command line: one verb per lifecycle step, no logic of its own.

User errors (any MlexpertError) print one line on stderr and exit 1; usage errors exit 2 (Typer);
Ctrl-C exits 130 having written nothing partial. Rich stays in this module, imported on use.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

LEADERBOARD_ROWS = 12  # candidates shown in the terminal; --json has them all

app = typer.Typer(
    name="mlexpert", no_args_is_help=True, add_completion=False,
    pretty_exceptions_show_locals=False,
    help="An ML engineer in a box: fit, evaluate and predict tabular models with evidence.")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn library errors into one line + exit 1, and Ctrl-C into exit 130."""
    from mlexpert.errors import MlexpertError

    try:
        yield
    except MlexpertError as exc:
        _console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted: nothing partial was written.")
        raise typer.Exit(130) from None


def _print_json(obj: Any) -> None:
    """One strict JSON object on stdout: NaN and infinities (undefined intervals) become null."""

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    print(json.dumps(clean(obj), default=str, allow_nan=False))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _interval(entry: dict[str, float]) -> str:
    if math.isnan(entry.get("low", float("nan"))):
        return "-"
    return f"[{entry['low']:.4f}, {entry['high']:.4f}]"


def _print_findings(console: Any, findings: list[Any]) -> None:
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in findings:
        tip = f" [dim]→ {f.suggestion}[/]" if f.suggestion else ""
        console.print(f"[{colours[f.severity]}]{f.severity}:[/] {f.message}{tip}", soft_wrap=True)


class _FitDisplay:
    """Rich progress for the search: what is tried, the best score so far, the time left."""

    def __init__(self, time_limit: float, console: Any):
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[best]}"), TextColumn("{task.fields[left]}"),
                                 console=console, transient=True)
        self.time_limit = time_limit
        self.task = self.progress.add_task("searching", total=time_limit, best="", left="")
        self.started = False

    def stop(self) -> None:
        if self.started:
            self.progress.stop()

    def __call__(self, event: Any) -> None:
        if not self.started:  # start on the first event, so data errors print cleanly
            self.progress.start()
            self.started = True
        best = f"best {event.best_model} {event.best_score:.4f}" if event.best_model else ""
        elapsed = max(0.0, self.time_limit - event.seconds_left)
        self.progress.update(self.task, completed=min(elapsed, self.time_limit),
                             description=f"[{event.done}/{event.total}] {event.message}",
                             best=best, left=f"{max(event.seconds_left, 0):.0f}s left")


@app.command()
def fit(
    data: Annotated[str, typer.Argument(help="Training table: CSV, TSV or Parquet path.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")] = Path("model"),
    time_limit: Annotated[float, typer.Option(help="Seconds for the whole fit.", min=0.1)] = 60.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    task: Annotated[Optional[str], typer.Option(help="binary, multiclass or regression (auto).")] = None,
    metric: Annotated[Optional[str], typer.Option(help="Metric to optimise (auto).")] = None,
    groups: Annotated[Optional[str], typer.Option(help="Column of groups for grouped CV.")] = None,
    time_column: Annotated[Optional[str], typer.Option(help="Column to split on in time order.")] = None,
    sample_weight: Annotated[Optional[str], typer.Option(help="Column of row weights.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Column to leave out (repeatable).")] = None,
    keep_columns: Annotated[Optional[list[str]], typer.Option(
        "--keep-columns", help="Column to use even if the audit would leave it out (repeatable).")] = None,
    presets: Annotated[str, typer.Option(
        help="fast (one model, lowest latency), balanced or best (bigger ensembles).")] = "balanced",
    budget: Annotated[Optional[int], typer.Option(
        help="Tuning trials after the portfolio: the same model on any machine; --time-limit "
             "is then only a safety cap.", min=0)] = None,
    dask: Annotated[Optional[str], typer.Option(
        help="Run the search's fits on Dask: 'local' (a cluster on this machine) or a scheduler "
             "address (tcp://host:8786).")] = None,
    infer_limit: Annotated[Optional[float], typer.Option(
        help="Most seconds one row may take to predict (batch size 1); the search ships only "
             "models that meet it.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle at --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fit the best model for TARGET within --time-limit and write a bundle to --out."""
    import warnings

    with _user_errors():
        from mlexpert import fit as fit_model
        from mlexpert.bundle import check_writable

        check_writable(out, overwrite=force)  # before the fit, not after a long wait
        err = _console(stderr=True)
        display = None if as_json else _FitDisplay(time_limit, err)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit_model(data, target, time_limit=time_limit, seed=seed, task=task,
                                  metric=metric, groups=groups, time_column=time_column,
                                  sample_weight=sample_weight, ignore_columns=ignore or (),
                                  keep_columns=keep_columns or (), presets=presets,
                                  budget=budget, infer_limit=infer_limit, progress=display,
                                  executor=None if dask is None else
                                  "dask://" + dask.removeprefix("dask://"))
        finally:
            if display is not None:
                display.stop()
        model.save(out, overwrite=force)
        if as_json:
            info = model.info
            _print_json({"bundle": str(out), "task": model.task, "metric": model.metric,
                         "cv": model.metrics, "leaderboard": info["leaderboard"],
                         "findings": info["findings"],
                         "fit_seconds": info["provenance"]["fit_seconds"]})
            return
        _report_fit(model, out)


def _report_fit(model: Any, out: Path) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=f"Leaderboard ({model.metric}, {model.info['plan']['split']['n_splits']}-fold "
                        f"{model.info['plan']['split']['kind']} CV)")
    numeric = (model.metric, "± std", "p vs best", "fit s", "ms/row", "weight")
    for col in ("model", *numeric[:3], "status", *numeric[3:], "final fit"):
        table.add_column(col, justify="right" if col in numeric else "left")
    board = model.info["leaderboard"]
    for row in board[:LEADERBOARD_ROWS]:
        table.add_row(row["model"], _fmt(row["score"]), _fmt(row.get("score_std")),
                      _fmt(row.get("p_vs_best"), 2), row["status"], _fmt(row["fit_seconds"], 1),
                      _fmt(row.get("latency_ms_per_row"), 2),
                      _fmt(row["ensemble_weight"], 2) if row["ensemble_weight"] else "",
                      row["final_fit"])
    if len(board) > LEADERBOARD_ROWS:
        table.caption = f"{len(board) - LEADERBOARD_ROWS} more candidate(s): see --json or " \
                        "Model.leaderboard"
    console.print(table)
    cv = model.metrics[model.metric]
    console.print(f"cross-validated {model.metric}: [bold]{cv['value']:.4f}[/] "
                  f"95% CI {_interval(cv)}  ({model.task}, target {model.target!r})")
    latency = model.info.get("inference", {}).get("latency_ms_per_row")
    if latency is not None:
        console.print(f"one-row predict: {latency:.1f} ms (measured; ms/row above are estimates)")
    _print_findings(console, model.findings)
    console.print(f"bundle written to [bold]{out}[/] "
                  f"(fit took {model.info['provenance']['fit_seconds']:.1f}s)")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    data: Annotated[str, typer.Argument(help="Table to score: CSV, TSV or Parquet path.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="CSV to write (default: stdout).")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Column copied to the output.")] = None,
    dask: Annotated[Optional[str], typer.Option(
        help="Score on Dask: 'local' or a scheduler address (tcp://host:8786). DATA may then be "
             "a glob or folder of files, and --out is a folder of Parquet parts.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out folder.")] = False,
) -> None:
    """Predict every row of DATA; classification adds one probability column per class."""
    import warnings

    if dask is not None:
        _predict_on_dask(model_dir, data, out, id_column, dask, force)
        return
    with _user_errors():
        import mlexpert
        from mlexpert.bundle import ExtraColumnsWarning
        from mlexpert.data import read_table
        from mlexpert.errors import missing_column

        model = mlexpert.load(model_dir)
        frame = read_table(data)
        if id_column is not None and id_column not in frame.columns:
            raise missing_column(id_column, "id", frame.columns)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ExtraColumnsWarning)
            result = _predictions(model, frame, id_column, data)
        err = _console(stderr=True)
        for w in caught:
            if issubclass(w.category, ExtraColumnsWarning):
                err.print(f"note: {w.message}", soft_wrap=True)
        if out is None:
            result.to_csv(sys.stdout, index=False)
            return
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.to_csv(tmp, index=False)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        err.print(f"wrote {len(result)} predictions to {out}")


def _predict_on_dask(model_dir: Path, data: str, out: Optional[Path], id_column: Optional[str],
                     address: str, force: bool) -> None:
    with _user_errors():
        import mlexpert
        from mlexpert.distributed import connect, partitions, score_files
        from mlexpert.errors import ConfigError

        if out is None:
            raise ConfigError("--out is required with --dask: the folder to write Parquet parts to.")
        model = mlexpert.load(model_dir)
        partitions(data)  # no matching files: say so before starting a cluster
        executor = connect(address)
        try:
            parts = score_files(model, data, out, executor, id_column=id_column, overwrite=force)
        finally:
            executor.shutdown()
        _console(stderr=True).print(f"wrote {sum(p.rows for p in parts)} predictions in "
                                    f"{len(parts)} part(s) to {out}")


def _predictions(model: Any, frame: Any, id_column: str | None, path: str) -> Any:
    from mlexpert.data import describe_source

    table = model.predict_table(frame, source=describe_source(path))
    if id_column is not None:
        table.insert(0, id_column, frame[id_column])
    return table


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    data: Annotated[str, typer.Argument(help="Labelled table: CSV, TSV or Parquet path.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score the model on labelled DATA: every metric with a 95% bootstrap interval."""
    import warnings

    with _user_errors():
        from rich.table import Table

        import mlexpert

        model = mlexpert.load(model_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = model.evaluate(data)
        report["cv"] = model.metrics
        if as_json:
            _print_json(report)
            return
        table = Table(title=f"Holdout evaluation on {report['rows']} rows ({model.task})")
        for col in ("metric", "holdout", "95% CI", "cross-validated"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for name, entry in report["metrics"].items():
            cv = model.metrics.get(name)
            label = f"[bold]{name}[/]" if name == model.metric else name
            table.add_row(label, _fmt(entry["value"]), _interval(entry),
                          _fmt(cv["value"]) if cv else "-")
        _console().print(table)


@app.command()
def audit(
    data: Annotated[str, typer.Argument(help="Table to audit: CSV, TSV or Parquet path.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    test: Annotated[Optional[str], typer.Option(help="Test table: adds duplicates, shared entities and shift.")] = None,
    time_column: Annotated[Optional[str], typer.Option(help="Column of event times.")] = None,
    groups: Annotated[Optional[str], typer.Option(help="Column naming entities (customer, patient...).")] = None,
    task: Annotated[Optional[str], typer.Option(help="binary, multiclass or regression (auto).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 1 when a finding of this severity (or worse) exists: error or warning.")] = None,
) -> None:
    """Check DATA before modelling: quality, target, leakage, label issues, train/test shift."""
    import warnings

    if fail_on not in (None, "error", "warning"):
        raise typer.BadParameter("must be error or warning", param_hint="--fail-on")
    with _user_errors():
        import mlexpert

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = mlexpert.audit(data, target=target, test=test, time_column=time_column,
                                    groups=groups, task=task, seed=seed)
        if as_json:
            _print_json(report.to_dict())
        else:
            _report_audit(report)
    failing = {"error": ("error",), "warning": ("error", "warning")}.get(fail_on or "", ())
    if any(f.severity in failing for f in report.findings):
        raise typer.Exit(1)


def _report_audit(report: Any) -> None:
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
    console = _console()
    console.print(table)
    for line in report.skipped:
        console.print(f"[dim]not run: {line}[/]", soft_wrap=True)


@app.command()
def serve(
    source: Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle directory (or any "
                                          "source mlexpert.load accepts, e.g. a registry URI).")],
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the service.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes, each with the model.")] = 1,
    strict: Annotated[bool, typer.Option(help="Refuse (422) records with fields the model does not use.")] = False,
    max_records: Annotated[int, typer.Option(min=1, help="Records per POST /predict.")] = 1000,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Body size of POST /predict, MiB.")] = 1.0,
    max_batch_rows: Annotated[int, typer.Option(min=1, help="Rows per POST /predict/batch upload.")] = 1_000_000,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key (unset: no auth).")] = "MLEXPERT_API_KEY",
    cors_origin: Annotated[Optional[list[str]], typer.Option(help="Allow this browser origin (repeatable); CORS is off without it.")] = None,
    watch: Annotated[float, typer.Option(min=0, help="Seconds between checks that the source moved to a new version (0: off).")] = 0.0,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /predict, /predict/batch; GET /health, /ready, /metadata, /metrics."""
    with _user_errors():
        from mlexpert.serve import ServeSettings
        from mlexpert.serve import serve as run_service

        settings = ServeSettings(max_records=max_records, max_body_bytes=int(max_body_mb * (1 << 20)),
                                 max_batch_rows=max_batch_rows, strict=strict, api_key_env=api_key_env,
                                 cors_origins=tuple(cor for cor in cors_origin or ()), watch_interval=watch)
        err = _console(stderr=True)
        if host not in ("127.0.0.1", "localhost", "::1") and settings.api_key() is None:
            err.print(f"warning: serving on {host} without an API key; set {api_key_env} to require one.",
                      soft_wrap=True)
        run_service(source, host=host, port=port, workers=workers, settings=settings,
                    log_level=log_level)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
