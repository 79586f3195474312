"""The report: strict JSON with sections ready for more, and a self-contained HTML page that
real headless Chromium draws with every curve, no script and no console error."""
import json
import re
import shutil
import subprocess

import pytest

from mlexpert.diagnosis import diagnose

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHECK = """<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("figure[data-chart] svg")];
  const drawn = charts.filter(s => { const r = s.getBoundingClientRect();
    const lines = [...s.querySelectorAll("polyline.line")].filter(p => {
      return p.getBBox().width > 50; });  // a constant learning rate is a flat line
    return r.width > 300 && r.height > 100 && lines.length > 0; });
  document.body.setAttribute("data-charts", charts.length);
  document.body.setAttribute("data-drawn", drawn.length);
  document.body.setAttribute("data-checks",
    [...document.querySelectorAll("tr[data-check]")].map(t => t.dataset.check).join(","));
  document.body.setAttribute("data-bad", document.querySelectorAll("text.bad").length);
  console.log("DIAGNOSIS-CHECK-DONE");
});
</script>"""


def chromium(args, profile, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def blown(histories, priors, tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    log = folder / "<i>run.csv"  # the source is shown escaped, never as markup
    histories["blow_up"].to_csv(log, index=False, na_rep="nan")
    report = diagnose(str(log), priors=priors["blow_up"])
    return report, report.save_html(folder / "diagnosis.html")


def test_to_dict_is_strict_json_with_sections(histories, priors):
    d = diagnose(histories["memorise"], priors=priors["memorise"]).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["findings"][0]["check"] == "overfitting"
    (section,) = d["sections"]
    assert section["key"] == "training" and section["checks"] == ["overfitting"]
    assert {c["key"] for c in section["charts"]} == {"loss", "metric", "lr", "grad_norm"}
    loss = next(c for c in section["charts"] if c["key"] == "loss")
    assert [m["x"] for m in loss["marks"]] == [d["findings"][0]["evidence"]["best_epoch"]]
    assert any(ln["kind"] == "chance" for ln in loss["lines"])


def test_html_is_self_contained_and_escaped(blown):
    report, path = blown
    html = path.read_text()
    assert "<script" not in html and not re.search(r'(src|href)="?(https?:)?//', html)
    assert "<i>run" not in html and "&lt;i&gt;run.csv" in html
    assert html.count('<figure class="chart"') == 4 and "log scale" in html
    assert 'data-check="diverging"' in html and not list(path.parent.glob(".*tmp*"))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make browser)")
def test_renders_in_headless_chromium(blown, tmp_path):
    report, path = blown
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text().replace("</body>", CHECK + "</body>"))
    r = chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                  "--dump-dom", probe.as_uri()], tmp_path / "profile")
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert int(attrs["charts"]) == 4 and attrs["drawn"] == attrs["charts"], attrs
    assert attrs["checks"] == ",".join(report.checks) == "diverging"
    assert int(attrs["bad"]) >= 2  # the NaN / infinite epochs are marked on the loss chart
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln]
    assert any("DIAGNOSIS-CHECK-DONE" in ln for ln in console), "console capture did not work"
    assert all("DIAGNOSIS-CHECK-DONE" in ln for ln in console), console
    shot = tmp_path / "diagnosis.png"
    r = chromium(["--hide-scrollbars", "--window-size=1200,1400", f"--screenshot={shot}",
                  path.as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.stat().st_size > 20_000, r.stderr[-2000:]
