"""The diagnosis as one self-contained HTML page: a verdict, then per section its findings table
and line charts drawn as inline SVG (log scale when a curve spans decades, NaN marked)."""
from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from mlexpert._html import number, page

if TYPE_CHECKING:  # the report imports this module to render itself
    from mlexpert.diagnosis._report import Bars, Chart, DiagnosisReport, Section

W, H = 520, 230
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 10, 30  # plot padding (px)
LOG_SPAN = 1e3  # positive values spanning more than three decades are drawn on a log scale
STYLE = {"train": ("#4c78a8", ""), "val": ("#f58518", ""), "chance": ("#777", "5,4"),
         "lr": ("#54a24b", ""), "grad": ("#b279a2", ""), "oof": ("#54a24b", ""),
         "holdout": ("#f58518", ""), "dummy": ("#777", "")}
COLOURS = {"error": "#c0392b", "warning": "#b9770e", "info": "#2471a3"}
_CSS = ("td.sev{font-weight:600}.chart{width:%dpx}td.msg{max-width:420px;text-align:left}"
        "td.tip{max-width:420px;text-align:left;color:#444}" % W)


def _scale(values: list[float], log: bool, lo_px: float, hi_px: float):
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    shown = (lo, hi)  # the tick labels: the data's range (padding it could overflow a float)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = (lo - pad if log or lo - pad >= 0 or lo < 0 else 0.0), hi + pad  # no axis below 0

    def at(v: float) -> float:
        u = math.log10(v) if log else v
        return lo_px + (u - lo) / (hi - lo) * (hi_px - lo_px)

    return at, shown[0], shown[1]


def svg(chart: Chart) -> str:
    """The chart as an inline SVG: one polyline per finite run of each line, x marks at the
    top for NaN or infinite values, dashed verticals for the chart's marks."""
    xs = [x for ln in chart.lines for x in ln.x]
    ys = [y for ln in chart.lines for y in (*ln.y, *(ln.low or ()), *(ln.high or ()))
          if y is not None]
    pos = [y for y in ys if math.isfinite(y)]
    log = bool(pos) and min(pos) > 0 and max(pos) / min(pos) > LOG_SPAN
    fx, x0, x1 = _scale(xs or [0.0, 1.0], False, LEFT, W - RIGHT)
    fy, y0, y1 = _scale(ys or [0.0, 1.0], log, H - BOTTOM, TOP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} '
           f'{H}" role="img" aria-label="{escape(chart.title)}">',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#999"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#999"/>',
           f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="10" fill="#555" text-anchor="end">'
           f"{_tick(y1)}</text>",
           f'<text x="{LEFT - 4}" y="{H - BOTTOM}" font-size="10" fill="#555" text-anchor="end">'
           f"{_tick(y0)}</text>",
           f'<text x="{LEFT}" y="{H - 12}" font-size="10" fill="#555">{_tick(x0 + (x1 - x0) / 22)}'
           f'</text><text x="{W - RIGHT}" y="{H - 12}" font-size="10" fill="#555" '
           f'text-anchor="end">{_tick(x1 - (x1 - x0) / 22)}</text>',
           f'<text x="{(LEFT + W) / 2:.0f}" y="{H - 2}" font-size="10" fill="#555" '
           f'text-anchor="middle">{escape(chart.x_label)}{"; values on a log scale" if log else ""}'
           "</text>"]
    for m in chart.marks:
        px = fx(m.x)
        out.append(f'<line class="mark" x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{H - BOTTOM}" '
                   f'stroke="#c0392b" stroke-dasharray="3,3"/><text x="{px + 3:.1f}" '
                   f'y="{TOP + 20}" font-size="10" fill="#c0392b">{escape(m.label)}</text>')
    for ln in chart.lines:
        colour, dash = STYLE.get(ln.kind, STYLE["train"])
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        runs: list[list[str]] = [[]]
        for x, y in zip(ln.x, ln.y, strict=True):
            if y is None or not math.isfinite(y) or (log and y <= 0):
                runs.append([])
                if y is not None:
                    out.append(f'<text class="bad" x="{fx(x):.1f}" y="{TOP + 9}" font-size="12" '
                               f'fill="#c0392b" text-anchor="middle">×<title>{escape(ln.label)}: '
                               f"{y} at {number(x)}</title></text>")
                continue
            runs[-1].append(f"{fx(x):.1f},{fy(y):.1f}")
        if ln.low is not None and ln.high is not None:
            for x, lo, hi in zip(ln.x, ln.low, ln.high, strict=True):
                if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
                    continue
                px, a, b = fx(x), fy(lo), fy(hi)
                out.append(f'<path class="interval" d="M{px:.1f},{a:.1f}V{b:.1f}M{px - 4:.1f},'
                           f'{a:.1f}h8M{px - 4:.1f},{b:.1f}h8" stroke="{colour}" fill="none">'
                           f"<title>{escape(ln.label)} at {number(x)}: 95 % interval "
                           f"{number(lo)} to {number(hi)}</title></path>")
        for pts in runs:
            if len(pts) == 1:
                cx, cy = pts[0].split(",")
                out.append(f'<circle class="line" cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif pts:
                out.append(f'<polyline class="line" data-series="{escape(ln.label)}" '
                           f'points="{" ".join(pts)}" fill="none" stroke="{colour}" '
                           f'stroke-width="1.6"{dashed}>'
                           f"<title>{escape(ln.label)}</title></polyline>")
    out.append("</svg>")
    return "".join(out)


def bars_svg(chart: Bars) -> str:
    """A bar chart as an inline SVG: one bar per entry from the axis floor (0, or the lowest
    value less a margin), its 95 % interval as an error bar and its value above."""
    values = [v for b in chart.bars for v in (b.value, b.low, b.high)
              if v is not None and math.isfinite(v)]
    fy, y0, y1 = _scale(values or [0.0, 1.0], False, H - BOTTOM, TOP)
    base = H - BOTTOM
    slot = (W - LEFT - RIGHT) / max(len(chart.bars), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} '
           f'{H}" role="img" aria-label="{escape(chart.title)}">',
           f'<line x1="{LEFT}" y1="{base}" x2="{W - RIGHT}" y2="{base}" stroke="#999"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#999"/>',
           f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="10" fill="#555" text-anchor="end">'
           f"{_tick(y1)}</text>",
           f'<text x="{LEFT - 4}" y="{base}" font-size="10" fill="#555" text-anchor="end">'
           f"{_tick(y0)}</text>",
           f'<text x="{(LEFT + W) / 2:.0f}" y="{H - 2}" font-size="10" fill="#555" '
           f'text-anchor="middle">{escape(chart.y_label)}</text>']
    for i, b in enumerate(chart.bars):
        cx = LEFT + slot * (i + 0.5)
        colour = STYLE.get(b.kind, STYLE["train"])[0]
        out.append(f'<text x="{cx:.1f}" y="{H - 14}" font-size="10" fill="#333" '
                   f'text-anchor="middle">{escape(b.label)}</text>')
        if b.value is None or not math.isfinite(b.value):
            out.append(f'<text x="{cx:.1f}" y="{base - 4}" font-size="10" fill="#777" '
                       'text-anchor="middle">not measured</text>')
            continue
        top = fy(b.value)
        width = min(60.0, slot * 0.6)
        out.append(f'<rect class="bar" data-bar="{escape(b.label)}" x="{cx - width / 2:.1f}" '
                   f'y="{min(top, base):.1f}" width="{width:.1f}" height="{abs(base - top):.1f}" '
                   f'fill="{colour}" opacity="0.85"><title>{escape(b.label)}: {number(b.value)}'
                   "</title></rect>")
        if b.low is not None and b.high is not None and math.isfinite(b.low) and \
                math.isfinite(b.high):
            a, c = fy(b.low), fy(b.high)
            out.append(f'<path class="interval" d="M{cx:.1f},{a:.1f}V{c:.1f}M{cx - 6:.1f},{a:.1f}'
                       f'h12M{cx - 6:.1f},{c:.1f}h12" stroke="#222" fill="none"><title>95 % '
                       f"interval {number(b.low)} to {number(b.high)}</title></path>")
        out.append(f'<text x="{cx + width / 2 + 2:.1f}" y="{top - 3:.1f}" font-size="10" '
                   f'fill="#333">{number(b.value, 3)}</text>')
    out.append("</svg>")
    return "".join(out)


