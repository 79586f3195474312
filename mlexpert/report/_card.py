"""The model card: one self-contained HTML file (inline CSS, figures as SVG data URIs, no script,
no network) built from a bundle, optionally with labelled held-out data for holdout metrics,
explanations and group checks."""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlexpert._io import write_text
from mlexpert.errors import ConfigError, DataError
from mlexpert.report import _plots

LATENCY_CALLS = 30
THROUGHPUT_ROWS = 1000
PDP_COLUMNS = 4  # partial dependence of the top columns: an even count fills the two-column grid


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _interval(entry: dict[str, Any]) -> str:
    lo, hi = entry.get("low"), entry.get("high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"[{lo:.4f}, {hi:.4f}]"


def read_notes(path: str | os.PathLike | None) -> dict[str, str]:
    """Sections of a Markdown notes file: text under a heading containing "intended use" or
    "limitations" goes to that field, anything else to "other"."""
    out = {"intended_use": "", "limitations": "", "other": ""}
    if path is None:
        return out
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"card notes file {str(p)!r} does not exist; pass a Markdown file with "
                        "'## Intended use' and '## Limitations' sections.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"card notes file {str(p)!r} cannot be read as UTF-8 text "
                        f"({type(exc).__name__}).") from None
    key = "other"
    for line in text.splitlines():
        heading = re.match(r"^\s*#+\s*(.*)$", line)
        if heading:
            title = heading.group(1).lower()
            key = "intended_use" if "intended use" in title else \
                "limitations" if "limitation" in title else "other"
            continue
        out[key] += line + "\n"
    return {k: v.strip() for k, v in out.items()}


def _paragraphs(text: str) -> list[dict[str, Any]]:
    """Markdown-ish blocks: bullet lists ("- " or "* ", indented lines continue an item) and
    paragraphs; the template escapes the text."""
    blocks: list[dict[str, Any]] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        lines = [ln for ln in chunk.splitlines() if ln.strip()]
        if lines and lines[0].lstrip()[:2] in ("- ", "* "):
            items: list[str] = []
            for ln in lines:
                if ln.lstrip()[:2] in ("- ", "* "):
                    items.append(ln.lstrip()[2:].strip())
                else:
                    items[-1] += " " + ln.strip()
            blocks.append({"list": items})
        elif lines:
            blocks.append({"text": " ".join(ln.strip() for ln in lines)})
    return blocks


def _bundle_bytes(path: Path | None) -> int | None:
    if path is None or not path.is_dir():
        return None
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.name != "card.html")


