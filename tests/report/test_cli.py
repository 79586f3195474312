"""The evaluation, explanation and report commands as a user runs them (in this process; the
report command in a real subprocess)."""
import pandas as pd
import pytest

from tests.conftest import cli_in_process, make_table
from tests.test_cli import real, run, strict_json


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_report")
    frame = make_table("binary", n=520, seed=2)
    frame.iloc[:220].to_csv(d / "train.csv", index=False)
    frame.iloc[220:].to_csv(d / "test.csv", index=False)
    (d / "notes.md").write_text("## Intended use\nDemo only.\n## Limitations\nSmall data.\n")
    return d


@pytest.fixture(scope="module")
def bundle(files):
    out = files / "model"
    r = run("fit", files / "train.csv", "-t", "y", "--time-limit", 15, "--presets", "fast",
            "--budget", 1, "--out", out, "--optimize-threshold", "f1", "--json")
    assert r.returncode == 0, r.stderr
    return out


def test_fit_writes_the_card_and_stores_the_threshold(bundle):
    html = (bundle / "card.html").read_text()
    assert "Model card" in html and "Labels are positive above probability" in html
    manifest = strict_json((bundle / "manifest.json").read_text())
    assert manifest["decision"]["objective"] == "f1"


def test_report_command(files, bundle):
    out = files / "card.html"
    r = real("report", bundle, "--data", files / "test.csv", "--sensitive-column", "color",
            "--card-notes", files / "notes.md", "--out", out)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "Demo only." in html and "By <code>color</code>" in html and "holdout (300 rows)" in html


def test_evaluate_prints_everything_and_json(files, bundle):
    r = run("evaluate", bundle, files / "test.csv", "--sensitive-column", "color")
    assert r.returncode == 0, r.stderr
    for needle in ("95% CI", "pr_auc", "mcc", "ece", "decision threshold", "Confusion matrix",
                   "reliability", "Groups by 'color'", "demographic parity difference",
                   "equal opportunity difference"):
        assert needle in r.stdout, needle
    report = strict_json(run("evaluate", bundle, files / "test.csv", "--json").stdout)
    assert report["threshold"] is not None and report["diagnostics"]["confusion"]
    assert all({"value", "low", "high"} <= set(v) for v in report["metrics"].values())


def test_evaluate_says_when_groups_are_too_small_to_compare(files, bundle):
    pd.read_csv(files / "test.csv").iloc[:80].to_csv(files / "few.csv", index=False)
    r = run("evaluate", bundle, files / "few.csv", "--sensitive-column", "color")
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "without an interval" in out and "no gap between groups is reported" in out
    assert "demographic parity difference" not in out
    r = run("report", bundle, "--data", files / "few.csv", "--sensitive-column", "color",
            "--out", files / "few.html")
    assert r.returncode == 0, r.stderr
    html = (files / "few.html").read_text()
    assert "Caveat:" in html and "no gap between groups is reported" in html


def test_explain_command_sums_to_the_probability(files, bundle):
    import mlexpert

    js = strict_json(run("explain", bundle, files / "test.csv", "--json", "--class", "no").stdout)
    assert js["output"] == "probability of class 'no'" and len(js["rows"]) == 300
    table = pd.DataFrame(js["rows"])
    proba = mlexpert.load(bundle).predict_proba(pd.read_csv(files / "test.csv"))["no"]
    total = table["base_value"] + table[js["columns"]].sum(axis=1)
    assert ((total - proba.to_numpy()).abs() < 1e-6).all()
    assert ((table["prediction"] - proba.to_numpy()).abs() < 1e-6).all()


@pytest.mark.parametrize("args, message", [
    (["report", "{d}/nope", "--out", "{d}/c.html"], "is not a directory"),
    (["report", "{d}/model", "--sensitive-column", "color"], "sensitive_column needs labelled data"),
    (["report", "{d}/model", "--card-notes", "{d}/missing.md"], "does not exist"),
    (["explain", "{d}/model", "{d}/test.csv", "--class", "maybe"], "is not a class"),
    (["explain", "{d}/model", "{d}/test.csv", "--id-column", "nope"], "'nope'"),
    (["evaluate", "{d}/model", "{d}/test.csv", "--sensitive-column", "nope"], "sensitive column 'nope'"),
    (["fit", "{d}/train.csv", "-t", "y", "--cost-matrix", "1,0,0,1"], "some mistake costs more"),
    (["fit", "{d}/train.csv", "-t", "y", "--positive-class", "maybe", "--out", "{d}/m2"],
     "positive_class 'maybe' is not a class of 'y'"),
])
def test_user_errors_are_one_line(files, bundle, args, message):
    r = cli_in_process(*[a.format(d=files) for a in args])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_cost_matrix_text_is_a_usage_error(files):
    r = run("fit", files / "train.csv", "-t", "y", "--cost-matrix", "1,2,three,4")
    assert r.returncode == 2 and "TN,FP,FN,TP" in r.stderr


def test_regression_evaluate_says_nothing_of_calibration(fitted, tables, tmp_path):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    bundle = fitted["regression"].save(tmp_path / "model")
    tables["regression"].to_csv(tmp_path / "test.csv", index=False)
    r = CliRunner().invoke(app, ["evaluate", str(bundle), str(tmp_path / "test.csv")])
    assert r.exit_code == 0, r.output
    assert "rmse" in r.output and "calibration" not in r.output  # nothing to calibrate


def test_explain_copies_the_id_column_first(fitted, tables, tmp_path):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    bundle = fitted["binary"].save(tmp_path / "model")
    rows = tables["binary"].head(20).drop(columns="y").assign(customer=[f"c{i}" for i in range(20)])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    r = CliRunner().invoke(app, ["explain", str(bundle), str(tmp_path / "rows.csv"),
                                 "--id-column", "customer", "--out", str(tmp_path / "why.csv")])
    assert r.exit_code == 0, r.output
    why = pd.read_csv(tmp_path / "why.csv")
    assert why.columns[0] == "customer" and why["customer"].tolist() == rows["customer"].tolist()
    assert "customer" not in fitted["binary"].explain(rows).contributions.columns
