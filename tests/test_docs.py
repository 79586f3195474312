"""Docs are tests: the README's Python quickstart runs as written."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.heavy
def test_readme_python_quickstart_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    import mlexpert

    real_fit = mlexpert.fit

    def quick_fit(*args, **kwargs):  # the README's calls as written; a shorter search (15 s -> 4 s)
        return real_fit(*args, **{**kwargs, "time_limit": min(kwargs.get("time_limit", 4), 4)})

    monkeypatch.setattr(mlexpert, "fit", quick_fit)
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert (tmp_path / "churn_model" / "manifest.json").exists()


def test_readme_shows_the_two_commands_first():
    text = README.read_text()
    assert text.index("make demo") < text.index("Quickstart")
    assert text.index("make test") < text.index("Quickstart")


@pytest.mark.parametrize("verb", ["fit", "evaluate", "predict", "explain", "report", "serve",
                                  "export", "distill", "package", "retrain"])
def test_readme_cli_verbs_exist(verb):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    assert f"mlexpert {verb}" in README.read_text()
    assert CliRunner().invoke(app, [verb, "--help"]).exit_code == 0


def test_the_licence_is_an_spdx_expression_so_installing_warns_nothing():
    """``project.license`` as a TOML table is deprecated (pip/setuptools warn on every install):
    the SPDX string form, with the setuptools that reads it (PEP 639, setuptools 77)."""
    import tomllib

    project = tomllib.loads((README.parent / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert not [c for c in project["project"].get("classifiers", []) if c.startswith("License ::")]
