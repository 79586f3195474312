"""The drift report: self-contained, and rendered in real headless Chromium with every plot
drawn and no console errors."""
import re
import shutil
import subprocess

import pytest

import mlexpert
from tests.conftest import make_table

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHECK = """<script>
window.addEventListener("load", () => {
  const figs = [...document.querySelectorAll("figure svg")];
  const drawn = figs.filter(s => { const r = s.getBoundingClientRect();
    const bars = [...s.querySelectorAll("rect.bar")].filter(b => b.getBBox().height > 0);
    return r.width > 100 && r.height > 50 && bars.length > 0; });
  document.body.setAttribute("data-plots", figs.length);
  document.body.setAttribute("data-drawn", drawn.length);
  document.body.setAttribute("data-columns",
    [...document.querySelectorAll("figure[data-column]")].map(f => f.dataset.column).join(","));
  console.log("DRIFT-CHECK-DONE");
});
</script>"""


def chromium(args, profile, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(fitted, tmp_path_factory):
    current = make_table("binary", n=800, seed=31)
    current["x1"] = current["x1"] + 1.5
    current.loc[current.index[:100], "color"] = "<b>purple</b>"  # escaped, never markup
    result = mlexpert.drift(fitted["binary"], current, labels="y", window=400)
    path = result.save_html(tmp_path_factory.mktemp("drift_html") / "drift.html")
    return result, path


def test_report_is_self_contained(report):
    result, path = report
    html = path.read_text()
    assert "<script" not in html and not re.search(r'(src|href)="?(https?:)?//', html)
    assert "<b>purple</b>" not in html and "&lt;b&gt;purple" in html
    for needle in ("Drift detected", "Prediction drift", "Performance (roc_auc)", "x1 </b>",
                   "Benjamini-Hochberg", "wasserstein"):
        assert needle.replace(" </b>", "</b>") in html, needle
    assert not list(path.parent.glob(".*tmp*"))  # written atomically


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make browser)")
def test_renders_in_headless_chromium(report, tmp_path):
    result, path = report
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text().replace("</body>", CHECK + "</body>"))
    r = chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                  "--dump-dom", probe.as_uri()], tmp_path / "profile")
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    # every column but the date has a plot, plus the prediction; all drawn
    assert int(attrs["plots"]) == 6 and attrs["drawn"] == attrs["plots"], attrs
    assert attrs["columns"].split(",")[:2] == ["prediction", "x1"]  # drifted first
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln]
    assert any("DRIFT-CHECK-DONE" in ln for ln in console), "console capture did not work"
    assert all("DRIFT-CHECK-DONE" in ln for ln in console), console
    shot = tmp_path / "drift.png"
    r = chromium(["--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={shot}",
                  path.as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.stat().st_size > 20_000, r.stderr[-2000:]
