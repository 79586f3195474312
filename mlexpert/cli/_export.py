"""Smaller or portable forms of a bundle: `export` (one ONNX graph) and `distill` (one LightGBM
student, its accuracy lost and speed gained measured)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlexpert.cli._common import (
    AsJson,
    ModelDir,
    Seed,
    fmt_value,
    load_model,
    print_json,
    rich_console,
    user_errors,
)


def export(
    model_dir: ModelDir,
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")] = Path("model.onnx"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Write the whole pipeline (preprocessing and every model) as one ONNX graph."""
    if fmt.lower() != "onnx":
        raise typer.BadParameter(f"the only format is onnx, got {fmt!r}", param_hint="--format")
    with user_errors():
        from mlexpert.errors import BundleError

        if out.exists() and not force:
            raise BundleError(f"{str(out)!r} already exists; pass --force to replace it.")
        model = load_model(model_dir)
        model.to_onnx(out)
        rich_console(stderr=True).print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): inputs "
                                        f"{', '.join(c.name for c in model.schema.features)}")


def distill(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="Bundle directory (the teacher).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Training table: CSV, TSV or Parquet path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")] = Path("small"),
    test: Annotated[Optional[str], typer.Option(
        help="Labelled rows neither model saw, to measure the accuracy lost (default: a held-out "
             "fifth of --data).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Also write OUT/model.onnx.")] = False,
    time_limit: Annotated[float, typer.Option(help="Seconds for the student's training.", min=0.1)] = 60.0,
    seed: Seed = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle at --out.")] = False,
    as_json: AsJson = False,
) -> None:
    """Train one LightGBM model on MODEL's soft predictions (with MUNGE samples) and save it as
    a bundle; report the accuracy lost and the speed gained, with intervals."""
    with user_errors():
        teacher = load_model(model_dir)
        result = teacher.distill(data, out, test=test, time_limit=time_limit, seed=seed,
                                 overwrite=force, onnx=onnx)
    report = result.report
    if as_json:
        print_json({"out": str(out), **report})
        return
    console = rich_console()
    console.print(f"distilled {', '.join(report['teacher_members'])} into one LightGBM "
                  f"({report['rounds']} rounds) on {report['training_rows']} rows + "
                  f"{report['munge_samples']} MUNGE samples; wrote {out}")
    if "lost" in report:
        lost = report["lost"]
        console.print(f"{report['metric']} on {report['held_out_rows']} held-out rows: teacher "
                      f"{fmt_value(report['teacher'])}, student {fmt_value(report['student'])}; lost "
                      f"{fmt_value(lost['value'])} [{fmt_value(lost['low'])}, {fmt_value(lost['high'])}]")
    speed = report["speedup"]
    console.print(f"single-row latency {report['latency_ms']['teacher']:.2f} ms -> "
                  f"{report['latency_ms']['student']:.2f} ms: {speed['value']:.1f}x faster "
                  f"[{speed['low']:.1f}, {speed['high']:.1f}]")
    if onnx:
        console.print(f"wrote {out / 'model.onnx'}")
