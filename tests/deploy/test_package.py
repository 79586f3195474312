"""`mlexpert package`: the deployment folder as a user meets it. The Dockerfile's promises (base
image of the bundle's Python, non-root user, health check through urllib, the entry point), pins
equal to the versions the bundle was fitted with, hadolint, the bundle's copy checked, mlexpert's
own wheel installed and serving the bundle, one-line errors, and nothing half-written. Building
the image needs Docker and its registry, which this machine lacks: not tested here."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from importlib.metadata import distribution, version
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement

import mlexpert
from mlexpert._format import LIBRARIES, sha256
from mlexpert._version import __version__
from mlexpert.deploy import is_deployment, package
from mlexpert.errors import BundleError
from tests.conftest import cli_in_process
from tests.serve.conftest import free_port, stop

READY_SECONDS = 90


@pytest.fixture(scope="module")
def model_dir(fitted, tmp_path_factory) -> Path:
    """The session's binary model (linear, text and dates) saved as a bundle."""
    return fitted["binary"].save(tmp_path_factory.mktemp("deploy") / "churn_model")


@pytest.fixture(scope="module")
def folder(model_dir, tmp_path_factory) -> Path:
    return package(model_dir, tmp_path_factory.mktemp("out") / "deploy")


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _pins(folder: Path) -> dict[str, Requirement]:
    lines = [ln for ln in (folder / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    reqs = [Requirement(ln) for ln in lines]
    return {r.name: r for r in reqs}


def test_the_folder_holds_the_recipe_the_bundle_and_the_wheel(folder):
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"Dockerfile", ".dockerignore", "requirements.txt", "README.md",
            f"wheels/mlexpert-{__version__}-py3-none-any.whl", "model/manifest.json"} <= names
    assert is_deployment(folder)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_the_dockerfile_keeps_its_promises(folder, model_dir):
    steps = _instructions((folder / "Dockerfile").read_text())
    kinds = [k for k, _ in steps]
    recorded = mlexpert.load(model_dir).manifest.libraries["python"]
    minor = ".".join(recorded.split(".")[:2])
    assert steps[0] == ("FROM", f"python:{minor}-slim")
    assert minor == ".".join(map(str, sys.version_info[:2]))  # fitted here: the running Python
    users = [arg for k, arg in steps if k == "USER"]
    assert len(users) == 1 and users[0].split(":")[0].isdigit() and int(users[0].split(":")[0]) > 0
    user_at = kinds.index("USER")
    assert user_at > max(i for i, k in enumerate(kinds) if k == "RUN")  # installs as root, serves as not
    assert user_at < kinds.index("ENTRYPOINT")
    health = dict(steps)["HEALTHCHECK"]
    assert "/health" in health and "urllib.request" in health and "curl" not in health
    command = json.loads(health.split("CMD", 1)[1])
    assert command[0] == "python"
    assert dict(steps)["EXPOSE"] == "8000"
    assert json.loads(dict(steps)["ENTRYPOINT"]) == [
        "mlexpert", "serve", "/app/model", "--host", "0.0.0.0", "--port", "8000"]
    copies = [arg for k, arg in steps if k == "COPY"]
    assert "model/ ./model/" in copies and "requirements.txt ./" in copies
    install = next(arg for k, arg in steps if k == "RUN" and "pip install" in arg)
    assert "-r requirements.txt" in install and f"mlexpert-{__version__}-py3-none-any.whl" in install
    assert (folder / ".dockerignore").read_text().splitlines()[1:] == [
        "*", "!requirements.txt", "!wheels", "!model"]


def test_requirements_pin_the_bundles_libraries_at_the_installed_versions(folder, model_dir):
    pins = _pins(folder)
    for name, req in pins.items():
        (spec,) = req.specifier
        assert spec.operator == "==", req
        if name != "mlexpert":
            assert spec.version == version(name), req  # the bundle was fitted in this environment
    libraries = mlexpert.load(model_dir).manifest.libraries
    dists = {key: dist for dist, key in LIBRARIES}
    for key, recorded in libraries.items():
        if key != "python":
            assert str(pins[dists[key]].specifier) == f"=={recorded}"
    assert str(pins["mlexpert"].specifier) == f"=={__version__}"


def test_the_pins_satisfy_mlexperts_own_requirements(folder):
    """What pip resolves in the image: no pin outside the range mlexpert's wheel asks for."""
    with zipfile.ZipFile(next((folder / "wheels").glob("*.whl"))) as zf:
        meta = zf.read(f"mlexpert-{__version__}.dist-info/METADATA").decode()
    wants = [Requirement(line.split(": ", 1)[1]) for line in meta.splitlines()
             if line.startswith("Requires-Dist: ")]
    wants = [w for w in wants if w.marker is None or w.marker.evaluate({"extra": ""})]
    pins = _pins(folder)
    checked = 0
    for want in wants:
        if want.name in pins:
            pinned = next(iter(pins[want.name].specifier)).version
            assert want.specifier.contains(pinned, prereleases=True), (want, pinned)
            checked += 1
    assert checked >= 10


def test_the_pyfunc_model_and_the_container_share_the_bundles_pins(folder, model_dir):
    """One rule pins both (moved to mlexpert._format): the bundle's libraries read the same."""
    from mlexpert.tracking._pyfunc import pip_requirements

    manifest = mlexpert.load(model_dir).manifest
    pyfunc = pip_requirements(manifest)
    here = [str(r) for r in _pins(folder).values()]
    libs = len(manifest.libraries) - 1
    assert pyfunc[:libs] == here[:libs]
    assert any(r.startswith("mlflow==") for r in pyfunc) and not any(
        r.startswith("mlflow==") for r in here)


def test_the_bundle_is_copied_whole_and_checked(folder, model_dir, tables):
    listed = json.loads((model_dir / "manifest.json").read_text())["files"]
    for name, digest in listed.items():
        assert sha256(folder / "model" / name) == digest
    assert (folder / "model" / "manifest.json").read_bytes() == \
        (model_dir / "manifest.json").read_bytes()
    rows = tables["binary"].drop(columns="y").head(50)
    np.testing.assert_array_equal(mlexpert.load(folder / "model").predict_proba(rows),
                                  mlexpert.load(model_dir).predict_proba(rows))


def test_the_wheel_is_mlexpert_as_it_runs(folder):
    import mlexpert as pkg

    root = Path(pkg.__file__).parent
    wheel = next((folder / "wheels").glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        expected = {p.relative_to(root.parent).as_posix() for p in root.rglob("*.py")
                    if "__pycache__" not in p.parts}
        assert expected <= names
        assert not [n for n in names if n.endswith(".pyc")]
        info = f"mlexpert-{__version__}.dist-info"
        record = zf.read(f"{info}/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if name == f"{info}/RECORD":
                continue
            data = zf.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).rstrip(b"=").decode() and int(size) == len(data)
        assert {line.rsplit(",", 2)[0] for line in record} == names
        meta = zf.read(f"{info}/METADATA").decode()
        assert f"Version: {__version__}" in meta
        requires = [ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Requires-Dist")]
        assert requires == distribution("mlexpert").requires
        assert "mlexpert = mlexpert.cli:main" in zf.read(f"{info}/entry_points.txt").decode()


def test_the_wheel_is_the_same_bytes_each_time(model_dir, tmp_path):
    a = package(model_dir, tmp_path / "a")
    b = package(model_dir, tmp_path / "b")
    name = f"wheels/mlexpert-{__version__}-py3-none-any.whl"
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_the_readme_says_how_to_build_run_and_secure_it(folder, model_dir, monkeypatch, tmp_path):
    text = (folder / "README.md").read_text()
    for needed in ("docker build -t churn_model .", "docker run", "MLEXPERT_API_KEY", "/health",
                   f"pip install -r requirements.txt wheels/mlexpert-{__version__}-py3-none-any.whl",
                   "not on PyPI"):
        assert needed in text, needed
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "not built or run there" in (package(model_dir, tmp_path / "a") / "README.md").read_text()
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/docker")
    assert "not built or run there" not in (package(model_dir, tmp_path / "b") / "README.md").read_text()


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint is not installed (`make setup` installs it)")
def test_the_dockerfile_passes_hadolint(folder):
    r = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "info", "--format", "json",
                        str(folder / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout or "[]") == []


# --- errors and atomicity -------------------------------------------------------------------

def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="not an mlexpert bundle"):
        package(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(BundleError, match="is not a bundle directory"):
        package(tmp_path / "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tampered_bundle_is_refused_before_anything_is_written(model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    with open(bad / "members.pkl.gz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="SHA-256"):
        package(bad, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_the_output_folder_is_never_clobbered(model_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        package(model_dir, tmp_path / "file")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    for force in (False, True):
        with pytest.raises(BundleError, match="did not write; refusing"):
            package(model_dir, mine, force=force)
    assert (mine / "notes.txt").read_text() == "keep"
    (tmp_path / "empty").mkdir()
    assert is_deployment(package(model_dir, tmp_path / "empty"))
    with pytest.raises(BundleError, match="--force"):
        package(model_dir, tmp_path / "empty")
    (tmp_path / "empty" / "stale.txt").write_text("old")
    package(model_dir, tmp_path / "empty", force=True)
    assert not (tmp_path / "empty" / "stale.txt").exists()


def test_a_failure_midway_leaves_nothing_half_written(model_dir, tmp_path, monkeypatch):
    from mlexpert.deploy import _package

    def broken(folder):
        (folder / "partial.whl").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(_package, "build_wheel", broken)
    with pytest.raises(OSError, match="disk full"):
        package(model_dir, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    old = package(model_dir, tmp_path / "old")
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
    monkeypatch.setattr(_package, "build_wheel", broken)
    with pytest.raises(OSError, match="disk full"):
        package(model_dir, old, force=True)
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_cli_writes_the_folder_and_refuses_in_one_line(model_dir, tmp_path):
    r = cli_in_process("package", model_dir, "--out", tmp_path / "deploy")
    assert r.returncode == 0, r.stderr
    assert "deployment folder written to" in r.stderr and is_deployment(tmp_path / "deploy")
    r = cli_in_process("package", model_dir, "--out", tmp_path / "deploy")
    assert r.returncode == 1 and r.stderr.startswith("error:") and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert cli_in_process("package", model_dir, "--out", tmp_path / "deploy", "--force").returncode == 0
    r = cli_in_process("package", tmp_path / "nowhere", "--out", tmp_path / "other")
    assert r.returncode == 1 and "is not a bundle directory" in r.stderr
    assert cli_in_process("package", "--help").returncode == 0


# --- the recipe installed and serving -------------------------------------------------------

def _serve_and_predict(mlexpert_cmd: list[str], model: Path, env: dict[str, str], cwd: Path,
                       healthcheck: list[str]) -> tuple[dict, dict]:
    """Start ``mlexpert serve`` (``mlexpert_cmd``) on 127.0.0.1 with an API key, run the
    Dockerfile's health check against it, predict /metadata's example; (example, answer)."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([*mlexpert_cmd, "serve", str(model), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                env={**env, "MLEXPERT_API_KEY": "k"}, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        probe = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in healthcheck]
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        key = {"X-API-Key": "k"}
        assert httpx.get(url + "/metadata", timeout=10).status_code == 401
        example = httpx.get(url + "/metadata", headers=key, timeout=10).json()["example"]
        answer = httpx.post(url + "/predict", json=example, headers=key, timeout=30)
        assert answer.status_code == 200, answer.text
        return example, answer.json()
    finally:
        stop(proc)


def _healthcheck(folder: Path, python: str) -> list[str]:
    health = dict(_instructions((folder / "Dockerfile").read_text()))["HEALTHCHECK"]
    command = json.loads(health.split("CMD", 1)[1])
    return [python, *command[1:]]


def _same_as_the_bundle(model, example: dict, answer: dict) -> None:
    proba = model.predict_proba(pd.DataFrame([example]))
    served = [answer["probabilities"][0][str(c)] for c in model.manifest.target.classes]
    np.testing.assert_allclose(served, np.asarray(proba)[0], atol=1e-6)


@pytest.mark.heavy
def test_the_wheel_installed_alone_serves_the_packaged_bundle(folder, fitted, tmp_path):
    """mlexpert from the folder's wheel (pip, no dependencies: this environment has them at the
    pinned versions), not from this checkout, serves the folder's bundle."""
    target = tmp_path / "site"
    wheel = next((folder / "wheels").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True, timeout=120)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
           "PYTHONPATH": str(target), "OMP_WAIT_POLICY": "PASSIVE"}
    where = subprocess.run([sys.executable, "-c", "import mlexpert; print(mlexpert.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    example, answer = _serve_and_predict([str(target / "bin" / "mlexpert")], folder / "model", env,
                                         tmp_path, _healthcheck(folder, sys.executable))
    _same_as_the_bundle(fitted["binary"], example, answer)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_pinned_requirements_install_into_a_fresh_venv_that_serves_the_bundle(
        folder, fitted, tmp_path):
    """The README's recipe without Docker, from PyPI: a new venv, `pip install -r
    requirements.txt wheels/...`, `mlexpert serve model` (~80 s of installing on 2 cores)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True,
                   timeout=300)
    wheel = next((folder / "wheels").glob("*.whl")).relative_to(folder)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt",
                    str(wheel)], check=True, cwd=folder, timeout=900)
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    for req in _pins(folder).values():
        got = subprocess.run([python, "-c", f"from importlib.metadata import version; "
                              f"print(version({req.name!r}))"], capture_output=True, text=True,
                             timeout=60, env=env, cwd=tmp_path).stdout.strip()
        assert req.specifier.contains(got), (req, got)
    example, answer = _serve_and_predict([str(venv / "bin" / "mlexpert")], folder / "model", env,
                                         tmp_path, _healthcheck(folder, python))
    _same_as_the_bundle(fitted["binary"], example, answer)
