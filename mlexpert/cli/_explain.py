"""`mlexpert explain`: per-row contributions (SHAP) as CSV or JSON."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlexpert.cli._common import (
    ModelDir,
    load_model,
    print_json,
    rich_console,
    user_errors,
    write_csv,
)


def explain(
    model_dir: ModelDir,
    data: Annotated[str, typer.Argument(help="Rows to explain: CSV, TSV or Parquet path.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="CSV to write (default: stdout).")] = None,
    class_label: Annotated[Optional[str], typer.Option(
        "--class", help="Class whose probability is explained (default: positive / predicted).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per row set.")] = False,
    id_column: Annotated[Optional[str], typer.Option(
        help="Column copied to the output, first (as in predict).")] = None,
) -> None:
    """Per-row contributions of each column (SHAP) that sum to the prediction."""
    import warnings

    with user_errors():
        from mlexpert.data import describe_source, read_table
        from mlexpert.errors import missing_column

        model = load_model(model_dir)
        frame = read_table(data)
        if id_column is not None and id_column not in frame.columns:
            raise missing_column(id_column, "id", frame.columns)
        label: Any = class_label
        if label is not None and model.classes:
            label = next((c for c in model.classes if str(c) == label), label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = model.explain(frame, class_label=label, source=describe_source(data))
        table = exp.to_frame()
        if id_column is not None:
            table.insert(0, id_column, frame[id_column].to_numpy())
        if as_json:
            print_json({"output": exp.output, "columns": list(exp.contributions.columns),
                        "rows": table.to_dict(orient="records")})
            return
        if out is None:
            table.to_csv(sys.stdout, index=False)
            return
        write_csv(table, out)
        rich_console(stderr=True).print(f"wrote contributions to the {exp.output} for {len(table)} "
                                        f"rows to {out}")
