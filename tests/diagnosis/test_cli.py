"""`mlexpert diagnose` as a user runs it: the table, strict JSON, the HTML file, --fail-on, and
one-line errors with exit 1 (usage errors exit 2)."""
import json

import pytest
from typer.testing import CliRunner

from mlexpert.cli import app


def _strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))


@pytest.fixture(scope="module")
def logs(histories, tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    out = {}
    for name in ("memorise", "blow_up", "healthy"):
        out[name] = folder / f"{name}.csv"
        histories[name].to_csv(out[name], index=False, na_rep="nan")  # as Keras CSVLogger writes
    return out


def run(*args):
    return CliRunner().invoke(app, ["diagnose", *map(str, args)], env={"COLUMNS": "160"})


def test_table_names_the_finding_and_what_was_read(logs):
    r = run("--history", logs["memorise"], "--priors", "0.5,0.5")
    assert r.exit_code == 0, r.output
    assert "overfitting" in r.output and "val_loss = 'val_loss'" in r.output
    assert "early stopping" in r.output and "1 warning(s)" in r.output


def test_json_is_strict_and_holds_the_findings_and_curves(logs, histories):
    r = run("--history", logs["blow_up"], "--task", "binary", "--json")
    assert r.exit_code == 0, r.output
    d = _strict(r.output)
    assert [f["check"] for f in d["findings"]] == ["diverging"]
    assert d["findings"][0]["severity"] == "error" and d["summary"]["error"] == 1
    loss = next(c for c in d["sections"][0]["charts"] if c["key"] == "loss")
    train = next(ln for ln in loss["lines"] if ln["label"] == "loss")
    assert len(train["y"]) == len(histories["blow_up"]) and None in train["y"]  # NaN -> null


def test_html_is_written_atomically_and_fail_on_exits_1(logs, tmp_path):
    out = tmp_path / "report" / "diag.html"
    r = run("--history", logs["blow_up"], "--html", out, "--fail-on", "error")
    assert r.exit_code == 1 and out.is_file() and "<svg" in out.read_text()
    assert not list(out.parent.glob(".*tmp*"))
    assert run("--history", logs["healthy"], "--fail-on", "warning").exit_code == 0


def test_priors_from_labelled_data(logs, tmp_path):
    data = tmp_path / "labels.csv"
    data.write_text("x,y\n" + "".join(f"{i},{'a' if i % 4 else 'b'}\n" for i in range(40)))
    r = run("--history", logs["healthy"], "--data", data, "--target", "y", "--json")
    chance = _strict(r.output)["sections"][0]["summary"]["chance"]
    assert chance["priors"] == {"a": 30, "b": 10} or chance["accuracy"] == 0.75, chance
    assert chance["accuracy"] == 0.75 and chance["task"] == "binary"


@pytest.mark.parametrize("args, needle", [
    (["--history", "missing.csv"], "cannot read the training history missing.csv: no such file"),
    (["--history", "LOG", "--priors", "a,b"], "priors must be numbers"),
    (["--history", "LOG", "--task", "ranking"], "task must be binary, multiclass or regression"),
    (["--history", "LOG", "--data", "x.csv"], "target must be given together with data"),
], ids=["missing-file", "bad-priors", "bad-task", "data-without-target"])
def test_user_errors_are_one_line_exit_1(logs, args, needle):
    r = run(*[logs["healthy"] if a == "LOG" else a for a in args])
    assert r.exit_code == 1, r.output
    assert needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_run_and_history_are_exclusive(logs):
    assert run("--history", logs["healthy"], "--run", "0" * 32).exit_code == 2
    assert run().exit_code == 2
