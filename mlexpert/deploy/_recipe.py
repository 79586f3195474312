"""The texts of a deployment folder: ``Dockerfile``, ``.dockerignore``, ``requirements.txt`` and
``README.md``, each a pure function of the bundle's manifest and a few names (no file is read or
written here)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from mlexpert._format import pinned_requirements
from mlexpert._manifest import Manifest

PORT = 8000
APP = "/app"
MODEL = "model"  # the bundle's folder, in the deployment folder and under APP
WHEELS = "wheels"
USER, UID = "mlexpert", 10001
HEALTH = "/health"  # the service's liveness route, open without the API key
# the service's stack, pinned at the versions installed where the folder is written (the
# manifest pins the libraries whose objects the bundle holds)
SERVING = ("scipy", "pyarrow", "fastapi", "starlette", "pydantic", "uvicorn", "onnxruntime")
HEADER = "# Written by `mlexpert package`"  # the first line of every Dockerfile it writes


@dataclass(frozen=True)
class Recipe:
    """What the texts name: the bundle's record, the Python minor of the base image, the wheel
    of mlexpert, the image's name, the environment variable of the API key, and whether this
    machine had a ``docker`` command."""

    manifest: Manifest
    python: str  # "3.11"
    wheel: str  # file name in WHEELS
    image: str
    api_key_env: str
    mlexpert_version: str
    source: str
    written_at: str
    docker_here: bool


def python_minor(recorded: str | None, running: str) -> str:
    """"3.11" from the bundle's recorded Python ("3.11.7"), else from the running one."""
    for version in (recorded, running):
        m = re.match(r"(\d+)\.(\d+)", version or "")
        if m:
            return f"{m[1]}.{m[2]}"
    raise ValueError(f"no Python version in {recorded!r} or {running!r}")


def image_name(folder_name: str) -> str:
    """A Docker repository name from a folder's name (lower case, [a-z0-9._-])."""
    name = re.sub(r"[^a-z0-9._-]+", "-", folder_name.lower()).strip("._-")
    return name or "mlexpert-model"


def requirements(r: Recipe) -> str:
    """The bundle's libraries at their recorded versions, the serving stack as installed here,
    and mlexpert at the version of the wheel beside it."""
    lines = pinned_requirements(r.manifest.libraries, r.mlexpert_version, installed=SERVING)
    return ("# Pinned by `mlexpert package`: the libraries the bundle holds objects of, at the\n"
            "# versions its manifest records; the service's stack as installed where this\n"
            f"# folder was written; mlexpert itself is {WHEELS}/{r.wheel} (not on PyPI):\n"
            f"#   pip install -r requirements.txt {WHEELS}/{r.wheel}\n"
            + "\n".join(lines) + "\n")


def dockerfile(r: Recipe) -> str:
    health = (f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}{HEALTH}',"
              " timeout=4)")
    entry = ["mlexpert", "serve", f"{APP}/{MODEL}", "--host", "0.0.0.0", "--port", str(PORT)]
    return f"""{HEADER} (mlexpert {r.mlexpert_version}) from {r.source}.
# The {r.manifest.target.task} model of {r.manifest.target.name!r}, served by `mlexpert serve` on port {PORT}.
#   docker build -t {r.image} .
#   docker run --rm -p {PORT}:{PORT} -e {r.api_key_env}=<key> {r.image}
FROM python:{r.python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_ROOT_USER_ACTION=ignore \\
    OMP_WAIT_POLICY=PASSIVE

RUN useradd --create-home --uid {UID} --user-group --shell /usr/sbin/nologin {USER}

WORKDIR {APP}
COPY requirements.txt ./
COPY {WHEELS}/ ./{WHEELS}/
RUN pip install --no-cache-dir -r requirements.txt ./{WHEELS}/{r.wheel}
# the bundle stays owned by root: the service reads it, and cannot change it
COPY {MODEL}/ ./{MODEL}/

# numeric, so a runtime that must prove a non-root user (Kubernetes runAsNonRoot) can
USER {UID}:{UID}
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \\
    CMD ["python", "-c", "{health}"]
ENTRYPOINT [{", ".join(f'"{a}"' for a in entry)}]
"""


