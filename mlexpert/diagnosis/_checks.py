"""The training-curve checks: each reads the smoothed curves (``Training``) and the chance level
and returns Findings naming the epochs, with the numbers and what to try. Listed in ``CHECKS``."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlexpert.diagnosis._chance import Chance
from mlexpert.diagnosis._curves import (
    MIN_EPOCHS,
    Curve,
    curve,
    falling_share,
    slope,
    tail,
)
from mlexpert.diagnosis._history import History
from mlexpert.findings import Finding

DIVERGE_RISE = 0.5        # a working optimizer never leaves the training loss 50% above its start
GRAD_EXPLODE = 100.0      # a gradient norm 100x its first value has exploded, not drifted
OSC_JUMP = 0.1            # a one-epoch rise over 10% of the loss level is a swing, not noise...
OSC_SHARE = 0.2           # ...and swings in a fifth of the epochs are a pattern, not bad luck
OSC_FALLS = 0.1           # with big falls in a tenth: a swing comes back (a blow-up only rises)
OSC_FLOOR = 0.1           # levels below 10% of the first one count as that (tiny losses jitter)
STUCK_BAND = 0.1          # within 10% of the chance loss the model has learned nothing
STUCK_ACC_MARGIN = 0.02   # accuracy never 2 points above the majority share: learned nothing
SLOW_TAIL = 1 / 3         # "at the end" is the last third of the run
SLOW_STEADY = 0.8         # falling in 80% of those epochs is a steady decline, not noise
SLOW_GAIN = 0.05          # another half-run at the final pace would still lower the loss 5%
SLOW_LINEAR = 0.2         # the last third holding 20% of the whole fall: the curve never bent
OVERFIT_RISE = 0.05       # validation loss 5% above its best...
OVERFIT_NOISE = 3.0       # ...and 3x its epoch-to-epoch noise, so a wobble is not a turn
OVERFIT_TRAIN_FALL = 0.05  # while the training loss kept falling by 5% or more
METRIC_DROP = 0.02        # a bounded metric (accuracy, AUC) 2 points below its best has turned
UNDERFIT_CHANCE = 0.6     # ending above 60% of the chance loss: most of what is learnable is not
UNDERFIT_DROP = 0.2       # no chance level known: a loss that fell less than 20% learned little
UNDERFIT_METRIC = 0.05    # accuracy within 5 points of the majority share at the end
GAP_START = 0.25          # validation 25% worse than training before any overfitting could be
GAP_EPOCHS = 2            # "from the start": the first two epochs both validation and training saw


@dataclass(frozen=True)
class Training:
    """The history's curves, smoothed once, that every check reads."""

    history: History
    curves: dict[str, Curve]
    chance: Chance

    @classmethod
    def of(cls, history: History, chance: Chance) -> Training:
        return cls(history, {role: curve(s.name, s.x, s.y)
                             for role, s in history.series.items()}, chance)

    def loss(self) -> Curve | None:
        """The training loss, else the validation loss: what the optimizer minimised."""
        return self.curves.get("train_loss") or self.curves.get("val_loss")

    def value_at(self, role: str, epoch: float) -> float | None:
        s = self.history.get(role)
        if s is None or not len(s.x):
            return None
        return float(s.y[int(np.argmin(np.abs(s.x - epoch)))])

    def word(self, role: str) -> str:
        return {"train_loss": "training loss", "val_loss": "validation loss",
                "train_metric": "training ", "val_metric": "validation "}[role] + (
            self.history.series[role].metric if role.endswith("metric") else "")

    @property
    def unit(self) -> str:
        return "epoch" if self.history.index == "epoch" else self.history.index


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _grad(t: Training, epoch: float) -> tuple[str, dict]:
    """A sentence and evidence about the gradient norm at ``epoch`` against its start."""
    g = t.history.get("grad_norm")
    if g is None or not len(g.x):
        return "", {}
    start, now = float(g.y[0]), t.value_at("grad_norm", epoch)
    ev = {"grad_norm_start": start, "grad_norm_at": now}
    if now is not None and (not math.isfinite(now) or (start > 0 and now / start >= GRAD_EXPLODE)):
        return (f" The gradient norm went from {_g(start)} to {_g(now)}: exploding gradients.",
                {**ev, "gradients_exploded": True})
    return f" Gradient norm {_g(now)} (it started at {_g(start)}).", ev


