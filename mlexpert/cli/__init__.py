"""The `mlexpert` command line: one verb per lifecycle step, no logic of its own.

User errors (any MlexpertError) print one line on stderr and exit 1; usage errors exit 2 (Typer);
Ctrl-C exits 130 having written nothing partial. Rich stays in this package, imported on use.
One module per command group; this one builds the app and registers them in help order.
"""
from __future__ import annotations

from typing import Annotated

import typer

from mlexpert.cli._audit import audit
from mlexpert.cli._diagnose import diagnose
from mlexpert.cli._drift import drift
from mlexpert.cli._explain import explain
from mlexpert.cli._export import distill, export
from mlexpert.cli._fit import evaluate, fit, predict
from mlexpert.cli._history import history
from mlexpert.cli._package import package
from mlexpert.cli._report import report
from mlexpert.cli._retrain import retrain
from mlexpert.cli._serve import serve
from mlexpert.cli._tracking import registry_app, runs_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="mlexpert", no_args_is_help=True, add_completion=False,
    pretty_exceptions_show_locals=False,
    help="An ML engineer in a box: fit, evaluate and predict tabular models with evidence.")



def _show_version(value: bool) -> None:
    if value:
        from mlexpert._version import __version__

        typer.echo(f"mlexpert {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """An ML engineer in a box: fit, evaluate and predict tabular models with evidence."""


for _command in (fit, predict, evaluate, audit, explain, report, drift, diagnose):
    app.command()(_command)
app.add_typer(runs_app, name="runs")
app.add_typer(registry_app, name="registry")
for _command in (history, export, distill, package, serve, retrain):
    app.command()(_command)


def main() -> None:
    """Console-script entry point."""
    app()
