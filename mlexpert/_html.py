"""What every self-contained HTML report shares (the drift report, the diagnosis): one
stylesheet, number formatting and the page shell. No scripts, no network, no fonts."""
from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.verdict{padding:10px 14px;border-radius:6px;display:inline-block;font-weight:600}
.bad{background:#fde2e1;color:#8a1c17}.good{background:#e3f4e1;color:#1f5b1a}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:right}td:first-child,th:first-child,td.l,th.l{text-align:left}
tr.drift td{background:#fff3f2}.grid{display:flex;flex-wrap:wrap;gap:18px}
figure{margin:0;border:1px solid #e5e5e5;border-radius:6px;padding:8px}
figcaption{font-size:13px;margin-bottom:4px}.legend span{display:inline-block;width:10px;
height:10px;margin:0 4px 0 10px}.muted{color:#666;font-size:13px}
"""


def number(x: Any, digits: int = 4) -> str:
    """A number for a table cell: ``digits`` decimals (significant digits when tiny), "-" for
    None, NaN or infinity; anything else as escaped text."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"
    return escape(str(x))


def page(title: str, body: Iterable[str], css: str = "") -> str:
    """A whole HTML document: the shared stylesheet (plus ``css``) inline, then ``body``."""
    return "\n".join([f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
                      f"{escape(title)}</title><style>{CSS}{css}</style></head><body>", *body,
                      "</body></html>"])