def _lr(t: Training, epoch: float) -> dict:
    value = t.value_at("lr", epoch)
    return {} if value is None else {"learning_rate": value}


def diverging(t: Training) -> list[Finding]:
    out = []
    for role in ("train_loss", "val_loss"):
        c = t.curves.get(role)
        if c is None or c.first_bad is None:
            continue
        last = (c.x[-1].item(), float(c.raw[-1])) if c.n else (None, None)
        grad, gev = _grad(t, c.first_bad)
        what = "NaN" if math.isnan(c.bad_value) else "infinite"
        out.append(Finding(
            "diverging", "error",
            f"The {t.word(role)} became {what} at {t.unit} {c.first_bad}"
            + (f" (last finite value {_g(last[1])} at {t.unit} {last[0]})." if c.n else ".")
            + grad, (c.name,),
            {"series": c.name, "first_non_finite": c.first_bad, "value": what,
             "last_finite": last[1], "last_finite_at": last[0], **gev, **_lr(t, c.first_bad)},
            "Training blew up: the learning rate is too high for this model, the inputs are not "
            "normalised (standardise features), or gradients exploded. Lower the learning rate "
            "10x, clip gradients (e.g. to norm 1), and check the inputs for huge or missing "
            "values."))
        break  # the training loss going first says it all
    c = t.loss()
    if out or c is None or c.n < MIN_EPOCHS:
        return out
    start = float(c.smooth[0])
    p = int(np.argmax(c.smooth))
    peak = float(c.smooth[p])
    if p == 0 or peak <= start + DIVERGE_RISE * abs(start):
        return out
    end = float(c.smooth[-1])
    back = f", then {_g(end)} at {t.unit} {c.x[-1]}: unstable" if end < start else ""
    grad, gev = _grad(t, c.x[p])
    return [Finding(
        "diverging", "error",
        f"The {t.word('train_loss' if 'train_loss' in t.curves else 'val_loss')} grew from "
        f"{_g(start)} at {t.unit} {c.x[0]} to {_g(peak)} at {t.unit} {c.x[p]} (smoothed)"
        f"{back}.{grad}", (c.name,),
        {"series": c.name, "start": start, "peak": peak, "peak_at": c.x[p].item(), "end": end,
         "rise": peak / start - 1 if start else None, **gev, **_lr(t, c.x[p])},
        "A loss the optimizer is minimising should not grow: the learning rate is too high (each "
        "step overshoots), the inputs are not normalised, or the gradients explode. Lower the "
        "learning rate 3-10x or add warm-up, standardise the features, and clip gradients.")]


def oscillating(t: Training) -> list[Finding]:
    hits = []
    for role in ("train_loss", "val_loss"):
        c = t.curves.get(role)
        if c is None or c.n < MIN_EPOCHS:
            continue
        floor = OSC_FLOOR * abs(float(c.smooth[0]))
        level = np.maximum(np.abs(c.smooth[:-1]), floor)
        moves = np.diff(c.raw) / np.maximum(level, 1e-12)
        up = np.nonzero(moves > OSC_JUMP)[0] + 1
        share = len(up) / (c.n - 1)
        if share >= OSC_SHARE and np.mean(moves < -OSC_JUMP) >= OSC_FALLS:
            swing = float(np.median(np.abs(c.raw - c.smooth) / np.maximum(np.abs(c.smooth), floor)))
            hits.append((role, c, up, share, swing))
    if not hits:
        return []
    role, c, up, share, swing = hits[0]
    epochs = ", ".join(str(c.x[i]) for i in up[:6]) + (", ..." if len(up) > 6 else "")
    also = f" (the {t.word(hits[1][0])} too)" if len(hits) > 1 else ""
    grad, gev = _grad(t, c.x[up[0]])
    return [Finding(
        "oscillating", "warning",
        f"The {t.word(role)} swings up by more than {OSC_JUMP:.0%} of its level in "
        f"{len(up)} of {c.n - 1} {t.unit}s ({share:.0%}; {t.unit}s {epochs}){also}.{grad}",
        tuple(h[1].name for h in hits),
        {"series": c.name, "rises": len(up), "steps": c.n - 1, "share": share,
         "median_swing": swing, "rise_epochs": [c.x[i].item() for i in up[:20]], **gev,
         **_lr(t, c.x[up[0]])},
        "Large swings that do not settle mean each update overshoots the minimum: the learning "
        "rate is too high or the batches too small (noisy gradients). Lower the learning rate "
        "(or decay it), enlarge the batch, or clip gradients.")]


