"""The commands around one model's fit: `fit` (search, bundle, card, tracking), `predict` (a
table, or files on Dask) and `evaluate` (holdout metrics, calibration, groups)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import (
    COMMAND_STARTED,
    LEADERBOARD_ROWS,
    AsJson,
    ModelDir,
    Seed,
    Target,
    Task,
    fitted_table,
    fmt_value,
    interval,
    print_findings,
    print_json,
    rich_console,
    user_errors,
    write_csv,
)
from mlexpert.cli._tracking import log_run, report_run, run_json, tracker_for

# What `fit` does after the fit, held back from --time-limit so that the command ends inside it:
# the card (0.8-1.7 s on the demo table, 2 cores) and logging to MLflow (4.8 s, half of it
# importing MLflow; importing it in a thread during the fit is unsafe: scikit-learn and
# narwhals look up polars in sys.modules and met it half imported)
CARD_SECONDS = 1.5
TRACK_SECONDS = 5.0
MIN_FIT_SHARE = 0.5  # of the limit: a limit too small for both still gives the fit this


def fit_seconds(time_limit: float, card: bool, tracked: bool) -> float:
    """The fit's share of the command's --time-limit: less what the command has spent so far
    (imports, reading options) and what the card and tracking take after the fit."""
    after = (CARD_SECONDS if card else 0.0) + (TRACK_SECONDS if tracked else 0.0)
    spent = time.monotonic() - COMMAND_STARTED
    return max(MIN_FIT_SHARE * time_limit, time_limit - spent - after)


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


def fit(
    data: Annotated[str, typer.Argument(
        help="Training table: CSV, TSV or Parquet path, or a folder or glob of them.")],
    target: Target,
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")] = Path("model"),
    time_limit: Annotated[float, typer.Option(
        help="Seconds for the whole command: the fit gets what the card and tracking leave.")] = 60.0,
    seed: Seed = 0,
    task: Task = None,
    metric: Annotated[Optional[str], typer.Option(help="Metric to optimise (auto).")] = None,
    groups: Annotated[Optional[str], typer.Option(help="Column of groups for grouped CV.")] = None,
    time_column: Annotated[Optional[str], typer.Option(help="Column to split on in time order.")] = None,
    entity: Annotated[Optional[str], typer.Option(
        help="With --time-column: the column naming whose history a row continues (inferred "
             "when left out; 'none' for no history features).")] = None,
    sample_weight: Annotated[Optional[str], typer.Option(help="Column of row weights.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Column to leave out (repeatable).")] = None,
    keep_columns: Annotated[Optional[list[str]], typer.Option(
        "--keep-columns", help="Column to use even if the audit would leave it out (repeatable).")] = None,
    presets: Annotated[str, typer.Option(
        help="fast (one model, lowest latency), balanced or best (bigger ensembles).")] = "balanced",
    budget: Annotated[Optional[int], typer.Option(
        help="Tuning trials after the portfolio: the same model on any machine; --time-limit "
             "is then only a safety cap.")] = None,
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
    as_json: AsJson = False,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate", help="Recalibrate probabilities when it lowers out-of-fold log loss.")] = True,
    optimize_threshold: Annotated[Optional[str], typer.Option(
        help="Binary: choose the decision threshold for f1, balanced_accuracy, mcc, accuracy or cost.")] = None,
    cost_matrix: Annotated[Optional[str], typer.Option(
        help='Binary: costs "TN,FP,FN,TP" per row (e.g. "0,1,5,0"); implies --optimize-threshold cost.')] = None,
    positive_class: Annotated[Optional[str], typer.Option(
        help="Binary: the class of interest (e.g. bad, churn); by default the second in sorted "
             "order. PR AUC, explanations, the threshold and the cost matrix describe it.")] = None,
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

    with user_errors():
        from mlexpert import fit as fit_model
        from mlexpert.bundle import check_writable

        check_writable(out, overwrite=force)  # before the fit, not after a long wait
        tracker = tracker_for(track, tracking_uri, experiment)
        err = rich_console(stderr=True)
        limit = fit_seconds(time_limit, card, tracker is not None)
        display = None if as_json else _FitDisplay(limit, err)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit_model(data, target, time_limit=limit, seed=seed, task=task,
                                  metric=metric, groups=groups, time_column=time_column,
                                  entity=False if entity == "none" else entity,
                                  sample_weight=sample_weight, ignore_columns=ignore or (),
                                  keep_columns=keep_columns or (), presets=presets,
                                  budget=budget, infer_limit=infer_limit, size_limit=size_limit,
                                  progress=display,
                                  executor=None if dask is None else
                                  "dask://" + dask.removeprefix("dask://"),
                                  calibrate=calibrate, optimize_threshold=optimize_threshold,
                                  cost_matrix=_cost_matrix(cost_matrix),
                                  positive_class=positive_class,
                                  data_on_cluster=data_on_cluster,
                                  track=False)  # logged below, after the bundle is saved
        finally:
            if display is not None:
                display.stop()
        # the fit's limit is the command's less its own start-up, the card and the logging: the
        # bundle records both, so that a reader of the manifest finds the limit the user gave
        provenance = {**model.manifest.provenance, "command_time_limit": float(time_limit)}
        model = type(model)(model.manifest.with_sections(provenance=provenance),
                            model.ensemble.members, model.reference_sample)
        model.save(out, overwrite=force)
        if card:
            from mlexpert.report import write_card

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                write_card(model, out / "card.html", bundle_dir=out)
        run = log_run(tracker, model, out)
        if as_json:
            manifest = model.manifest
            print_json({"bundle": str(out), "task": model.task, "metric": model.metric,
                        "cv": model.metrics, "leaderboard": manifest.leaderboard,
                        "findings": manifest.findings,
                        "fit_seconds": manifest.provenance["fit_seconds"],
                        "run": run_json(run)})
            return
        _report_fit(model, out, time_limit)
        report_run(run)


def _report_fit(model: Any, out: Path, time_limit: float) -> None:
    """The leaderboard, the cross-validated score, one-row latency and findings of a fit."""
    console = rich_console()
    manifest = model.manifest
    split = manifest.plan["split"]
    numeric = (model.metric, "± std", "p vs best", "fit s", "ms/row", "weight")
    columns = [(c, "right" if c in numeric else "left")
               for c in ("model", *numeric[:3], "status", *numeric[3:], "final fit")]
    board = [r for r in manifest.leaderboard if r.get("status") != "pruned"]
    pruned = len(manifest.leaderboard) - len(board)
    rows = [(row["model"], fmt_value(row["score"]), fmt_value(row.get("score_std")),
             fmt_value(row.get("p_vs_best"), 2) + (" ≈" if row.get("indistinguishable") else ""),
             row["status"], fmt_value(row["fit_seconds"], 1),
             fmt_value(row.get("latency_ms_per_row"), 2),
             fmt_value(row["ensemble_weight"], 2) if row["ensemble_weight"] else "",
             row["final_fit"]) for row in board[:LEADERBOARD_ROWS]]
    hidden = [f"{len(board) - LEADERBOARD_ROWS} more candidate(s)"] * (len(board) > LEADERBOARD_ROWS)
    hidden += [f"{pruned} pruned tuning trial(s)"] * (pruned > 0)
    caption = f"{' and '.join(hidden)} not shown: see --json or Model.leaderboard_all" \
        if hidden else None
    table = fitted_table(console, f"Leaderboard ({model.metric}, {split['n_splits']}-fold "
                         f"{split['kind']} CV)", columns, rows, caption=caption,
                         drop_order=("final fit", "fit s", "± std", "status", "ms/row"))
    console.print(table)
    console.print("[dim]≈ statistically indistinguishable from the best (one-sided p ≥ 0.05, "
                  "corrected paired t-test on the same folds)[/]")
    cv = model.metrics[model.metric]
    console.print(f"cross-validated {model.metric}: [bold]{cv['value']:.4f}[/] "
                  f"95% CI {interval(cv)}  ({model.task}, target {model.target!r})")
    inference = manifest.inference or {}
    latency, estimate = inference.get("latency_ms_per_row"), inference.get("estimated_ms_per_row")
    if latency is not None:
        warm = "" if estimate is None else f"; once compiled ~{estimate:.2f} ms, estimated"
        console.print(f"one-row predict: {latency:.1f} ms through the members (measured{warm})")
    print_findings(console, model.findings)
    console.print(f"bundle written to [bold]{out}[/] (fit took "
                  f"{manifest.provenance['fit_seconds']:.1f}s of the command's {time_limit:g}s)")


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


def predict(
    model_dir: ModelDir,
    data: Annotated[str, typer.Argument(help="Table to score: CSV, TSV or Parquet path.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="CSV to write (default: stdout).")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Column copied to the output.")] = None,
    dask: Annotated[Optional[str], typer.Option(
        help="Score on Dask: 'local' or a scheduler address (tcp://host:8786). DATA may then be "
             "a glob or folder of files, and --out is a folder of Parquet parts.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out folder.")] = False,
    invalid: Annotated[str, typer.Option(
        help="What a value the model cannot read does ('abc' or true for a number, a date in "
             "year 3000): 'raise' refuses the file, naming columns and lines; 'missing' "
             "predicts it as a missing value.")] = "raise",
) -> None:
    """Predict every row of DATA; classification adds one probability column per class."""
    import warnings

    if dask is not None:
        _predict_on_dask(model_dir, data, out, id_column, dask, force, invalid)
        return
    with user_errors():
        import mlexpert
        from mlexpert.bundle import ExtraColumnsWarning
        from mlexpert.data import check_invalid, read_table
        from mlexpert.errors import missing_column

        check_invalid(invalid)
        model = mlexpert.load(model_dir)
        frame = read_table(data)
        if id_column is not None and id_column not in frame.columns:
            raise missing_column(id_column, "id", frame.columns)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ExtraColumnsWarning)
            result = _predictions(model, frame, id_column, data, invalid)
        err = rich_console(stderr=True)
        for w in caught:
            if issubclass(w.category, ExtraColumnsWarning):
                err.print(f"note: {w.message}", soft_wrap=True)
        if out is None:
            result.to_csv(sys.stdout, index=False)
            return
        write_csv(result, out)
        err.print(f"wrote {len(result)} predictions to {out}")


def _predict_on_dask(model_dir: Path, data: str, out: Optional[Path], id_column: Optional[str],
                     address: str, force: bool, invalid: str) -> None:
    """`predict --dask`: score the files of DATA on a cluster into Parquet parts under --out."""
    with user_errors():
        import mlexpert
        from mlexpert.data import check_invalid
        from mlexpert.distributed import check_output, connect, partitions, score_files
        from mlexpert.errors import ConfigError

        if out is None:
            raise ConfigError("--out is required with --dask: the folder to write Parquet parts to.")
        check_invalid(invalid)
        check_output(out, force)  # before loading the model and starting a cluster
        model = mlexpert.load(model_dir)
        partitions(data)  # no matching files: say so before starting a cluster
        executor = connect(address)
        try:
            parts = score_files(model, data, out, executor, id_column=id_column, overwrite=force,
                                invalid=invalid)
        finally:
            executor.shutdown()
        rich_console(stderr=True).print(f"wrote {sum(p.rows for p in parts)} predictions in "
                                        f"{len(parts)} part(s) to {out}")


def _predictions(model: Any, frame: Any, id_column: str | None, path: str,
                 invalid: str = "raise") -> Any:
    """The prediction table of ``frame``, led by its id column when one is given; values the
    coercion rule cannot read refuse the file (naming columns and lines) unless
    ``invalid="missing"``."""
    from mlexpert.data import InvalidValues, describe_source

    source = describe_source(path)
    try:
        table = model.predict_table(frame, source=source, invalid=invalid)
    except InvalidValues as exc:
        raise exc.in_file(path, "pass --invalid missing") from None
    if id_column is not None:
        table.insert(0, id_column, frame[id_column])
    return table


def evaluate(
    model_dir: ModelDir,
    data: Annotated[str, typer.Argument(help="Labelled table: CSV, TSV or Parquet path.")],
    as_json: AsJson = False,
    sensitive_column: Annotated[Optional[str], typer.Option(
        help="Column to compare groups on: metrics per group, parity gaps.")] = None,
) -> None:
    """Score the model on labelled DATA: every metric with a 95% bootstrap interval."""
    import warnings

    with user_errors():
        from rich.table import Table

        import mlexpert

        model = mlexpert.load(model_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = model.evaluate(data, sensitive_column=sensitive_column)
        report["cv"] = model.metrics
        if as_json:
            print_json(report)
            return
        table = Table(title=f"Holdout evaluation on {report['rows']} rows ({model.task})")
        for col in ("metric", "holdout", "95% CI", "cross-validated"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for name, entry in report["metrics"].items():
            cv = model.metrics.get(name)
            label = f"[bold]{name}[/]" if name == model.metric else name
            table.add_row(label, fmt_value(entry["value"]), interval(entry),
                          fmt_value(cv["value"]) if cv else "-")
        console = rich_console()
        console.print(table)
        _print_evaluation_details(console, model, report)


def _print_evaluation_details(console: Any, model: Any, report: dict[str, Any]) -> None:
    """Calibration, threshold, confusion matrix / residuals and group checks of an evaluation."""
    from rich.table import Table

    diag = report["diagnostics"]
    cal = report.get("calibration")
    if model.task != "regression":  # probabilities only: a regression has nothing to calibrate
        console.print(f"calibration: {cal + ' (fitted out of fold at fit)' if cal else 'none applied'}"
                      + (f"; decision threshold {report['threshold']:.3f}"
                         if report.get("threshold") is not None else ""))
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
            table.add_row(g["group"], str(g["rows"]), fmt_value(e["value"]), interval(e))
        console.print(table)
        for key in ("demographic_parity_difference", "equal_opportunity_difference",
                    "mean_prediction_difference"):
            if groups.get(key) is not None:
                console.print(f"{key.replace('_', ' ')}: {groups[key]:.4f}")
        for line in groups.get("warnings", []):
            console.print(f"[yellow]warning:[/yellow] {line}", soft_wrap=True, markup=True)
