"""`mlexpert drift`: drift and performance of new data against the bundle's reference (realised
with labels, estimated without them for a classifier), as a summary, JSON or an HTML report,
with --fail-on."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import (
    LEADERBOARD_ROWS,
    AsJson,
    ModelDir,
    Seed,
    fmt_value,
    print_json,
    rich_console,
    user_errors,
)


def drift(
    model_dir: ModelDir,
    data: Annotated[str, typer.Argument(metavar="CURRENT", help="New data: CSV, TSV or Parquet path.")],
    reference: Annotated[Optional[str], typer.Option(
        help="Reference table instead of the training sample kept in the bundle.")] = None,
    labels: Annotated[Optional[str], typer.Option(
        help="Column of CURRENT with the true labels: adds performance monitoring.")] = None,
    window: Annotated[Optional[int], typer.Option(
        help="Rows per performance window (realised with --labels; estimated for a "
             "classifier).", min=10)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML report to write.")] = None,
    seed: Seed = 0,
    as_json: AsJson = False,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 1 when this triggers: drift (data or predictions) or performance.")] = None,
) -> None:
    """Compare CURRENT with the model's training data: per-column drift, prediction drift,
    a classifier's performance estimated without labels and, with --labels, realised
    performance against the cross-validated interval."""
    import warnings

    if fail_on not in (None, "drift", "performance"):
        raise typer.BadParameter("must be drift or performance", param_hint="--fail-on")
    if fail_on == "performance" and labels is None:
        raise typer.BadParameter("--fail-on performance needs --labels", param_hint="--fail-on")
    with user_errors():
        import mlexpert

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlexpert.load(model_dir)  # MODEL must be a bundle, never a table
            result = mlexpert.drift(model, data, reference_data=reference, labels=labels,
                                    window=window, seed=seed)
        if out is not None:
            result.save_html(out)
        if as_json:
            print_json(result.to_dict())
        else:
            _report_drift(result, out)
    pred = result.prediction_drift
    if fail_on == "drift" and (result.drift_detected or (pred is not None and pred["drifted"])):
        raise typer.Exit(1)
    if fail_on == "performance" and result.degraded:
        raise typer.Exit(1)


def _report_drift(result: Any, out: Optional[Path]) -> None:
    """The verdict, the strongest test per column, domain classifier, prediction drift and
    performance, each a line or a table."""
    from rich.table import Table

    console = rich_console()
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
        table.add_row(r["column"], r["test"], fmt_value(r["effect_size"]), fmt_value(r["threshold"], 3),
                      fmt_value(r["p_adjusted"]), "[red]drift[/]" if r["drifted"] else "ok")
    console.print(table)
    dc = d["domain_classifier"]
    if dc:
        console.print(f"domain classifier AUC {dc['auc']:.3f} (95% CI {dc['low']:.3f} to "
                      f"{dc['high']:.3f}){' [red]drift[/]' if dc['drifted'] else ''}")
    pred = d["prediction_drift"]
    if pred:
        tests = ", ".join(f"{t['test']} {fmt_value(t['effect_size'], 3)}" for t in pred["tests"])
        console.print(f"prediction drift ({pred['output']}): "
                      f"{'[red]drift[/]' if pred['drifted'] else 'none'} ({tests})")
    perf = d["performance"]
    if perf:
        cur, val = perf["current"], perf["validation"]
        console.print(f"{perf['metric']} on {cur['rows']} labelled rows: {fmt_value(cur['value'])} "
                      f"95% CI [{fmt_value(cur['low'])}, {fmt_value(cur['high'])}] vs cross-validated "
                      f"{fmt_value(val['value'])} [{fmt_value(val['low'])}, {fmt_value(val['high'])}]: "
                      f"{'[red]degraded[/]' if perf['degraded'] else 'no significant degradation'}")
        bad = [w for w in perf["windows"] if w["degraded"]]
        if perf["windows"]:
            console.print(f"{len(bad)} of {len(perf['windows'])} window(s) degraded")
    if d.get("performance_estimate"):
        _report_estimate(console, d["performance_estimate"])
    if out is not None:
        console.print(f"report written to [bold]{out}[/]")


def _report_estimate(console: Any, est: dict[str, Any]) -> None:
    """The performance estimated without labels, said to be an estimate; beside the realised
    values when labels came."""
    if not est.get("available") or not est.get("metrics"):
        console.print(f"estimated performance: {est.get('note', 'not available')}")
        return
    realised = (est.get("realised") or {}).get("metrics", {})
    parts = []
    for name, e in est["metrics"].items():
        val = e.get("validation") or {}
        text = (f"{name} {fmt_value(e['value'])} [{fmt_value(e['low'])}, {fmt_value(e['high'])}]"
                f" (validation {fmt_value(val.get('value'))})")
        r = realised.get(name)
        if r is not None and r["realised"] is not None:
            text += (f", realised {fmt_value(r['realised'])} "
                     f"{'inside' if r['within'] else '[red]outside[/]'}")
        if e.get("degraded"):
            text += " [red]below validation[/]"
        parts.append(text)
    console.print(f"estimated without labels on {est['rows']} rows (CBPE, an estimate: it "
                  "assumes the probabilities stay about as calibrated as at fit), "
                  f"{est['level']:.0%} intervals: " + "; ".join(parts))
    if realised:
        console.print("labels present: realised performance replaces the estimate")
    if est.get("windows"):
        bad = [w for w in est["windows"] if w["degraded"]]
        console.print(f"{len(bad)} of {len(est['windows'])} window(s) estimated below validation")
