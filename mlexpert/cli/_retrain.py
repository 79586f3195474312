"""`mlexpert retrain NAME --data new.parquet`: refit the champion's settings on new rows, judge the
challenger on the same recent holdout, register it with the evidence, promote it only when the
gate passes; the verdict as a table or JSON."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import AsJson, fmt_value, print_json, rich_console, user_errors


def retrain(
    champion: Annotated[str, typer.Argument(
        metavar="NAME", help="The champion: a registered model name (its production version), "
                             "models:/NAME@ALIAS, or a bundle directory.")],
    data: Annotated[str, typer.Option(help="New labelled rows (CSV, TSV or Parquet) with the "
                                           "champion's target column.")],
    reference: Annotated[Optional[str], typer.Option(
        help="The old training table, trained on before the new rows.")] = None,
    with_reference: Annotated[bool, typer.Option(
        "--with-reference", help="Train on the old rows too, read again from the file the "
                                 "champion was fitted on (refused if it changed).")] = False,
    holdout: Annotated[float, typer.Option(
        help="Share of the newest rows that judges the two models (by the champion's time "
             "column, else the file's order).")] = 0.2,
    time_limit: Annotated[Optional[float], typer.Option(
        help="Seconds for the challenger's fit (default: the champion's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the fit (default: the champion's).")] = None,
    sensitive_column: Annotated[Optional[str], typer.Option(
        help="A column whose groups' gap the challenger may not widen (a guardrail).")] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Register the challenger under this name (default: the champion's).")] = None,
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="Register the challenger (and promote it when the "
                                         "gate passes), or only report.")] = True,
    tracking_uri: Annotated[Optional[str], typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local store).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Also save the challenger's bundle here.")] = None,
    as_json: AsJson = False,
) -> None:
    """Retrain the champion on new labelled rows behind a promotion gate: the challenger is
    promoted to production only when it is significantly better on the newest rows and no worse
    on latency, calibration and group gaps; otherwise it says why not. Exit 0 either way."""
    with user_errors():
        import mlexpert
        from mlexpert.errors import ConfigError

        if reference is not None and with_reference:
            raise ConfigError("give --reference PATH or --with-reference, not both.")
        result = mlexpert.retrain(champion, data, reference=True if with_reference else reference,
                                  holdout=holdout, time_limit=time_limit, seed=seed,
                                  sensitive_column=sensitive_column, register=register, name=name,
                                  tracking_uri=tracking_uri, out=out)
        if as_json:
            print_json(result.to_dict())
        else:
            _print(result)


def _print(result: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    console = rich_console()
    v = result.verdict
    c = v.comparison
    table = Table(title=f"champion vs challenger on the newest {result.holdout_rows:,} rows "
                        f"(challenger trained on {result.training_rows:,})")
    for col in ("check", "champion", "challenger", "limit / interval", "passed"):
        table.add_column(col)
    lo, hi = c.difference_interval
    table.add_row(c.metric, fmt_value(c.champion), fmt_value(c.challenger),
                  f"difference {c.difference:+.4g} [{lo:+.4g}, {hi:+.4g}]",
                  "better" if c.challenger_better else "worse" if c.challenger_worse else "tie")
    for g in v.guardrails:
        table.add_row(g.name, fmt_value(g.champion), fmt_value(g.challenger),
                      "-" if g.limit is None else f"<= {fmt_value(g.limit)}",
                      "yes" if g.passed else "[red]no[/red]")
    console.print(table)
    console.print(Text(v.reason, style="green" if v.promote else "yellow"), soft_wrap=True)
    if result.registered:
        r = result.registered
        console.print(f"registered {r['name']!r} version {r['version']} ({r['stage']})",
                      soft_wrap=True)
