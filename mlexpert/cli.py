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
    data: Annotated[str, typer.Argument(
        help="Training table: CSV, TSV or Parquet path, or a folder or glob of them.")],
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
    data_on_cluster: Annotated[Optional[bool], typer.Option(
        "--data-on-cluster/--data-local", help="With --dask and Parquet files (a folder or glob): "
        "train XGBoost/LightGBM on the workers, the data never gathered here (default: when it "
        "is big for this machine or a worker).")] = None,
    infer_limit: Annotated[Optional[float], typer.Option(
        help="Most seconds one row may take to predict (batch size 1); the search ships only "
             "models that meet it.")] = None,
    size_limit: Annotated[Optional[float], typer.Option(
        help="Most megabytes the shipped models may take pickled; the search ships only "
             "models that fit.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle at --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate", help="Recalibrate probabilities when it lowers out-of-fold log loss.")] = True,
    optimize_threshold: Annotated[Optional[str], typer.Option(
        help="Binary: choose the decision threshold for f1, balanced_accuracy, mcc, accuracy or cost.")] = None,
    cost_matrix: Annotated[Optional[str], typer.Option(
        help='Binary: costs "TN,FP,FN,TP" per row (e.g. "0,1,5,0"); implies --optimize-threshold cost.')] = None,
    card: Annotated[bool, typer.Option(
        "--card/--no-card", help="Write the model card (card.html) into the bundle.")] = True,
    track: Annotated[Optional[bool], typer.Option(
        "--track/--no-track", help="Log the fit to MLflow (default: on, or $MLEXPERT_TRACK).")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./.mlexpert).")] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment to log to.")] = "mlexpert",
) -> None:
    """Fit the best model for TARGET within --time-limit and write a bundle to --out."""
    import warnings

    with _user_errors():
        from mlexpert import fit as fit_model
        from mlexpert.bundle import check_writable

        check_writable(out, overwrite=force)  # before the fit, not after a long wait
        tracker = _tracker(track, tracking_uri, experiment)
        err = _console(stderr=True)
        display = None if as_json else _FitDisplay(time_limit, err)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit_model(data, target, time_limit=time_limit, seed=seed, task=task,
                                  metric=metric, groups=groups, time_column=time_column,
                                  sample_weight=sample_weight, ignore_columns=ignore or (),
                                  keep_columns=keep_columns or (), presets=presets,
                                  budget=budget, infer_limit=infer_limit, size_limit=size_limit,
                                  progress=display,
                                  executor=None if dask is None else
                                  "dask://" + dask.removeprefix("dask://"),
                                  calibrate=calibrate, optimize_threshold=optimize_threshold,
                                  cost_matrix=_cost_matrix(cost_matrix),
                                  data_on_cluster=data_on_cluster,
                                  track=False)  # logged below, after the bundle is saved
        finally:
            if display is not None:
                display.stop()
        model.save(out, overwrite=force)
        if card:
            from mlexpert.report import write_card

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                write_card(model, out / "card.html", bundle_dir=out)
        run = _log_run(tracker, model, out)
        if as_json:
            info = model.info
            _print_json({"bundle": str(out), "task": model.task, "metric": model.metric,
                         "cv": model.metrics, "leaderboard": info["leaderboard"],
                         "findings": info["findings"],
                         "fit_seconds": info["provenance"]["fit_seconds"],
                         "run": _run_json(run)})
            return
        _report_fit(model, out)
        _report_run(run)


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
                      _fmt(row.get("p_vs_best"), 2) + (" ≈" if row.get("indistinguishable") else ""),
                      row["status"], _fmt(row["fit_seconds"], 1),
                      _fmt(row.get("latency_ms_per_row"), 2),
                      _fmt(row["ensemble_weight"], 2) if row["ensemble_weight"] else "",
                      row["final_fit"])
    if len(board) > LEADERBOARD_ROWS:
        table.caption = f"{len(board) - LEADERBOARD_ROWS} more candidate(s): see --json or " \
                        "Model.leaderboard"
    console.print(table)
    console.print("[dim]≈ statistically indistinguishable from the best (one-sided p ≥ 0.05, "
                  "corrected paired t-test on the same folds)[/]")
    cv = model.metrics[model.metric]
    console.print(f"cross-validated {model.metric}: [bold]{cv['value']:.4f}[/] "
                  f"95% CI {_interval(cv)}  ({model.task}, target {model.target!r})")
    inference = model.info.get("inference", {})
    latency, estimate = inference.get("latency_ms_per_row"), inference.get("estimated_ms_per_row")
    if latency is not None:
        warm = "" if estimate is None else f"; once compiled ~{estimate:.2f} ms, estimated"
        console.print(f"one-row predict: {latency:.1f} ms through the members (measured{warm})")
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
    sensitive_column: Annotated[Optional[str], typer.Option(
        help="Column to compare groups on: metrics per group, parity gaps.")] = None,
) -> None:
    """Score the model on labelled DATA: every metric with a 95% bootstrap interval."""
    import warnings

    with _user_errors():
        from rich.table import Table

        import mlexpert

        model = mlexpert.load(model_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = model.evaluate(data, sensitive_column=sensitive_column)
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
        console = _console()
        console.print(table)
        _print_evaluation_details(console, model, report)


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




def _cost_matrix(text: str | None) -> list[list[float]] | None:
    """ "TN,FP,FN,TP" -> [[TN, FP], [FN, TP]]; the library validates the numbers."""
    if text is None:
        return None
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"expected four numbers TN,FP,FN,TP, got {text!r}",
                                 param_hint="--cost-matrix") from None
    if len(values) != 4:
        raise typer.BadParameter(f"expected four numbers TN,FP,FN,TP, got {len(values)}",
                                 param_hint="--cost-matrix")
    return [values[:2], values[2:]]


