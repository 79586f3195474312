"""`mlexpert package`: a deployment folder (Dockerfile, requirements, README) for a bundle."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlexpert.cli._common import ModelDir, rich_console, user_errors


def package(
    model_dir: ModelDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Deployment folder to write.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a deployment folder written by `mlexpert package` before.")] = False,
) -> None:
    """Write a container recipe for serving MODEL: a Dockerfile (slim Python, pinned
    requirements, non-root user, health check on /health, `mlexpert serve` on port 8000),
    .dockerignore, requirements.txt, a README, mlexpert's wheel and a checked copy of the bundle.
    Builds no image."""
    with user_errors():
        from mlexpert.deploy import package as write_folder

        written = write_folder(model_dir, out, force=force)
        rich_console(stderr=True).print(
            f"deployment folder written to {written}: docker build -t IMAGE {written} "
            f"(see {written / 'README.md'})", soft_wrap=True)