def stuck_at_chance(t: Training) -> list[Finding]:
    ch = t.chance
    role = "val_loss" if "val_loss" in t.curves else "train_loss"
    c = t.curves.get(role)
    if ch.loss is not None and c is not None and c.n >= 2:  # the loss decides when it can
        best, mid = float(c.smooth.min()), float(np.median(c.smooth))
        if best >= ch.loss * (1 - STUCK_BAND) and mid <= ch.loss * (1 + STUCK_BAND):
            k = int(np.argmin(c.smooth))
            return [_stuck(t, c, role, ch.loss, best, c.x[k], "log loss of the class priors")]
        return []
    role = "val_metric" if "val_metric" in t.curves else "train_metric"
    c, s = t.curves.get(role), t.history.get(role)
    level = ch.metric(s.metric) if s is not None and s.higher_is_better else None
    if level is None or c is None or c.n < 2:
        return []
    best, mid = float(c.smooth.max()), float(np.median(c.smooth))
    if best <= level + STUCK_ACC_MARGIN and mid >= level - 2.5 * STUCK_ACC_MARGIN:
        k = int(np.argmax(c.smooth))
        return [_stuck(t, c, role, level, best, c.x[k], f"{s.metric} of a constant answer")]
    return []


def _stuck(t: Training, c: Curve, role: str, level: float, best: float, at: float,
           what: str) -> Finding:
    grad, gev = _grad(t, c.x[-1])
    return Finding(
        "stuck_at_chance", "error",
        f"The {t.word(role)} stays at the chance level ({_g(level)}, the {what}; "
        f"{t.chance.basis}) from the first {t.unit}: its best is {_g(best)} at {t.unit} {at} "
        f"of {c.n}.{grad}", (c.name,),
        {"series": c.name, "chance": level, "best": best, "best_at": float(at),
         "median": float(np.median(c.smooth)), "basis": t.chance.basis, **gev},
        "The model learned nothing it can use: check that labels line up with their rows (a "
        "shuffle or join that mixed them up), that the features carry signal (an "
        "`mlexpert fit` baseline on the same table tells), and for dead units or vanishing "
        "gradients (a near-zero gradient norm: use ReLU variants, sane initialisation, "
        "normalised inputs, a larger learning rate).")


def _still_falling(c: Curve) -> tuple[float, float, float, float] | None:
    """(slope, projected gain, the tail's share of the whole fall, where the tail starts) when
    the smoothed curve still falls steadily at the end, beyond its noise, and by enough to
    matter (another half-run would gain SLOW_GAIN, or the curve never bent); else None."""
    if c.n < 2 * MIN_EPOCHS:
        return None
    part = tail(c, SLOW_TAIL)
    sl = slope(c, part)
    fall = float(c.smooth[part][0] - c.smooth[-1])
    if not (sl < 0 and falling_share(c.smooth[part]) >= SLOW_STEADY and fall > 2 * c.noise):
        return None
    level = max(abs(float(c.smooth[-1])), OSC_FLOOR * float(np.median(np.abs(c.smooth))), 1e-12)
    gain = -sl * float(c.x[-1] - c.x[0]) / 2 / level
    fall_total = float(c.smooth.max() - c.smooth[-1])
    share = fall / fall_total if fall_total > 0 else 1.0
    if share < SLOW_LINEAR and gain < SLOW_GAIN:
        return None
    return sl, gain, share, c.x[part][0].item()