def _load_quiet(model_dir: Path) -> Any:
    import mlexpert

    return mlexpert.load(model_dir)


@app.command()
def explain(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    data: Annotated[str, typer.Argument(help="Rows to explain: CSV, TSV or Parquet path.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="CSV to write (default: stdout).")] = None,
    class_label: Annotated[Optional[str], typer.Option(
        "--class", help="Class whose probability is explained (default: positive / predicted).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per row set.")] = False,
) -> None:
    """Per-row contributions of each column (SHAP) that sum to the prediction."""
    import warnings

    with _user_errors():
        model = _load_quiet(model_dir)
        label: Any = class_label
        if label is not None and model.classes:
            label = next((c for c in model.classes if str(c) == label), label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = model.explain(data, class_label=label)
        table = exp.to_frame()
        if as_json:
            _print_json({"output": exp.output, "columns": list(exp.contributions.columns),
                         "rows": table.to_dict(orient="records")})
            return
        if out is None:
            table.to_csv(sys.stdout, index=False)
            return
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(tmp, index=False)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _console(stderr=True).print(f"wrote contributions to the {exp.output} for {len(table)} "
                                    f"rows to {out}")


@app.command()
def report(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("card.html"),
    data: Annotated[Optional[str], typer.Option(
        help="Labelled held-out table: adds holdout metrics, explanations, latency.")] = None,
    sensitive_column: Annotated[Optional[str], typer.Option(
        help="Column to compare groups on (needs --data).")] = None,
    card_notes: Annotated[Optional[Path], typer.Option(
        help='Markdown with "## Intended use" and "## Limitations" sections.')] = None,
) -> None:
    """Write the model card: one self-contained HTML file."""
    with _user_errors():
        from mlexpert.report import read_notes, write_card

        model = _load_quiet(model_dir)
        notes = read_notes(card_notes)
        path = write_card(model, out, data=data, sensitive_column=sensitive_column, notes=notes,
                          bundle_dir=model_dir)
        _console(stderr=True).print(f"model card written to {path}")


def _print_evaluation_details(console: Any, model: Any, report: dict[str, Any]) -> None:
    """Calibration, threshold, confusion matrix / residuals and group checks of an evaluation."""
    from rich.table import Table

    diag = report["diagnostics"]
    cal = report.get("calibration")
    console.print(f"calibration: {cal + ' (fitted out of fold at fit)' if cal else 'none applied'}"
                  + (f"; decision threshold {report['threshold']:.3f}" if report.get("threshold")
                     is not None else ""))
    if model.task == "regression":
        q = diag["residuals"]["quantiles"]
        console.print("residual quantiles (actual - predicted): "
                      + ", ".join(f"{k} {v:.4g}" for k, v in q.items()))
    else:
        conf = Table(title="Confusion matrix", caption="rows: true class, columns: predicted")
        conf.add_column("")
        for label in diag["labels"]:
            conf.add_column(label, justify="right")
        for label, row in zip(diag["labels"], diag["confusion"], strict=True):
            conf.add_row(label, *map(str, row))
        console.print(conf)
        rel = diag["reliability"]
        console.print(f"reliability ({rel['kind']}): " + ", ".join(
            f"{p:.2f}->{o:.2f}" for p, o in zip(rel["predicted"], rel["observed"], strict=True)),
            soft_wrap=True)
    groups = report.get("groups")
    if groups:
        table = Table(title=f"Groups by {groups['column']!r} ({model.metric}, 95% CI)")
        for col in ("group", "rows", model.metric, "95% CI"):
            table.add_column(col, justify="left" if col == "group" else "right")
        for g in groups["groups"]:
            e = g["metrics"].get(model.metric, {"value": float("nan"), "low": float("nan")})
            table.add_row(g["group"], str(g["rows"]), _fmt(e["value"]), _interval(e))
        console.print(table)
        for key in ("demographic_parity_difference", "equal_opportunity_difference",
                    "mean_prediction_difference"):
            if groups.get(key) is not None:
                console.print(f"{key.replace('_', ' ')}: {groups[key]:.4f}")


@app.command()
def drift(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    data: Annotated[str, typer.Argument(metavar="CURRENT", help="New data: CSV, TSV or Parquet path.")],
    reference: Annotated[Optional[str], typer.Option(
        help="Reference table instead of the training sample kept in the bundle.")] = None,
    labels: Annotated[Optional[str], typer.Option(
        help="Column of CURRENT with the true labels: adds performance monitoring.")] = None,
    window: Annotated[Optional[int], typer.Option(
        help="Rows per performance window (with --labels).", min=10)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML report to write.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 1 when this triggers: drift (data or predictions) or performance.")] = None,
) -> None:
    """Compare CURRENT with the model's training data: per-column drift, prediction drift and,
    with --labels, performance against the cross-validated interval."""
    import warnings

    if fail_on not in (None, "drift", "performance"):
        raise typer.BadParameter("must be drift or performance", param_hint="--fail-on")
    if fail_on == "performance" and labels is None:
        raise typer.BadParameter("--fail-on performance needs --labels", param_hint="--fail-on")
    with _user_errors():
        import mlexpert

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlexpert.load(model_dir)  # MODEL must be a bundle, never a table
            result = mlexpert.drift(model, data, reference_data=reference, labels=labels,
                                    window=window, seed=seed)
        if out is not None:
            result.save_html(out)
        if as_json:
            _print_json(result.to_dict())
        else:
            _report_drift(result, out)
    pred = result.prediction_drift
    if fail_on == "drift" and (result.drift_detected or (pred is not None and pred["drifted"])):
        raise typer.Exit(1)
    if fail_on == "performance" and result.degraded:
        raise typer.Exit(1)


def _report_drift(result: Any, out: Optional[Path]) -> None:
    from rich.table import Table

    console = _console()
    d = result.to_dict()
    drifted = result.drifted_columns
    n_cols = len({r["column"] for r in d["columns"]})
    verdict = "[bold red]drift detected[/]" if d["drift_detected"] else "[bold green]no drift[/]"
    console.print(f"{verdict}: {len(drifted)} of {n_cols} column(s) drifted "
                  f"({d['drift_share']:.0%}); reference: {d['reference']} "
                  f"({d['rows']['reference']} rows), current: {d['rows']['current']} rows")
    worst: dict[str, dict[str, Any]] = {}
    for r in d["columns"]:
        ratio = (r["effect_size"] or 0.0) / r["threshold"] if r["threshold"] else 0.0
        if r["column"] not in worst or ratio > worst[r["column"]]["_ratio"]:
            worst[r["column"]] = {**r, "_ratio": ratio}
    table = Table(title="Strongest test per column (all tests: --json or --out)")
    for col in ("column", "test", "effect size", "threshold", "BH p", "verdict"):
        table.add_column(col, justify="left" if col in ("column", "test", "verdict") else "right")
    for r in sorted(worst.values(), key=lambda r: (not r["drifted"], -r["_ratio"]))[:LEADERBOARD_ROWS]:
        table.add_row(r["column"], r["test"], _fmt(r["effect_size"]), _fmt(r["threshold"], 3),
                      _fmt(r["p_adjusted"]), "[red]drift[/]" if r["drifted"] else "ok")
    console.print(table)
    dc = d["domain_classifier"]
    if dc:
        console.print(f"domain classifier AUC {dc['auc']:.3f} (95% CI {dc['low']:.3f} to "
                      f"{dc['high']:.3f}){' [red]drift[/]' if dc['drifted'] else ''}")
    pred = d["prediction_drift"]
    if pred:
        tests = ", ".join(f"{t['test']} {_fmt(t['effect_size'], 3)}" for t in pred["tests"])
        console.print(f"prediction drift ({pred['output']}): "
                      f"{'[red]drift[/]' if pred['drifted'] else 'none'} ({tests})")
    perf = d["performance"]
    if perf:
        cur, val = perf["current"], perf["validation"]
        console.print(f"{perf['metric']} on {cur['rows']} labelled rows: {_fmt(cur['value'])} "
                      f"95% CI [{_fmt(cur['low'])}, {_fmt(cur['high'])}] vs cross-validated "
                      f"{_fmt(val['value'])} [{_fmt(val['low'])}, {_fmt(val['high'])}]: "
                      f"{'[red]degraded[/]' if perf['degraded'] else 'no significant degradation'}")
        bad = [w for w in perf["windows"] if w["degraded"]]
        if perf["windows"]:
            console.print(f"{len(bad)} of {len(perf['windows'])} window(s) degraded")
    if out is not None:
        console.print(f"report written to [bold]{out}[/]")


# -- tracking and registry (logic in mlexpert.tracking) -----------------------------------------
def _tracker(track: bool | None, uri: str | None, experiment: str) -> Any:
    """The Tracker for `fit`, or None with --no-track (resolved before the fit: bad options
    fail fast, and MLflow is not imported until the run is logged)."""
    from mlexpert.tracking import Tracker, track_by_default

    if not (track if track is not None else track_by_default(True)):
        return None
    return Tracker(uri, experiment)


def _log_run(tracker: Any, model: Any, out: Path) -> Any:
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
            _console(stderr=True).print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
    return run


def _run_json(run: Any) -> Any:
    if run is None:
        return None
    return {"run_id": run.run_id, "tracking_uri": run.uri, "experiment": run.experiment,
            "model_uri": run.model_uri, "pending": str(run.pending) if run.pending else None}


def _report_run(run: Any) -> None:
    if run is not None and run.run_id:
        _console().print(f"run [bold]{run.run_id}[/] logged to {run.uri} "
                         f"(experiment {run.experiment!r})", soft_wrap=True)


TrackingUri = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./.mlexpert).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

runs_app = typer.Typer(no_args_is_help=True, help="Logged fits: list, compare, sync pending runs.")
registry_app = typer.Typer(no_args_is_help=True,
                           help="Registered models with stages (staging, production, archived).")
app.add_typer(runs_app, name="runs")
app.add_typer(registry_app, name="registry")


def _when(ms: Any) -> str:
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
    with _user_errors():
        from rich.table import Table

        from mlexpert.tracking import list_runs

        runs = list_runs(uri=tracking_uri, experiment=experiment, limit=limit)
        if as_json:
            _print_json({"experiment": experiment, "runs": runs})
            return
        table = Table(title=f"Runs of experiment {experiment!r}")
        table.add_column("run id", no_wrap=True)
        for col in ("started (UTC)", "status", "target (task)", "CV metric", "95% CI", "rows",
                    "data"):
            table.add_column(col, justify="right" if col == "rows" else "left")
        for r in runs:
            ci = _interval({"low": r["low"] if r["low"] is not None else math.nan,
                            "high": r["high"]})
            table.add_row(r["run_id"], _when(r["start_time"]), r["status"],
                          f"{r['target'] or ''} ({r['task'] or ''})",
                          f"{r['metric'] or ''} {_fmt(r['value'])}", ci, r["rows"] or "",
                          (r["data_fingerprint"] or "")[:8])
        _console().print(table)


@runs_app.command("compare")
def runs_compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="Run id or runs:/ID.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="Run id or runs:/ID.")],
    tracking_uri: TrackingUri = None,
    as_json: AsJson = False,
) -> None:
    """Metrics side by side with deltas (B - A), and the params that differ."""
    with _user_errors():
        from rich.table import Table

        from mlexpert.tracking import compare_runs

        report = compare_runs(run_a, run_b, uri=tracking_uri)
        if as_json:
            _print_json(report)
            return
        console = _console()
        table = Table(title=f"Metrics: A={report['a']['run_id'][:12]} B={report['b']['run_id'][:12]}")
        for col in ("metric", "A", "B", "B - A"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for m in report["metrics"]:
            delta = m["delta"]
            shown = "-" if delta is None else f"{delta:+.4f}"
            table.add_row(m["metric"], _fmt(m["a"]), _fmt(m["b"]), shown)
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
    with _user_errors():
        from mlexpert.tracking import sync_pending

        results = sync_pending(tracking_uri)
        failed = [r for r in results if r["error"]]
        if as_json:
            _print_json({"synced": [r for r in results if not r["error"]], "failed": failed})
        else:
            console = _console()
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
    _console().print(f"{v['name']} version [bold]{v['version']}[/]: {v['stage']} "
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
    with _user_errors():
        from mlexpert.tracking import register

        v = register(source, name, uri=tracking_uri, experiment=experiment, reason=reason, who=who)
        _print_json(v) if as_json else _print_version(v)


@registry_app.command("list")
def registry_list(tracking_uri: TrackingUri = None, as_json: AsJson = False) -> None:
    """Registered models with their latest, staging and production versions."""
    with _user_errors():
        from rich.table import Table

        from mlexpert.tracking import list_models

        models = list_models(uri=tracking_uri)
        if as_json:
            _print_json({"models": models})
            return
        table = Table(title="Registered models")
        for col in ("name", "versions", "latest", "staging", "production"):
            table.add_column(col, justify="left" if col == "name" else "right")
        for m in models:
            table.add_row(m["name"], str(m["versions"]), _fmt(m["latest"]), _fmt(m["staging"]),
                          _fmt(m["production"]))
        _console().print(table)


@registry_app.command("show")
def registry_show(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Every version of NAME with its stage, run, metric and transition history."""
    with _user_errors():
        from rich.table import Table

        from mlexpert.tracking import show

        report = show(name, uri=tracking_uri)
        if as_json:
            _print_json(report)
            return
        table = Table(title=f"Model {name!r}", show_lines=True)
        for col in ("version", "stage", "created (UTC)", "metric", "run id", "history"):
            table.add_column(col)
        for v in report["versions"]:
            history = "\n".join(f"{t['when']} {t['from'] or '-'}→{t['to']} by {t['who']}: {t['why']}"
                                for t in v["transitions"])
            table.add_row(str(v["version"]), v["stage"], _when(v["created"]), v["metric"] or "-",
                          v["run_id"] or "-", history)
        _console().print(table)


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
    with _user_errors():
        from mlexpert.tracking import promote

        v = promote(name, version, to, uri=tracking_uri, force=force, reason=reason, who=who)
        _print_json(v) if as_json else _print_version(v)


@registry_app.command("archive")
def registry_archive(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Option("--version", "-v", help="Version to archive.", min=1)],
    reason: Reason = "", who: Who = None, tracking_uri: TrackingUri = None, as_json: AsJson = False,
) -> None:
    """Take VERSION out of staging/production and mark it archived."""
    with _user_errors():
        from mlexpert.tracking import archive

        v = archive(name, version, uri=tracking_uri, reason=reason, who=who)
        _print_json(v) if as_json else _print_version(v)


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")] = Path("model.onnx"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Write the whole pipeline (preprocessing and every model) as one ONNX graph."""
    if fmt.lower() != "onnx":
        raise typer.BadParameter(f"the only format is onnx, got {fmt!r}", param_hint="--format")
    with _user_errors():
        from mlexpert.errors import BundleError

        if out.exists() and not force:
            raise BundleError(f"{str(out)!r} already exists; pass --force to replace it.")
        model = _load_quiet(model_dir)
        model.to_onnx(out)
        _console(stderr=True).print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): inputs "
                                    f"{', '.join(c.name for c in model.schema.features)}")


@app.command()
def distill(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory (the teacher).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Training table: CSV, TSV or Parquet path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")] = Path("small"),
    test: Annotated[Optional[str], typer.Option(
        help="Labelled rows neither model saw, to measure the accuracy lost (default: a held-out "
             "fifth of --data).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Also write OUT/model.onnx.")] = False,
    time_limit: Annotated[float, typer.Option(help="Seconds for the student's training.", min=0.1)] = 60.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle at --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train one LightGBM model on MODEL's soft predictions (with MUNGE samples) and save it as
    a bundle; report the accuracy lost and the speed gained, with intervals."""
    with _user_errors():
        teacher = _load_quiet(model_dir)
        result = teacher.distill(data, out, test=test, time_limit=time_limit, seed=seed,
                                 overwrite=force, onnx=onnx)
    report = result.report
    if as_json:
        _print_json({"out": str(out), **report})
        return
    console = _console()
    console.print(f"distilled {', '.join(report['teacher_members'])} into one LightGBM "
                  f"({report['rounds']} rounds) on {report['training_rows']} rows + "
                  f"{report['munge_samples']} MUNGE samples; wrote {out}")
    if "lost" in report:
        lost = report["lost"]
        console.print(f"{report['metric']} on {report['held_out_rows']} held-out rows: teacher "
                      f"{_fmt(report['teacher'])}, student {_fmt(report['student'])}; lost "
                      f"{_fmt(lost['value'])} [{_fmt(lost['low'])}, {_fmt(lost['high'])}]")
    speed = report["speedup"]
    console.print(f"single-row latency {report['latency_ms']['teacher']:.2f} ms -> "
                  f"{report['latency_ms']['student']:.2f} ms: {speed['value']:.1f}x faster "
                  f"[{speed['low']:.1f}, {speed['high']:.1f}]")
    if onnx:
        console.print(f"wrote {out / 'model.onnx'}")


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
    monitor_window: Annotated[int, typer.Option(min=0, help="Rows of recent traffic the live drift monitor keeps per worker (0: off).")] = 1000,
    monitor_min_rows: Annotated[int, typer.Option(min=1, help="Rows the live monitor needs before it judges.")] = 100,
    monitor_interval: Annotated[float, typer.Option(min=0, help="Most seconds the drift gauges of /metrics lag the traffic.")] = 30.0,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /predict, /predict/batch; GET /health, /ready, /metadata,
    /metrics, /monitor."""
    with _user_errors():
        from mlexpert.serve import ServeSettings
        from mlexpert.serve import serve as run_service

        settings = ServeSettings(max_records=max_records, max_body_bytes=int(max_body_mb * (1 << 20)),
                                 max_batch_rows=max_batch_rows, strict=strict, api_key_env=api_key_env,
                                 cors_origins=tuple(cor for cor in cors_origin or ()), watch_interval=watch,
                                 monitor_window=monitor_window, monitor_min_rows=monitor_min_rows,
                                 monitor_interval=monitor_interval)
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
