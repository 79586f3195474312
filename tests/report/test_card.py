"""The model card as a person sees it: rendered by real headless Chromium for each task, with no
console errors, every section present and every figure decoded; plus its content and inputs.
Cards and screenshots are kept under the pytest temp folder (``<basetemp>/cards``)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.errors import ConfigError, DataError
from mlexpert.report import build_card, read_notes, write_card
from tests.conftest import TASKS, make_table

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ["summary", "intended-use", "audit", "leaderboard", "performance", "explanations",
            "groups", "cost", "reproducibility"]
CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0));
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-broken", bad.length);
  // a half-width figure alone in its row leaves the other column empty
  const lonely = imgs.filter(i => {
    const r = i.getBoundingClientRect(), grid = i.parentElement.getBoundingClientRect();
    const mates = imgs.filter(j => j !== i && j.parentElement === i.parentElement
                              && Math.abs(j.getBoundingClientRect().top - r.top) < 2);
    return mates.length === 0 && r.width < 0.6 * grid.width;
  });
  document.body.setAttribute("data-lonely", lonely.length);
  document.body.setAttribute("data-sections",
    [...document.querySelectorAll("section[id]")].map(s => s.id).join(","));
  console.log("CARD-CHECK-DONE");
});
</script>"""
NOTES = "# Notes\n## Intended use\nRank <b>leads</b> for calls.\n\n## Limitations\n- 400 rows only\n- not for pricing\n"


def chromium(args, profile, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cards(fitted, tmp_path_factory):
    """One card per task, with held-out data, a sensitive column and notes, written next to
    its saved bundle."""
    out = tmp_path_factory.getbasetemp() / "cards"
    out.mkdir(exist_ok=True)
    notes = out / "notes.md"
    notes.write_text(NOTES)
    paths = {}
    for task in TASKS:
        bundle = fitted[task].save(out / f"{task}_model", overwrite=True)
        paths[task] = write_card(fitted[task], out / f"{task}.html",
                                 data=make_table(task, n=150, seed=11), sensitive_column="color",
                                 notes=read_notes(notes), bundle_dir=bundle)
    return paths


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make browser)")
@pytest.mark.parametrize("task", TASKS)
def test_renders_in_headless_chromium(cards, task, tmp_path):
    card = cards[task]
    probe = tmp_path / "probe.html"
    probe.write_text(card.read_text().replace("</body>", CHECK + "</body>"))
    r = chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                  "--window-size=1280,2400", "--dump-dom", probe.as_uri()], tmp_path / "profile")
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert attrs["sections"].split(",") == SECTIONS
    expected_images = 9 if task != "regression" else 7  # curves/confusion/reliability vs 2 plots
    assert int(attrs["images"]) >= expected_images - 2 and attrs["broken"] == "0", attrs
    assert attrs["lonely"] == "0", attrs
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln]
    assert any("CARD-CHECK-DONE" in ln for ln in console), "console capture did not work"
    assert all("CARD-CHECK-DONE" in ln for ln in console), console
    shot = card.with_suffix(".png")
    r = chromium(["--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                  card.as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.stat().st_size > 20_000, r.stderr[-2000:]


@pytest.mark.parametrize("task", TASKS)
def test_card_content_is_self_contained(cards, task):
    html = cards[task].read_text()
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count('src="data:image/svg+xml;base64,') >= 5
    for needle in ("Intended use", "Limitations", "400 rows only", "Leaderboard", "≈",
                   "Permutation importance", "data fingerprint", "latency, one row",
                   "Group checks", "By <code>color</code>"):
        assert needle in html, needle
    assert "Rank &lt;b&gt;leads&lt;/b&gt; for calls." in html  # notes are escaped
    alts = re.findall(r'<img src="data:[^"]*" alt="([^"]*)"', html)
    assert len(alts) == html.count("<img") and len(set(alts)) == len(alts), alts
    assert not any(re.search(r"plot \d", a) for a in alts), alts  # says what each one shows
    expected = ["Confusion matrix", "Calibration (reliability) curve"] if task != "regression" \
        else ["Predicted against actual", "Histogram of residuals"]
    for what in expected + ["Permutation importance", "SHAP summary", "Partial dependence"]:
        assert any(a.startswith(what) for a in alts), (what, alts)
    cost = html[html.index('id="cost"'):html.index('id="reproducibility"')]
    for label in ("one row once warm: the compiled path", "batches of 1,000 rows through the members",
                  "one row through the members before compiling", "estimated by the search"):
        assert label in cost, label  # each latency figure says which path and batch it is
    if task == "binary":
        assert "Equal-opportunity difference" in html and "Demographic-parity" in html
    if task == "regression":
        assert "Largest gap in mean prediction" in html


def test_the_card_counts_columns_as_the_audit_does(fitted):
    """The summary's "rows x columns" leaves the target out, as the audit and the schema do."""
    model = fitted["binary"]
    html, _ = build_card(model)
    n = len(make_table("binary").columns) - 1
    assert model.manifest.provenance["columns"] == n == len(model.schema.columns)
    assert f"× {n} columns</b><span class=\"muted\">besides the target" in html


def test_card_without_data_uses_out_of_fold_evidence(fitted, tmp_path):
    html, numbers = build_card(fitted["binary"])
    assert numbers["holdout"] is None and "out-of-fold predictions" in html
    assert "Explanations need labelled rows" in html and "Not run: pass" in html
    assert html.count("data:image/svg+xml") >= 3


def test_card_hostile_inputs(fitted, tmp_path):
    model = fitted["binary"]
    with pytest.raises(ConfigError, match="sensitive_column needs labelled data"):
        build_card(model, sensitive_column="color")
    with pytest.raises(ConfigError, match="is a directory"):
        write_card(model, tmp_path)
    with pytest.raises(DataError, match="card notes file .* does not exist"):
        read_notes(tmp_path / "nope.md")
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="cannot be read as UTF-8"):
        read_notes(bad)
    with pytest.raises(DataError, match="lacks 1 column"):
        build_card(model, data=make_table("binary", n=30).drop(columns="x1"))
    assert not list(tmp_path.glob(".*tmp*"))


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_notes_text_is_parsed(text):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "n.md"
        p.write_text(text, encoding="utf-8")
        notes = read_notes(p)
    assert set(notes) == {"intended_use", "limitations", "other"}


def test_notes_lists_with_continuation_lines():
    from mlexpert.report._card import _paragraphs

    blocks = _paragraphs("Intro line\nsecond line.\n\n- one item\n  continues here\n* two")
    assert blocks == [{"text": "Intro line second line."},
                      {"list": ["one item continues here", "two"]}]
