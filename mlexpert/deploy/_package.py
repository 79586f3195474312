"""``package``: a deployment folder for one bundle (Dockerfile, requirements, README, the bundle,
mlexpert's wheel), written whole or not at all."""
from __future__ import annotations

import os
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

from mlexpert._format import MANIFEST, verified_manifest
from mlexpert._io import atomic_dir
from mlexpert._version import __version__
from mlexpert.deploy import _recipe
from mlexpert.deploy._wheel import build_wheel, wheel_name
from mlexpert.errors import BundleError


def is_deployment(path: Path) -> bool:
    """Whether ``path`` is a folder ``package`` wrote (its Dockerfile starts with our header)."""
    try:
        with open(path / "Dockerfile", encoding="utf-8") as fh:
            return fh.readline().startswith(_recipe.HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def _check_out(out: Path, *, force: bool) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder unless ``force`` and it is a
    deployment folder written before (nothing else is ever replaced)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise BundleError(f"{str(out)!r} exists and is a file; choose another output folder.")
    if not any(out.iterdir()):
        return
    if not is_deployment(out):
        raise BundleError(f"{str(out)!r} is a non-empty folder that `mlexpert package` did not "
                          "write; refusing to replace it. Choose another output folder.")
    if not force:
        raise BundleError(f"{str(out)!r} already holds a deployment folder; pass force=True "
                          "(CLI: --force) to replace it.")


def _copy_bundle(source: Path, dest: Path) -> None:
    """The manifest and every file it lists, copied and checked again against their hashes."""
    manifest, _ = verified_manifest(source)
    dest.mkdir()
    for name in [MANIFEST, *manifest["files"]]:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    verified_manifest(dest)


def package(source: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a deployment folder for the bundle at ``source`` into ``out``: a ``Dockerfile``
    (slim Python base of the bundle's Python minor version, pinned requirements, a non-root user,
    ``HEALTHCHECK`` on ``/health``, ``mlexpert serve`` on 0.0.0.0:8000 as the entry point),
    ``.dockerignore``, ``requirements.txt``, ``README.md``, mlexpert's own wheel in ``wheels/``
    and the bundle in ``model/``.

    The bundle is loaded with ``mlexpert.load`` (format and hashes checked, members read) before
    anything is written, and its copy is checked against its hashes again. The folder appears
    whole or not at all. ``out`` must be absent or empty; with ``force``, a folder written by
    ``package`` before is replaced. BundleError otherwise. Returns ``out``.
    """
    import mlexpert
    from mlexpert.serve import API_KEY_ENV

    source, out = Path(source), Path(out)
    _check_out(out, force=force)
    if not source.is_dir():
        raise BundleError(f"{str(source)!r} is not a bundle directory; pass the directory "
                          "`mlexpert fit --out` wrote (for a registry model, save it first: "
                          "mlexpert.load('models:/NAME@ALIAS').save('model/')).")
    loaded = mlexpert.load(source)
    manifest = loaded.manifest
    _ = loaded.ensemble  # the members read now (load reads them on first use): they unpickle
    recipe = _recipe.Recipe(
        manifest=manifest,
        python=_recipe.python_minor(manifest.libraries.get("python"), platform.python_version()),
        wheel=wheel_name(), image=_recipe.image_name(source.resolve().name), api_key_env=API_KEY_ENV,
        mlexpert_version=__version__, source=str(source),
        written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        docker_here=shutil.which("docker") is not None)
    with atomic_dir(out) as tmp:
        _copy_bundle(source, tmp / _recipe.MODEL)
        (tmp / _recipe.WHEELS).mkdir()
        build_wheel(tmp / _recipe.WHEELS)
        texts = {"Dockerfile": _recipe.dockerfile(recipe), ".dockerignore": _recipe.DOCKERIGNORE,
                 "requirements.txt": _recipe.requirements(recipe),
                 "README.md": _recipe.readme(recipe)}
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out
