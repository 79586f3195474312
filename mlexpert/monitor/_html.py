"""The drift report as one self-contained HTML page: summary, per-column table, and a
reference-vs-current plot per column drawn as inline SVG (no scripts, no network, no fonts)."""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from mlexpert._html import CSS as _CSS
from mlexpert._html import number as _f

if TYPE_CHECKING:  # the result imports this module to render itself
    from mlexpert.monitor._result import DriftResult

W, H, PAD = 360, 150, 28  # plot size and left/bottom padding (px)
REF, CUR = "#4c78a8", "#f58518"

def _svg(plot: dict[str, Any], title: str) -> str:
    ref, cur = plot["reference"], plot["current"]
    top = max([*ref, *cur, 1e-9])
    n = len(ref)
    inner_w, inner_h = W - PAD - 6, H - PAD - 6
    slot = inner_w / max(n, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 6}" y2="{H - PAD}" stroke="#999"/>',
             f'<line x1="{PAD}" y1="6" x2="{PAD}" y2="{H - PAD}" stroke="#999"/>',
             f'<text x="2" y="14" font-size="9" fill="#666">{top:.0%}</text>']
    for i in range(n):
        for k, (vals, colour) in enumerate(((ref, REF), (cur, CUR))):
            h = inner_h * vals[i] / top
            w = slot / 2 * 0.9
            x = PAD + i * slot + k * slot / 2
            parts.append(f'<rect class="bar {"ref" if k == 0 else "cur"}" x="{x:.2f}" '
                         f'y="{H - PAD - h:.2f}" width="{max(w, 0.5):.2f}" height="{h:.2f}" '
                         f'fill="{colour}" fill-opacity="0.85"><title>'
                         f'{"reference" if k == 0 else "current"}: {vals[i]:.1%}</title></rect>')
    if plot["kind"] == "hist":
        e = plot["edges"]
        parts.append(f'<text x="{PAD}" y="{H - 8}" font-size="9" fill="#666">{_f(e[0], 3)}</text>')
        parts.append(f'<text x="{W - 6}" y="{H - 8}" font-size="9" fill="#666" '
                     f'text-anchor="end">{_f(e[-1], 3)}</text>')
    else:
        for i, label in enumerate(plot["labels"]):
            x = PAD + (i + 0.5) * slot
            parts.append(f'<text x="{x:.1f}" y="{H - 16}" font-size="8" fill="#444" '
                         f'text-anchor="middle">{escape(label[:8])}<title>{escape(label)}'
                         '</title></text>')
    parts.append("</svg>")
    return "".join(parts)