def _tick(v: float) -> str:
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.3g}"
    return f"{v:.1e}"


def _legend(chart: Chart | Bars) -> str:
    if not hasattr(chart, "lines"):
        return ""
    return "".join(f'<span style="background:{STYLE.get(ln.kind, STYLE["train"])[0]}"></span>'
                   f"{escape(ln.label)}" for ln in chart.lines)


def _section(section: Section) -> list[str]:
    parts = [f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>']
    s = section.summary
    if s.get("description"):
        parts.append(f'<p class="muted">{escape(str(s["description"]))}</p>')
    rows = "".join(
        f'<tr data-check="{escape(f.check)}"><td class="sev l" style="color:'
        f'{COLOURS[f.severity]}">{f.severity}</td><td class=l>{escape(f.check)}</td>'
        f'<td class="msg">{escape(f.message)}</td><td class="tip">{escape(f.suggestion)}</td></tr>'
        for f in section.findings)
    parts.append("<table><tr><th class=l>severity</th><th class=l>check</th><th class=l>finding"
                 f"</th><th class=l>what to try</th></tr>{rows}</table>")
    parts.append('<div class="grid">')
    for chart in section.charts:
        parts.append(f'<figure class="chart" data-chart="{escape(chart.key)}"><figcaption><b>'
                     f'{escape(chart.title)}</b> <span class="legend muted">{_legend(chart)}'
                     f"</span></figcaption>{svg(chart) if hasattr(chart, 'lines') else bars_svg(chart)}"
                     "</figure>")
    parts.append("</div>")
    if section.skipped:
        items = "".join(f"<li>{escape(s)}</li>" for s in section.skipped)
        parts.append(f'<p class="muted">Not checked:</p><ul class="muted">{items}</ul>')
    parts.append("</section>")
    return parts


def render(report: DiagnosisReport) -> str:
    c = report.counts
    bad = c["error"] or c["warning"]
    verdict = (f'<div class="verdict bad">{c["error"]} error(s), {c["warning"]} warning(s): '
               f'{escape(", ".join(f.check for f in report.findings if f.severity != "info"))}'
               "</div>" if bad else '<div class="verdict good">No problem found</div>')
    title = "Training diagnosis" if all(s.key == "training" for s in report.sections) else \
        "Model diagnosis"
    body = [f"<h1>{title}</h1>", verdict,
            f'<p class="muted">Source: {escape(report.source)}</p>']
    for section in report.sections:
        body += _section(section)
    return page("mlexpert diagnosis", body, _CSS)