def slow_convergence(t: Training) -> list[Finding]:
    stats = []
    for role in [r for r in ("train_loss", "val_loss") if r in t.curves]:
        c = t.curves[role]
        falling = _still_falling(c)
        if falling is None:
            return []  # a flat validation loss: more epochs would not help, whatever training does
        stats.append((role, c, *falling))
    if not stats:
        return []
    role, c, sl, gain, tail_share, since = stats[0]
    linear = tail_share >= SLOW_LINEAR
    lr = t.history.get("lr")
    decayed = lr is not None and len(lr.y) > 1 and lr.y[-1] < 0.5 * lr.y[0]
    why = ("The curve never bent: it falls at a nearly constant, small pace, the signature of a "
           "learning rate that is too low (or unscaled inputs, which force a small one). Raise "
           "it 3-10x, standardise the features, or use an adaptive optimizer (Adam)."
           if linear else "It has not converged yet: train for more epochs.")
    if decayed:
        why += (f" The learning rate decayed from {_g(float(lr.y[0]))} to {_g(float(lr.y[-1]))}:"
                " a schedule that decays this early stalls training.")
    return [Finding(
        "slow_convergence", "warning",
        f"The {' and '.join(t.word(r) for r, *_ in stats)} still fall steadily at the last "
        f"{t.unit} ({c.x[-1]}): {_g(sl)} per {t.unit} since {t.unit} {since}"
        f"{f', {tail_share:.0%} of the whole decrease in the last third' if linear else ''}; another "
        f"{int((c.x[-1] - c.x[0]) / 2)} {t.unit}s at this pace would lower the {t.word(role)} "
        f"by {gain:.0%}.", tuple(s[1].name for s in stats),
        {"series": c.name, "slope": sl, "projected_gain": gain, "tail_share_of_fall": tail_share,
         "since": since, "end": float(c.smooth[-1]), **_lr(t, c.x[-1])},
        why + " Stopping now leaves accuracy on the table.")]


def overfitting(t: Training) -> list[Finding]:
    c = t.curves.get("val_loss")
    tr = t.curves.get("train_loss")
    if c is not None and c.n >= MIN_EPOCHS:
        k = int(np.argmin(c.smooth))
        best, end = float(c.smooth[k]), float(c.smooth[-1])
        rise = end - best
        if (k <= c.n - 3 and rise > OVERFIT_RISE * abs(best) and rise > OVERFIT_NOISE * c.noise
                and (tr is None or tr.at(c.x[-1]) < tr.at(c.x[k]) * (1 - OVERFIT_TRAIN_FALL))):
            return [_overfit(t, c, tr, k, best, end, "loss")]
        return []
    c, tr = t.curves.get("val_metric"), t.curves.get("train_metric")
    s = t.history.get("val_metric")
    if c is None or s is None or c.n < MIN_EPOCHS or s.metric not in ("accuracy", "auc", "f1", "r2"):
        return []
    k = int(np.argmax(c.smooth))
    best, end = float(c.smooth[k]), float(c.smooth[-1])
    if k <= c.n - 3 and best - end > METRIC_DROP and (tr is None or tr.at(c.x[-1]) >= tr.at(c.x[k])):
        return [_overfit(t, c, tr, k, best, end, s.metric)]
    return []


def _overfit(t: Training, c: Curve, tr: Curve | None, k: int, best: float, end: float,
             what: str) -> Finding:
    at = c.x[k].item()
    train = (f" while the training {what} kept improving ({_g(tr.at(at))} -> "
             f"{_g(tr.at(c.x[-1]))})" if tr is not None else "")
    return Finding(
        "overfitting", "warning",
        f"Overfitting from {t.unit} {at}: the validation {what} is best there ({_g(best)}) and "
        f"ends at {_g(end)} ({t.unit} {c.x[-1]}){train}.", (c.name,) + ((tr.name,) if tr else ()),
        {"series": c.name, "best_epoch": at, "best": best, "end": end,
         "train_at_best": tr.at(at) if tr else None, "train_end": tr.at(c.x[-1]) if tr else None},
        f"The model memorises the training rows past {t.unit} {at}: stop there (early stopping "
        f"with patience, restoring the best weights), add regularisation (weight decay / L2, "
        "dropout), shrink the model, or get more (or augmented) training data.")


