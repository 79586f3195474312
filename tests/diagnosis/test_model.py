"""A fitted model diagnosed on real data (scikit-learn's bundled tables): the learning curve rises
on digits (more rows help) and is flat on an easy iris target; an overfit model is called so;
planted train/serve skew is named per column and a clean serving file has none; the library
version check; the stored predictions reproduced (and not, when tampered with); the CLI with
--json and one-line errors; the HTML page in headless Chromium."""
import importlib.metadata
import json
import re
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import mlexpert
from mlexpert.bundle import Model
from mlexpert.cli import app
from mlexpert.diagnosis import diagnose as diagnose_without_refits
from mlexpert.ensemble import SHIPPED
from mlexpert.monitor import PREDICTION

from .test_report import CHROMIUM, chromium


def _fit(frame, target, seconds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no tuning trials: the same model whatever the machine's speed
        return mlexpert.fit(frame, target, time_limit=seconds, presets="fast", budget=0, seed=0,
                            track=False)


@pytest.fixture(scope="module")
def digits():
    """Trained on half of digits; the other half is the labelled file: rows help a lot here."""
    from sklearn.datasets import load_digits

    d = load_digits(as_frame=True).frame
    d.columns = [str(c) for c in d.columns]
    model = _fit(d.iloc[::2].reset_index(drop=True), "target", 4)
    labelled = d.iloc[1::2].reset_index(drop=True)
    return model, labelled, mlexpert.diagnose(model, labelled, time_limit=10)


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """Setosa or not: the sepal measurements alone nearly separate it (the audit leaves the
    petal ones out as too good to be true); saved as a bundle and a CSV."""
    from sklearn.datasets import load_iris

    d = load_iris(as_frame=True).frame
    d["target"] = np.where(d["target"] == 0, "setosa", "other")
    folder = tmp_path_factory.mktemp("iris")
    model = _fit(d, "target", 3)
    model.save(folder / "model")
    d.to_csv(folder / "iris.csv", index=False)
    return model, d, folder


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """Diabetes in its raw units, sex as a named category; trained on 330 rows, the other 112
    are the serving rows, sent clean and with planted skew."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes(as_frame=True, scaled=False).frame
    d["sex"] = d["sex"].map({1.0: "female", 2.0: "male"})
    model = _fit(d.iloc[:330], "target", 3)
    rows = d.iloc[330:].drop(columns="target").reset_index(drop=True)
    folder = tmp_path_factory.mktemp("serving")
    rows.to_json(folder / "clean.jsonl", orient="records", lines=True)
    bad = rows.astype(object)
    bad["bmi"] = [str(v) for v in rows["bmi"]]            # numbers sent as JSON strings
    bad["sex"] = rows["sex"].map({"female": "F", "male": "M"})  # a coding change
    bad["bp"] = rows["bp"] * 1000                          # other units
    bad["s5"] = 4.5                                         # a default filled in
    with open(folder / "skewed.jsonl", "w") as f:  # as a service logs requests
        for i, rec in enumerate(bad.to_dict("records")):
            f.write(json.dumps({"request_id": f"r{i}", "records": [rec]}) + "\n")
    return model, folder


def _by_check(report):
    return {f.check: f for f in report.findings}


def test_learning_curve_rises_where_more_rows_help(digits):
    model, _, report = digits
    f = _by_check(report)["more_data_helps"]
    ev = f.evidence
    assert f.severity == "warning" and ev["low"] > 0 and ev["gain_per_doubling"] > 0.02
    assert "per doubling" in f.message and "presets='fast'" in f.message
    curve = report.section("learning_curve").summary
    assert len(curve["rows"]) >= 3 and curve["rows"] == sorted(curve["rows"])
    scores = [p["value"] for p in curve["held_out_scores"]]
    assert scores[-1] < scores[0]  # log loss falls with rows
    assert all(p["low"] <= p["value"] <= p["high"] for p in curve["held_out_scores"])
    assert sum(curve["refit_seconds"]) <= 10 + 4  # the time limit held (fit's small overhead)


def test_learning_curve_plateaus_on_an_easy_target(iris):
    model, data, _ = iris
    report = mlexpert.diagnose(model, data, time_limit=7)
    checks = _by_check(report)
    assert "plateaued" in checks and "more_data_helps" not in checks, report.findings
    assert checks["plateaued"].evidence["high"] < checks["plateaued"].evidence["material_gain"]
    skipped = report.section("learning_curve").skipped
    assert any("fewer than 20 rows" in s for s in skipped), skipped  # 10 % of 112 rows said


def test_bias_variance_and_baseline_on_new_rows(digits):
    model, labelled, report = digits
    bv = report.section("bias_variance").summary
    assert bv["holdout_rows"] == len(labelled) and bv["holdout"]["low"] < bv["holdout"]["high"]
    assert "refitted" in bv["train_from"]  # no training rows in the file: the refit's own
    assert "overfitting" not in report.checks and "underfitting" not in report.checks
    base = _by_check(report)["better_than_dummy"]
    assert base.evidence["low"] > 1.5 and base.evidence["scored_rows"] == "all rows"


def test_an_overfit_model_is_called_overfit():
    """Breast cancer with 30 % of its labels flipped: the model learns the noise, so its
    training rows score far above its out-of-fold estimate."""
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True).frame
    flip = np.random.default_rng(0).random(len(d)) < 0.3
    d["target"] = np.where(flip, 1 - d["target"], d["target"])
    model = _fit(d, "target", 3)
    report = diagnose_without_refits(model, d)
    f = _by_check(report)["overfitting"]
    ev = f.evidence
    assert ev["train"]["value"] - ev["oof"]["value"] > 0.5 * (ev["oof"]["value"] - 0.5)
    assert "it trained on" in ev["train_from"] and "regularise" in f.suggestion
    assert any("learning curve: no fitter" in s for s in report.section("learning_curve").skipped)


def test_planted_skew_is_named_per_column(diabetes):
    model, folder = diabetes
    report = mlexpert.diagnose(model, serving=folder / "skewed.jsonl")
    named = {(f.check, c) for f in report.findings for c in f.columns}
    assert {("skew_numbers_as_text", "bmi"), ("skew_new_categories", "sex"),
            ("skew_units", "bp"), ("skew_constant", "s5")} <= named, named
    units = next(f for f in report.findings if f.check == "skew_units")
    assert "×1,000" in units.message and abs(units.evidence["factor"] - 1000) < 1
    cats = next(f for f in report.findings if f.check == "skew_new_categories")
    assert set(cats.evidence["examples"]) == {"F", "M"}
    flagged = {c for f in report.findings if f.check.startswith("skew_") for c in f.columns}
    assert flagged == {"bmi", "sex", "bp", "s5"}, flagged  # nothing else called skewed


def test_clean_serving_rows_show_no_skew(diabetes):
    model, folder = diabetes
    report = mlexpert.diagnose(model, serving=folder / "clean.jsonl")
    assert not [f for f in report.findings if f.check.startswith("skew_")], report.findings
    assert "no_skew" in report.checks and report.counts["warning"] == 0


def test_library_versions_against_the_running_ones(iris, monkeypatch):
    model = iris[0]
    assert not [c for c in mlexpert.diagnose(model).checks if c.startswith("library")]
    real = importlib.metadata.version
    recorded = model.manifest.libraries["lightgbm"]
    major, minor, *_ = recorded.split(".")
    bumped = {"lightgbm": f"{major}.{int(minor) + 1}.0", "pandas": recorded}

    def fake(dist):
        return bumped["lightgbm"] if dist == "lightgbm" else real(dist)

    monkeypatch.setattr(importlib.metadata, "version", fake)
    f = _by_check(mlexpert.diagnose(model))["library_version"]
    assert f.severity == "warning" and f.evidence == {
        "library": "lightgbm", "bundle": recorded, "running": bumped["lightgbm"]}
    assert "pin lightgbm==" in f.suggestion


def test_stored_predictions_reproduced_and_tampering_caught(iris, digits):
    """The shipped model's own predictions, stored at fit, come back exactly (after a save and a
    load; binary and multiclass); one changed by 1e-6 is caught. A bundle from before they were
    stored falls back to agreement with the out-of-fold ones."""
    model, _, folder = iris
    for m in (model, mlexpert.load(folder / "model"), digits[0]):
        ok = _by_check(mlexpert.diagnose(m))["predictions_reproduced"]
        assert ok.evidence["rows_differing"] == 0 and ok.evidence["rows"] == len(m.reference_sample)
        assert "made at fit" in ok.evidence["stored"]
    sample = model.reference_sample.copy()
    sample.loc[3, SHIPPED] += 1e-6
    tampered = Model(model.manifest, model.ensemble.members, sample)
    bad = _by_check(mlexpert.diagnose(tampered))["predictions_not_reproduced"]
    assert bad.severity == "error" and bad.evidence["rows_differing"] == 1
    assert "first rows: [3]" in bad.message

    older = model.reference_sample.drop(columns=SHIPPED)
    ok = _by_check(mlexpert.diagnose(Model(model.manifest, model.ensemble.members, older)))
    assert ok["predictions_reproduced"].evidence["rank_correlation"] > 0.9
    older[PREDICTION] = np.random.default_rng(0).permutation(older[PREDICTION].to_numpy())
    bad = _by_check(mlexpert.diagnose(Model(model.manifest, model.ensemble.members, older)))
    assert bad["predictions_not_reproduced"].evidence["rank_correlation"] < 0.5


def run(*args):
    return CliRunner().invoke(app, ["diagnose", *map(str, args)], env={"COLUMNS": "160"})


def test_cli_json_for_a_model(iris, diabetes):
    _, _, folder = iris
    r = run(folder / "model", "--data", folder / "iris.csv", "--time-limit", "5", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    keys = [s["key"] for s in d["sections"]]
    assert keys == ["learning_curve", "bias_variance", "baseline", "skew"]
    bars = d["sections"][1]["charts"][0]
    assert bars["type"] == "bars" and [b["label"] for b in bars["bars"]] == [
        "training", "out-of-fold", "holdout", "dummy"]
    assert "better_than_dummy" in [f["check"] for f in d["findings"]]
    # iris' columns never arrive in diabetes rows: an error finding naming them, exit 1
    r = run(folder / "model", "--serving", diabetes[1] / "clean.jsonl", "--json", "--fail-on",
            "error")
    assert r.exit_code == 1, r.output
    missing = next(f for f in json.loads(r.output)["findings"]
                   if f["check"] == "skew_missing_column")
    used = [c.name for c in iris[0].schema.features]
    assert missing["columns"] == used and missing["severity"] == "error"


def test_cli_table_and_one_line_errors(iris, tmp_path):
    model, data, folder = iris
    r = run(folder / "model", "--time-limit", "4")
    assert r.exit_code == 0 and "predictions_reproduced" in r.output, r.output
    used = model.schema.features[0].name
    data.drop(columns=[used]).to_csv(tmp_path / "short.csv", index=False)
    r = run(folder / "model", "--data", tmp_path / "short.csv")
    assert r.exit_code == 1 and repr(used) in r.output and "short.csv" in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    data.drop(columns=["target"]).to_csv(tmp_path / "nolabel.csv", index=False)
    r = run(folder / "model", "--data", tmp_path / "nolabel.csv")
    assert r.exit_code == 1 and "no target column 'target'" in r.output and "nolabel.csv" in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    r = run(tmp_path, "--data", folder / "iris.csv")
    assert r.exit_code == 1 and "not a model bundle" in r.output
    assert run(folder / "model", "--history", "x.csv").exit_code == 2


CHECK = """<script>
window.addEventListener("load", () => {
  const ok = [...document.querySelectorAll("figure[data-chart] svg")].filter(s => {
    const r = s.getBoundingClientRect();
    const marks = [...s.querySelectorAll("polyline.line, rect.bar")].filter(e => {
      const b = e.getBBox(); return b.width > 5 && b.height > 1; });
    return r.width > 300 && r.height > 100 && marks.length > 0; });
  document.body.setAttribute("data-drawn", ok.map(s => s.closest("figure").dataset.chart).join(","));
  document.body.setAttribute("data-intervals", document.querySelectorAll("path.interval").length);
  document.body.setAttribute("data-checks",
    [...document.querySelectorAll("tr[data-check]")].map(t => t.dataset.check).join(","));
  console.log("DIAGNOSIS-CHECK-DONE");
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make browser)")
def test_html_renders_the_curve_and_bars_in_headless_chromium(digits, tmp_path):
    report = digits[2]
    html = report.to_html()
    assert "<script" not in html and "Model diagnosis" in html
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", CHECK + "</body>"))
    r = chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                  "--dump-dom", probe.as_uri()], tmp_path / "profile")
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert attrs["drawn"].split(",") == ["learning_curve", "bias_variance", "baseline"], attrs
    points = len(report.section("learning_curve").summary["rows"])
    assert int(attrs["intervals"]) >= points + 3, attrs  # the curve's points and the bars'
    assert attrs["checks"].split(",") == [f.check for s in report.sections for f in s.findings]
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln]
    assert console and all("DIAGNOSIS-CHECK-DONE" in ln for ln in console), console