def _cost(model: Any, data: Any, bundle_dir: Path | None) -> dict[str, Any]:
    """Bundle size, single-row latency (median of 30 calls) and batch throughput, measured now
    on rows of ``data``; without data, the leaderboard's fit-time estimate."""
    out: dict[str, Any] = {"bundle_bytes": _bundle_bytes(bundle_dir)}
    board = model.manifest.leaderboard
    shipped = next((r for r in board if r["model"] == "ensemble"), None) or \
        next((r for r in board if r.get("ensemble_weight")), board[0])
    out["fit_estimate_ms_per_1k"] = shipped.get("predict_ms_per_1k")
    if data is None:
        return out
    import warnings

    from mlexpert.bundle import HOT_CALLS
    from mlexpert.data import read_table

    frame = read_table(data).drop(columns=[model.target], errors="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = frame.iloc[:1]
        for _ in range(HOT_CALLS):  # warm up: small batches then take the compiled path
            model.predict(row)
        if hasattr(model, "compile"):
            model.compile()  # wait for its build: the card times what a warm process pays
        times = []
        for _ in range(LATENCY_CALLS):
            t = time.perf_counter()
            model.predict(row)
            times.append(time.perf_counter() - t)
        batch = frame.sample(THROUGHPUT_ROWS, replace=len(frame) < THROUGHPUT_ROWS, random_state=0)
        t = time.perf_counter()
        model.predict(batch)
        batch_s = time.perf_counter() - t
    out.update(latency_ms=1000 * float(np.median(times)),
               throughput_rows_per_s=THROUGHPUT_ROWS / max(batch_s, 1e-9))
    return out


def build_card(model: Any, *, data: Any = None, sensitive_column: str | None = None,
               notes: dict[str, str] | None = None, bundle_dir: str | os.PathLike | None = None,
               seed: int = 0) -> tuple[str, dict[str, Any]]:
    """(HTML, the numbers in it). With labelled ``data`` (held out from training) the card adds
    holdout metrics, curves on those rows, permutation importance, SHAP, partial dependence,
    measured latency and, with ``sensitive_column``, group checks."""
    import warnings

    import jinja2

    from mlexpert._version import __version__

    if sensitive_column is not None and data is None:
        raise ConfigError("sensitive_column needs labelled data: pass data (CLI --data FILE).")
    info = model.manifest
    ctx: dict[str, Any] = {"info": info, "model": model, "fmt": _fmt, "interval": _interval,
                           "version": __version__, "notes": {}, "figures": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        holdout = model.evaluate(data, sensitive_column=sensitive_column, seed=seed) \
            if data is not None else None
        explained = model.explain_global(data, top=PDP_COLUMNS, seed=seed) \
            if data is not None else None
    ctx["holdout"], ctx["explained"] = holdout, explained
    diag = holdout["diagnostics"] if holdout else (info.diagnostics or {}).get("cv")
    ctx["diag_source"] = "held-out data" if holdout else "out-of-fold predictions (cross-validation)"
    figs = ctx["figures"]
    if diag:
        if model.task == "regression":
            figs["performance"] = [_plots.predicted_vs_actual(diag), _plots.residuals(diag)]
        else:
            figs["performance"] = [f for f in (
                _plots.roc(diag) if diag["roc"] else None, _plots.pr(diag) if diag["pr"] else None,
                _plots.confusion(diag), _plots.reliability(diag)) if f]
    if explained:
        figs["importance"] = [_plots.importance(explained["permutation_importance"], model.metric)
                              ] if explained["permutation_importance"] else []
        figs["importance"].append(_plots.shap_summary(explained["shap"]))
        figs["pdp"] = [_plots.partial_dependence(p, model.classes)
                       for p in explained["partial_dependence"] if p["grid"]]
    ctx["diag"] = diag
    ctx["cost"] = _cost(model, data, Path(bundle_dir) if bundle_dir else None)
    notes = notes or {}
    ctx["notes"] = {k: _paragraphs(notes.get(k, "")) for k in ("intended_use", "limitations", "other")}
    ctx["shipped"] = [m["model"] for m in info.ensemble]
    ctx["headline"] = (holdout["metrics"] if holdout else model.metrics).get(model.metric, {})
    ctx["headline_source"] = "holdout" if holdout else "cross-validated"
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    html = env.from_string(_TEMPLATE).render(**ctx)
    return html, {"holdout": holdout, "explained": explained, "cost": ctx["cost"]}


def write_card(model: Any, out: str | os.PathLike, **kwargs: Any) -> Path:
    """Render the card (see :func:`build_card`) and write it atomically to ``out``."""
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a directory; pass a file name such as "
                          f"{str(out / 'card.html')!r}.")
    html, _ = build_card(model, **kwargs)
    write_text(out, html)
    return out


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model card: {{ info.target.name }} ({{ info.target.task }})</title>
<style>
  :root { --ink: #1d2433; --muted: #5b6577; --line: #d9dee7; --accent: #2f5fa7; --bg: #f6f8fb; }
  * { box-sizing: border-box; }
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
         margin: 0; background: white; }
  main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 48px; }
  h1 { font-size: 1.7em; margin: 0 0 4px; }
  h2 { font-size: 1.25em; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 2em; }
  h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
  .muted { color: var(--muted); font-size: .9em; }
  table { border-collapse: collapse; width: 100%; margin: .5em 0; font-size: .9em; }
  th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: var(--bg); }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 10px; }
  .kpi { background: var(--bg); border-radius: 8px; padding: 10px 14px; }
  .kpi b { display: block; font-size: 1.3em; }
  .figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 12px; }
  .figs img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
  .figs img:last-child:nth-child(odd) { grid-column: 1 / -1; justify-self: center; max-width: 640px; }
  .sev-error { color: #b3261e; font-weight: 600; } .sev-warning { color: #9a6700; font-weight: 600; }
  .sev-info { color: var(--accent); }
  .mark { font-weight: 600; color: #1b7f3b; }
  .editable { border: 1px dashed var(--line); border-radius: 6px; padding: 8px 12px; min-height: 2.5em; }
  nav a { margin-right: 10px; color: var(--accent); text-decoration: none; font-size: .9em; }
  code { background: var(--bg); padding: 1px 4px; border-radius: 3px; font-size: .9em; word-break: break-all; }
  @media print {
    body { font-size: 11pt; } main { max-width: none; padding: 0; } nav { display: none; }
    h2 { break-after: avoid; } section, .figs img, table { break-inside: avoid; }
    .editable { border: none; padding: 0; }
  }
</style>
</head>
<body>
<main>
<header>
  <h1>Model card: predicting <code>{{ info.target.name }}</code></h1>
  <div class="muted">mlexpert {{ version }} · fitted {{ info.provenance.created_at }} · {{ info.target.task }} · metric {{ info.metric }}</div>
  <nav>
    <a href="#summary">Summary</a><a href="#intended-use">Intended use</a><a href="#audit">Data audit</a>
    <a href="#leaderboard">Leaderboard</a><a href="#performance">Performance</a>
    <a href="#explanations">Explanations</a><a href="#groups">Group checks</a>
    <a href="#cost">Inference cost</a><a href="#reproducibility">Reproducibility</a>
  </nav>
</header>

<section id="summary">
  <h2>Summary</h2>
  <div class="kpis">
    <div class="kpi"><span class="muted">task</span><b>{{ info.target.task }}</b></div>
    <div class="kpi"><span class="muted">training data</span><b>{{ info.provenance.rows }} rows × {{ info.provenance.columns }} columns</b><span class="muted">besides the target</span></div>
    <div class="kpi"><span class="muted">target</span><b>{{ info.target.name }}</b>
      {% if info.target.classes %}<span class="muted">classes: {{ info.target.classes | join(", ") }}{% if info.target.task == "binary" %}; positive: {{ info.target.classes[1] }}{% endif %}</span>{% endif %}</div>
    <div class="kpi"><span class="muted">shipped model</span><b>{{ shipped | join(" + ") }}</b></div>
    <div class="kpi"><span class="muted">{{ headline_source }} {{ info.metric }}</span>
      <b>{{ fmt(headline.value) }}</b><span class="muted">95% CI {{ interval(headline) }}</span></div>
  </div>
  <p>
  {% if info.target.task != "regression" %}{% if info.calibration %}Probabilities are recalibrated ({{ info.calibration.method }}, fitted out of fold).{% else %}Probabilities are the model's own (no recalibration applied).{% endif %}{% endif %}
  {% if info.decision %} Labels are positive above probability {{ fmt(info.decision.threshold, 3) }} (chosen for {{ info.decision.objective }}).{% endif %}
  </p>
  <table>
    <tr><th>metric</th><th class="num">cross-validated</th><th class="num">95% CI</th>
      {% if holdout %}<th class="num">holdout ({{ holdout.rows }} rows)</th><th class="num">95% CI</th>{% endif %}</tr>
    {% for name, entry in model.metrics.items() %}
    <tr><td>{{ name }}</td><td class="num">{{ fmt(entry.value) }}</td><td class="num">{{ interval(entry) }}</td>
      {% if holdout %}{% set h = holdout.metrics.get(name) %}<td class="num">{{ fmt(h.value) if h else "–" }}</td><td class="num">{{ interval(h) if h else "–" }}</td>{% endif %}</tr>
    {% endfor %}
  </table>
  <p class="muted">Intervals: 95% percentile bootstrap over rows (1,000 resamples).</p>
</section>

<section id="intended-use">
  <h2>Intended use</h2>
  <div class="editable" contenteditable="true">
  {% for b in notes.intended_use %}{% if b.get("list") %}<ul>{% for i in b["list"] %}<li>{{ i }}</li>{% endfor %}</ul>{% else %}<p>{{ b.text }}</p>{% endif %}{% else %}<p class="muted">Not stated. Describe who should use this model, for what decisions, and on what population (pass <code>--card-notes notes.md</code> with an "## Intended use" section).</p>{% endfor %}
  </div>
  <h3>Limitations</h3>
  <div class="editable" contenteditable="true">
  {% for b in notes.limitations %}{% if b.get("list") %}<ul>{% for i in b["list"] %}<li>{{ i }}</li>{% endfor %}</ul>{% else %}<p>{{ b.text }}</p>{% endif %}{% else %}<p class="muted">Not stated. Describe known failure modes, populations it was not validated on, and what it must not be used for ("## Limitations" in the notes file).</p>{% endfor %}
  </div>
  {% for b in notes.other %}{% if b.get("list") %}<ul>{% for i in b["list"] %}<li>{{ i }}</li>{% endfor %}</ul>{% else %}<p>{{ b.text }}</p>{% endif %}{% endfor %}
</section>

<section id="audit">
  <h2>Data audit and fit findings</h2>
  {% if info.findings %}
  <table><tr><th>severity</th><th>check</th><th>finding</th><th>suggestion</th></tr>
  {% for f in info.findings %}<tr><td class="sev-{{ f.severity }}">{{ f.severity }}</td><td>{{ f.check }}</td><td>{{ f.message }}</td><td>{{ f.suggestion }}</td></tr>{% endfor %}
  </table>
  {% else %}<p>No findings.</p>{% endif %}
</section>

<section id="leaderboard">
  <h2>Leaderboard</h2>
  <p class="muted">{{ info.plan.split.n_splits }}-fold {{ info.plan.split.kind }} cross-validation, {{ info.metric }}. ≈ marks candidates statistically indistinguishable from the best (corrected paired t-test over the same folds, one-sided p ≥ 0.05).</p>
  <table><tr><th>model</th><th class="num">{{ info.metric }}</th><th class="num">± std</th><th class="num">p vs best</th><th></th><th>status</th><th class="num">fit s</th><th class="num">ms / 1k rows</th><th class="num">weight</th></tr>
  {% for r in info.leaderboard if r.status != "pruned" %}<tr><td>{{ r.model }}</td><td class="num">{{ fmt(r.score) }}</td><td class="num">{{ fmt(r.score_std) }}</td><td class="num">{{ fmt(r.p_vs_best, 3) }}</td><td class="mark">{{ "≈" if r.indistinguishable else "" }}</td><td>{{ r.status }}</td><td class="num">{{ fmt(r.fit_seconds, 1) }}</td><td class="num">{{ fmt(r.predict_ms_per_1k, 1) }}</td><td class="num">{{ fmt(r.ensemble_weight, 2) if r.ensemble_weight else "" }}</td></tr>{% endfor %}
  </table>
  {% set pruned = info.leaderboard | selectattr("status", "equalto", "pruned") | list %}
  {% if pruned %}<p class="muted">{{ pruned | length }} tuning trial(s) pruned after their first folds (no full score) are not shown.</p>{% endif %}
</section>

<section id="performance">
  <h2>Performance</h2>
  <p class="muted">From {{ diag_source }}.</p>
  <div class="figs">{% for f in figures.get("performance", []) %}<img src="{{ f.uri }}" alt="{{ f.alt }}">{% endfor %}</div>
  {% if info.target.task != "regression" %}
  <h3>Calibration</h3>
  {% if info.calibration_report %}<p>{% if info.calibration %}{{ info.calibration.method }} calibration was applied: out-of-fold log loss {{ fmt(info.calibration_report.log_loss_before) }} → {{ fmt(info.calibration_report.log_loss_after) }}.{% else %}No calibration applied ({{ info.calibration_report.get("reason", "") }}).{% endif %}</p>{% endif %}
  {% endif %}
  {% if info.decision %}<p>Decision threshold {{ fmt(info.decision.threshold, 3) }} for {{ info.decision.objective }}: {{ fmt(info.decision.value) }} out of fold vs {{ fmt(info.decision["value_at_0.5"]) }} at 0.5.</p>{% endif %}
</section>

<section id="explanations">
  <h2>Explanations</h2>
  {% if explained %}
  <p class="muted">On {{ explained.rows }} held-out rows. Permutation importance: increase of the {{ explained.metric }} loss when a column is shuffled (95% interval over 5 repeats). SHAP: per-row contributions to the {{ explained.shap.output }} on {{ explained.shap.rows }} rows.</p>
  <div class="figs">{% for f in figures.get("importance", []) %}<img src="{{ f.uri }}" alt="{{ f.alt }}">{% endfor %}</div>
  <table><tr><th>column</th><th class="num">permutation importance</th><th class="num">95% CI</th></tr>
  {% for r in explained.permutation_importance %}<tr><td>{{ r.column }}</td><td class="num">{{ fmt(r.importance) }}</td><td class="num">{{ interval(r) }}</td></tr>{% endfor %}
  </table>
  <h3>Partial dependence of the top columns</h3>
  <div class="figs">{% for f in figures.get("pdp", []) %}<img src="{{ f.uri }}" alt="{{ f.alt }}">{% endfor %}</div>
  {% else %}
  <p>Explanations need labelled rows the model did not train on: run <code>mlexpert report MODEL --data holdout.csv</code>.</p>
  {% endif %}
</section>

<section id="groups">
  <h2>Group checks</h2>
  {% if holdout and holdout.get("groups") %}{% set g = holdout.groups %}
  <p>By <code>{{ g.column }}</code>.
  {% if g.get("demographic_parity_difference") is not none %} Demographic-parity difference (largest gap in positive-prediction rate): <b>{{ fmt(g.demographic_parity_difference, 3) }}</b>.{% endif %}
  {% if g.get("equal_opportunity_difference") is not none %} Equal-opportunity difference (largest gap in true-positive rate): <b>{{ fmt(g.equal_opportunity_difference, 3) }}</b>.{% endif %}
  {% if g.get("mean_prediction_difference") is not none %} Largest gap in mean prediction: <b>{{ fmt(g.mean_prediction_difference, 3) }}</b>.{% endif %}
  {% if g.too_small %} Groups under 5 rows not scored: {{ g.too_small | join(", ") }}.{% endif %}</p>
  {% for w in g.get("warnings", []) %}<p class="warn">Caveat: {{ w }}</p>{% endfor %}
  <table><tr><th>group</th><th class="num">rows</th><th class="num">{{ info.metric }}</th><th class="num">95% CI</th>{% if info.target.task == "binary" %}<th class="num">positive rate</th><th class="num">TPR</th>{% endif %}</tr>
  {% for r in g.groups %}{% set e = r.metrics.get(info.metric, {}) %}<tr><td>{{ r.group }}</td><td class="num">{{ r.rows }}</td><td class="num">{{ fmt(e.get("value")) }}</td><td class="num">{{ interval(e) }}</td>{% if info.target.task == "binary" %}<td class="num">{{ fmt(r.positive_rate, 3) }}</td><td class="num">{{ fmt(r.true_positive_rate, 3) }}</td>{% endif %}</tr>{% endfor %}
  </table>
  {% else %}
  <p>Not run: pass <code>--data holdout.csv --sensitive-column COLUMN</code> to compare groups.</p>
  {% endif %}
</section>

<section id="cost">
  <h2>Inference cost</h2>
  <table>
    <tr><td>bundle size</td><td class="num">{{ fmt((cost.bundle_bytes / 1048576) if cost.bundle_bytes is not none else none, 2) }} MB</td></tr>
    <tr><td>latency, one row once warm: the compiled path where the model compiles (median of 30 calls, measured for this card)</td><td class="num">{{ fmt(cost.get("latency_ms"), 2) }} ms</td></tr>
    <tr><td>throughput, batches of 1,000 rows through the members (vectorised, measured for this card)</td><td class="num">{{ fmt(cost.get("throughput_rows_per_s"), 0) }} rows/s</td></tr>
    <tr><td>latency, one row through the members before compiling (measured at the end of fit)</td><td class="num">{{ fmt((info.inference or {}).get("latency_ms_per_row"), 2) }} ms</td></tr>
    <tr><td>latency, one row, compiled path (estimated by the search from its candidates)</td><td class="num">{{ fmt((info.inference or {}).get("estimated_ms_per_row"), 2) }} ms</td></tr>
    <tr><td>batches through the members (estimated by the search from its folds)</td><td class="num">{{ fmt(cost.fit_estimate_ms_per_1k, 1) }} ms / 1k rows</td></tr>
  </table>
</section>

<section id="reproducibility">
  <h2>Reproducibility</h2>
  <table>
    <tr><td>data fingerprint (SHA-256)</td><td><code>{{ info.provenance.data_fingerprint }}</code></td></tr>
    <tr><td>seed</td><td>{{ info.provenance.seed }}</td></tr>
    <tr><td>time limit / fit took</td><td>{{ info.provenance.time_limit }} s / {{ info.provenance.fit_seconds }} s</td></tr>
    <tr><td>presets / tuning trials</td><td>{{ info.plan.presets }} / {{ info.plan.budget_trials if info.plan.budget_trials is not none else "until the time limit" }}</td></tr>
    <tr><td>command line</td><td><code>{{ info.provenance.get("command", "") }}</code></td></tr>
    <tr><td>fit call</td><td><code>{{ info.provenance.get("call", {}) }}</code></td></tr>
    <tr><td>source</td><td><code>{{ info.provenance.source }}</code></td></tr>
    {% for k, v in info.libraries.items() %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}
  </table>
</section>
</main>
</body>
</html>
"""
