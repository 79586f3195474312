"""The card's figures: matplotlib (Agg) drawn to SVG and embedded as data URIs, so the HTML file
needs nothing else to display and prints crisply."""
from __future__ import annotations

import base64
import io
from typing import Any, NamedTuple

import numpy as np

WIDTH, HEIGHT = 4.6, 3.4  # inches: two figures side by side on a laptop screen


class Figure(NamedTuple):
    """An embedded figure and the text a screen reader says for it (what it shows)."""

    uri: str
    alt: str


def _figure(w: float = WIDTH, h: float = HEIGHT) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt.subplots(figsize=(w, h))


def _uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue().encode()).decode()


def roc(d: dict[str, Any]) -> Figure:
    fig, ax = _figure()
    for c in d["roc"]:
        ax.plot(c["fpr"], c["tpr"], label=f"class {c['label']}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(fontsize=7, loc="lower right")
    return Figure(_uri(fig), "ROC curve: true positive rate against false positive rate, one line "
                              "per class")


def pr(d: dict[str, Any]) -> Figure:
    fig, ax = _figure()
    for c in d["pr"]:
        line = ax.plot(c["recall"], c["precision"], label=f"class {c['label']}")[0]
        ax.axhline(c["base_rate"], ls=":", lw=0.8, c=line.get_color())
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="lower left")
    return Figure(_uri(fig), "Precision-recall curve, one line per class, dotted at its base rate")


def confusion(d: dict[str, Any]) -> Figure:
    m = np.asarray(d["confusion"])
    k = len(m)
    fig, ax = _figure()
    ax.imshow(m, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(k), d["labels"], rotation=45 if k > 3 else 0)
    ax.set_yticks(range(k), d["labels"])
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    return Figure(_uri(fig), f"Confusion matrix: rows of each true class by predicted class "
                              f"({k} classes)")


def reliability(d: dict[str, Any]) -> Figure:
    r = d["reliability"]
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfectly calibrated")
    ax.plot(r["predicted"], r["observed"], marker="o", label="model")
    ax.set(xlabel=f"mean predicted probability ({r['kind']})", ylabel="observed frequency",
           title="Calibration (reliability)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    return Figure(_uri(fig), "Calibration (reliability) curve: observed frequency against mean "
                              "predicted probability, the diagonal is perfect calibration")


def predicted_vs_actual(d: dict[str, Any]) -> Figure:
    s = d["scatter"]
    fig, ax = _figure()
    ax.scatter(s["actual"], s["predicted"], s=6, alpha=0.5)
    lo = min(min(s["actual"]), min(s["predicted"]))
    hi = max(max(s["actual"]), max(s["predicted"]))
    ax.plot([lo, hi], [lo, hi], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    return Figure(_uri(fig), "Predicted against actual values, the diagonal is a perfect prediction")


def residuals(d: dict[str, Any]) -> Figure:
    r = d["residuals"]
    edges = np.asarray(r["edges"])
    fig, ax = _figure()
    ax.bar(edges[:-1], r["counts"], width=np.diff(edges), align="edge", edgecolor="white")
    ax.axvline(0, c="grey", ls="--", lw=0.8)
    ax.set(xlabel="residual (actual - predicted)", ylabel="rows", title="Residuals")
    return Figure(_uri(fig), "Histogram of residuals (actual minus predicted)")


def importance(perm: list[dict[str, Any]], metric: str, top: int = 15) -> Figure:
    rows = perm[:top][::-1]
    fig, ax = _figure(WIDTH, max(1.8, 0.3 * len(rows) + 0.9))
    vals = np.array([r["importance"] for r in rows])
    lo = np.array([r["low"] for r in rows])
    hi = np.array([r["high"] for r in rows])
    err = np.nan_to_num(np.vstack([vals - lo, hi - vals]))
    ax.barh([r["column"] for r in rows], vals, xerr=err, capsize=2, color="#4c78a8")
    ax.axvline(0, c="grey", lw=0.8)
    ax.set(xlabel=f"increase in {metric} loss when shuffled", title="Permutation importance")
    return Figure(_uri(fig), f"Permutation importance of the top {len(rows)} columns with 95% "
                              "intervals")


def shap_summary(shap: dict[str, Any], top: int = 12) -> Figure:
    rows = shap["summary"][:top][::-1]
    fig, ax = _figure(WIDTH + 0.6, max(1.8, 0.32 * len(rows) + 0.9))
    if rows and rows[0]["contributions"] is not None:
        rng = np.random.default_rng(0)
        for i, r in enumerate(rows):
            x = np.asarray(r["contributions"])
            jitter = rng.uniform(-0.25, 0.25, len(x))
            if r["values"] is not None:
                v = np.array([np.nan if val is None else val for val in r["values"]], dtype=float)
                finite = np.isfinite(v)
                rank = np.full(len(v), 0.5)
                if finite.sum() > 1:
                    rank[finite] = np.argsort(np.argsort(v[finite])) / (finite.sum() - 1)
                ax.scatter(x, i + jitter, c=rank, cmap="coolwarm", s=5, vmin=0, vmax=1)
            else:
                ax.scatter(x, i + jitter, c="grey", s=5)
        ax.axvline(0, c="grey", lw=0.8)
        ax.set_yticks(range(len(rows)), [r["column"] for r in rows])
        ax.set(xlabel=f"contribution to {shap['output']} (colour: low to high value)",
               title="SHAP summary")
    else:
        ax.barh([r["column"] for r in rows], [r["mean_abs"] for r in rows], color="#4c78a8")
        ax.set(xlabel=f"mean |contribution| to {shap['output']}", title="SHAP summary")
    return Figure(_uri(fig), f"SHAP summary: contributions of the top {len(rows)} columns to the "
                              f"{shap['output']}")


def partial_dependence(pd_: dict[str, Any], classes: list[Any] | None) -> Figure:
    fig, ax = _figure()
    mean = np.asarray(pd_["mean"], dtype=float)
    x = pd_["grid"] if pd_["numeric"] else list(range(len(pd_["grid"])))
    if mean.ndim == 1:
        ax.plot(x, mean, marker="o", ms=3)
        ylabel = "mean prediction"
    else:
        cols = [1] if mean.shape[1] == 2 else range(mean.shape[1])
        for k in cols:
            ax.plot(x, mean[:, k], marker="o", ms=3,
                    label=f"P({classes[k]})" if classes else f"class {k}")
        ax.legend(fontsize=7)
        ylabel = "mean probability"
    if not pd_["numeric"]:
        ax.set_xticks(x, pd_["grid"], rotation=45, ha="right")
    ax.set(xlabel=pd_["column"], ylabel=ylabel, title=f"Partial dependence: {pd_['column']}")
    return Figure(_uri(fig), f"Partial dependence: {ylabel} as {pd_['column']} varies")