def _tests_table(rows: list[dict[str, Any]]) -> str:
    head = ("<tr><th>column</th><th class=l>test</th><th>statistic</th><th>p-value</th>"
            "<th>BH p</th><th>effect size</th><th>threshold</th><th class=l>verdict</th></tr>")
    body = []
    for r in rows:
        cls = ' class="drift"' if r["drifted"] else ""
        body.append(f"<tr{cls}><td>{escape(r['column'])}</td><td class=l>{escape(r['test'])}</td>"
                    f"<td>{_f(r['statistic'])}</td><td>{_f(r['p_value'])}</td>"
                    f"<td>{_f(r.get('p_adjusted'))}</td><td>{_f(r['effect_size'])}</td>"
                    f"<td>{_f(r.get('threshold'), 3)}</td>"
                    f"<td class=l>{'drift' if r['drifted'] else 'ok'}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _performance(perf: dict[str, Any]) -> str:
    val, cur = perf["validation"], perf["current"]
    rows = [("validation (cross-validated)", val), ("current", cur)]
    rows += [(f"rows {w['start']}-{w['end']}", w) for w in perf.get("windows", [])]
    body = "".join(f"<tr{' class=drift' if e.get('degraded') else ''}><td>{escape(name)}</td>"
                   f"<td>{_f(e.get('rows'))}</td><td>{_f(e.get('value'))}</td>"
                   f"<td>{_f(e.get('low'))} - {_f(e.get('high'))}</td>"
                   f"<td class=l>{'degraded' if e.get('degraded') else ''}</td></tr>"
                   for name, e in rows)
    verdict = "degraded" if perf["degraded"] else "no significant degradation"
    return (f"<h2>Performance ({escape(perf['metric'])}): {verdict}</h2><table><tr><th>window"
            f"</th><th>rows</th><th>{escape(perf['metric'])}</th><th>95% interval</th><th></th>"
            f"</tr>{body}</table>")


def _estimate(est: dict[str, Any]) -> str:
    """The performance estimated without labels, said to be an estimate with its assumption;
    beside the realised values when labels came."""
    if not est.get("available") or not est.get("metrics"):
        return (f"<h2>Estimated performance (without labels)</h2><p class=muted>"
                f"{escape(est.get('note', 'not available'))}</p>")
    realised = (est.get("realised") or {}).get("metrics", {})
    level = f"{est['level']:.0%}"
    head = (f"<tr><th>metric</th><th>estimate</th><th>{level} interval</th><th>validation "
            "(cross-validated)</th>" + ("<th>realised (labels)</th>" if realised else "") +
            "<th class=l></th></tr>")
    body = []
    for name, e in est["metrics"].items():
        val = e.get("validation") or {}
        r = realised.get(name)
        cells = (f"<td>{escape(name)}</td><td>{_f(e['value'])}</td><td>{_f(e['low'])} - "
                 f"{_f(e['high'])}</td><td>{_f(val.get('value'))} [{_f(val.get('low'))} - "
                 f"{_f(val.get('high'))}]</td>")
        if realised:
            inside = "" if r is None or r["within"] is None else \
                (" (inside)" if r["within"] else " (outside)")
            cells += f"<td>{_f(r and r['realised'])}{inside}</td>"
        verdict = "estimated lower than validation" if e.get("degraded") else ""
        body.append(f"<tr{' class=drift' if e.get('degraded') else ''}>{cells}"
                    f"<td class=l>{verdict}</td></tr>")
    windows = ""
    if est.get("windows"):
        names = list(est["metrics"])
        rows = "".join(
            f"<tr{' class=drift' if w['degraded'] else ''}><td>rows {w['start']}-{w['end']}</td>"
            + "".join(f"<td>{_f(w['metrics'][n]['value'])} [{_f(w['metrics'][n]['low'])} - "
                      f"{_f(w['metrics'][n]['high'])}]</td>" for n in names) + "</tr>"
            for w in est["windows"])
        windows = (f"<table><tr><th>window</th>{''.join(f'<th>{escape(n)}</th>' for n in names)}"
                   f"</tr>{rows}</table>")
    labels = (f"<p>Labels present: the realised performance above replaces this estimate; it "
              f"is kept as a check ({est['realised']['rows']} labelled rows).</p>"
              if realised else "")
    assumption = est["assumption"][:1].upper() + est["assumption"][1:]
    return (f"<h2>Estimated performance (without labels): an estimate</h2><p class=muted>"
            f"{escape(est['method'])}, on {est['rows']} rows. {escape(assumption)}</p>"
            f"{labels}<table>{head}{''.join(body)}</table>{windows}")


def render(result: DriftResult) -> str:
    d = result.to_dict()
    drifted = result.drifted_columns
    verdict = (f'<div class="verdict bad">Drift detected: {len(drifted)} of '
               f'{len({r["column"] for r in d["columns"]})} columns drifted '
               f'({d["drift_share"]:.0%})</div>' if d["drift_detected"] else
               f'<div class="verdict good">No drift detected ({d["drift_share"]:.0%} of columns '
               f'drifted)</div>')
    rows = d["rows"]
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>mlexpert drift "
             f"report</title><style>{_CSS}</style></head><body><h1>Drift report</h1>", verdict,
             f'<p class="muted">Reference: {escape(result.reference)} ({rows["reference"]} rows, '
             f'{rows["reference_sample"]} sampled); current: {rows["current"]} rows. A test '
             f"flags drift when its Benjamini-Hochberg adjusted p-value is below "
             f'{result.thresholds.alpha} and its effect size reaches the threshold.</p>']
    dc = d["domain_classifier"]
    if dc:
        parts.append(f"<p>Domain classifier (reference vs current): AUC {_f(dc['auc'], 3)}, 95% "
                     f"CI {_f(dc['low'], 3)} - {_f(dc['high'], 3)} "
                     f"(drift threshold: interval above {dc['threshold']}; {'drift' if dc['drifted'] else 'not above'}).</p>")
    pd_ = d["prediction_drift"]
    if pd_:
        parts.append(f"<h2>Prediction drift ({escape(pd_['output'])}): "
                     f"{'drift' if pd_['drifted'] else 'no drift'}</h2><p class=muted>against "
                     f"{escape(pd_['reference'])}</p>{_tests_table(pd_['tests'])}")
    if d["performance"]:
        parts.append(_performance(d["performance"]))
    if d["performance_estimate"]:
        parts.append(_estimate(d["performance_estimate"]))
    parts.append('<h2>Columns</h2><p class="legend muted">'
                 f'<span style="background:{REF}"></span>reference'
                 f'<span style="background:{CUR}"></span>current</p><div class="grid">')
    names = drifted + [n for n in dict.fromkeys(r["column"] for r in d["columns"])
                       if n not in drifted]
    plots = dict(result.plots)
    if "\0prediction" in plots:
        names = ["\0prediction", *names]
    for name in names:
        label = "prediction" if name == "\0prediction" else name
        plot = plots.get(name)
        mark = " (drift)" if name in drifted else ""
        inner = _svg(plot, label) if plot else '<p class="muted">no plot for this role</p>'
        extra = f' <span class="muted">{escape(plot["label"])}</span>' if plot and \
            plot.get("label") else ""
        parts.append(f'<figure data-column="{escape(label)}"><figcaption><b>{escape(label)}'
                     f"</b>{mark}{extra}</figcaption>{inner}</figure>")
    parts.append("</div><h2>All tests</h2>")
    parts.append(_tests_table(d["columns"]))
    parts.append("</body></html>")
    return "\n".join(parts)