DOCKERIGNORE = f"""# only what the Dockerfile copies goes to the build
*
!requirements.txt
!{WHEELS}
!{MODEL}
"""


def readme(r: Recipe) -> str:
    m = r.manifest
    cv = (m.metrics.get("cv") or {}).get(m.metric) or {}
    score = f", cross-validated {m.metric} {cv['value']:.4f}" if isinstance(
        cv.get("value"), int | float) else ""
    fitted_by = "" if m.mlexpert_version == r.mlexpert_version else (
        f" The bundle was written by mlexpert {m.mlexpert_version}; this folder installs "
        f"mlexpert {r.mlexpert_version}, which loaded and checked it.")
    recorded = m.libraries.get("python")
    python_note = f" (the bundle was fitted on Python {recorded})" if recorded else ""
    built = ("The machine that wrote this folder had no `docker` command: the image was **not "
             "built or run there**. What was checked there: the bundle loads with "
             "`mlexpert.load`, and its copy in `model/` matches the SHA-256 of every file its "
             "manifest lists." if not r.docker_here else
             "`mlexpert package` does not build the image; build it as above.")
    key = r.api_key_env
    return f"""# {r.image}: a container serving an mlexpert model

Written by `mlexpert package` (mlexpert {r.mlexpert_version}) on {r.written_at} from
`{r.source}`: the {m.target.task} model of `{m.target.name}`{score}.{fitted_by}

| file | what it is |
|---|---|
| `Dockerfile` | `python:{r.python}-slim`{python_note}, the pinned requirements, the non-root user `{USER}` (uid {UID}), the bundle at `{APP}/{MODEL}`, `HEALTHCHECK` on `{HEALTH}`, port {PORT}, entry point `mlexpert serve {APP}/{MODEL} --host 0.0.0.0 --port {PORT}` |
| `requirements.txt` | the libraries the bundle holds objects of, pinned to the versions its manifest records; the service's stack pinned as installed where this folder was written; `mlexpert=={r.mlexpert_version}` |
| `{WHEELS}/{r.wheel}` | mlexpert itself, zipped from the mlexpert that wrote this folder: mlexpert is not on PyPI, so pip installs it from this file (its other dependencies come from PyPI) |
| `{MODEL}/` | the bundle, hash-checked after copying |
| `.dockerignore` | only the files above go to the build |

## Build and run

```bash
docker build -t {r.image} .
docker run --rm -p {PORT}:{PORT} -e {key}=change-me {r.image}
curl -s localhost:{PORT}{HEALTH}
curl -s -H 'X-API-Key: change-me' localhost:{PORT}/metadata
```

Arguments after the image name go to `mlexpert serve`, e.g. `--workers 2`, `--strict`,
`--max-records 100`. Keep port {PORT} inside the container (the health check calls it) and map
another outside: `-p 9000:{PORT}`. The build needs Docker Hub (the base image) and PyPI; the
image is large, since mlexpert's dependencies include MLflow, Dask and shap.

## Environment variables

- `{key}`: when set and not empty, every route but `{HEALTH}` needs `X-API-Key: <key>` or
  `Authorization: Bearer <key>`. Unset, the service answers anyone who reaches the port (it
  says so when it starts): set it, or keep the port private. `--api-key-env NAME` reads the
  key from another variable.
- `OMP_WAIT_POLICY=PASSIVE` (set in the image): LightGBM beside another OpenMP runtime
  (onnxruntime) stays fast on single rows.
- `PROMETHEUS_MULTIPROC_DIR`: set by `mlexpert serve` itself with `--workers` over 1; leave it
  unset.

## Without Docker

With Python {r.python}:

```bash
python{r.python} -m venv .venv
.venv/bin/pip install -r requirements.txt {WHEELS}/{r.wheel}
.venv/bin/mlexpert serve {MODEL} --port {PORT}        # 127.0.0.1 unless --host says otherwise
```

## Not built here

{built}
"""