def underfitting(t: Training) -> list[Finding]:
    c = t.loss()
    settle = t.curves.get("val_loss") or c  # what generalises decides whether learning stopped
    if c is None or c.n < MIN_EPOCHS or _still_falling(settle) is not None:
        return []
    role = "train_loss" if "train_loss" in t.curves else "val_loss"
    end, start = float(c.smooth[-1]), float(c.smooth[0])
    v = t.curves.get("val_loss")
    ch = t.chance.loss
    if ch is not None:
        ends = [end] + ([float(v.smooth[-1])] if v is not None and v.n else [])
        if min(ends) < UNDERFIT_CHANCE * ch:
            return []
        how = (f"still {min(ends) / ch:.0%} of the chance loss ({_g(ch)}, {t.chance.basis})")
        ev = {"chance": ch, "share_of_chance": min(ends) / ch}
    else:
        m = t.history.get("val_metric") or t.history.get("train_metric")
        level = t.chance.metric(m.metric) if m is not None else None
        if level is not None and m is not None and m.higher_is_better:
            mc = t.curves[m.role]
            if float(mc.smooth[-1]) > level + UNDERFIT_METRIC:
                return []
            how = f"the {m.metric} ends at {_g(float(mc.smooth[-1]))}, chance being {_g(level)}"
            ev = {"chance_metric": level, "metric_end": float(mc.smooth[-1])}
        elif start > 0 and (start - end) / start < UNDERFIT_DROP:
            how = f"it fell only {(start - end) / start:.0%} from its start ({_g(start)})"
            ev = {"start": start, "fall": (start - end) / start}
        else:
            return []
    other = "" if settle is c else f" (training {_g(end)})"
    return [Finding(
        "underfitting", "warning",
        f"Underfitting: the {t.word('val_loss' if settle is not c else role)} flattened at "
        f"{_g(float(settle.smooth[-1]))} by {t.unit} {settle.x[-1]}{other}, {how}.",
        (c.name,) + ((v.name,) if v is not None and role != "val_loss" else ()),
        {"series": settle.name, "end": float(settle.smooth[-1]), "train_end": end, **ev},
        "Both losses are high and no longer falling: the model cannot fit even the training "
        "rows. Use a bigger model (more units or layers), less regularisation, scaled inputs "
        "(unscaled features stall gradient descent), better features, or a tree model; if the "
        "labels are this noisy by nature, this may already be the best reachable.")]


def gap_from_start(t: Training) -> list[Finding]:
    tr, v = t.curves.get("train_loss"), t.curves.get("val_loss")
    if tr is None or v is None or not tr.n or not v.n:
        return []
    common = [x for x in v.x if x in set(tr.x.tolist())][:GAP_EPOCHS]
    if not common:
        return []
    pairs = [(t.value_at("train_loss", x), t.value_at("val_loss", x)) for x in common]
    gaps = [(b - a) / abs(a) for a, b in pairs if a]
    if not gaps or min(gaps) < GAP_START:  # in every one of the first epochs, not on average
        return []
    gap = min(gaps)
    a, b = pairs[0]
    return [Finding(
        "gap_from_start", "warning",
        f"The validation loss is {f'{1 + gap:.1f} times' if gap >= 1 else f'{gap:.0%} above'} "
        f"the training loss from {t.unit} {common[0]} "
        f"({_g(b)} vs {_g(a)}), before the model could have memorised anything.",
        (tr.name, v.name),
        {"gap": gap, "train_first": a, "val_first": b, "epochs": [float(x) for x in common]},
        "A gap present from the first epoch is not overfitting: the validation rows differ from "
        "the training rows. Check that both go through the same preprocessing (a scaler fitted "
        "on training data must transform validation data too), that the split is random or "
        "stratified, and that the two come from the same distribution (mlexpert audit --test).")]


# what a finding makes meaningless: after a blow-up, "flat", "gap" or "slow" describe the wreck
SUPPRESSES = {"diverging": ("underfitting", "gap_from_start", "slow_convergence",
                            "stuck_at_chance"),
              "oscillating": ("gap_from_start",),  # the first epochs of a wild run prove nothing
              "overfitting": ("slow_convergence", "underfitting"),
              "stuck_at_chance": ("underfitting",)}

CHECKS: tuple[Callable[[Training], list[Finding]], ...] = (
    diverging, stuck_at_chance, oscillating, overfitting, slow_convergence, underfitting,
    gap_from_start)


def converged(t: Training) -> Finding:
    """The healthy verdict, for when no check fired: the numbers a reader wants anyway."""
    c = t.curves.get("val_loss") or t.loss()
    k = int(np.argmin(c.smooth))
    return Finding(
        "converged", "info",
        f"Training looks healthy: the {t.word('val_loss' if c is t.curves.get('val_loss') else 'train_loss')} "
        f"settled at {_g(float(c.smooth[-1]))} by {t.unit} {c.x[-1]} (best {_g(float(c.smooth[k]))} "
        f"at {t.unit} {c.x[k]}); no divergence, oscillation, plateau at chance, slow decrease or "
        "overfitting.", (c.name,),
        {"series": c.name, "best": float(c.smooth[k]), "best_at": c.x[k].item(),
         "end": float(c.smooth[-1]), "epochs": c.n},
        "Nothing to fix in the curves; to do better, compare models or features (mlexpert fit).")
