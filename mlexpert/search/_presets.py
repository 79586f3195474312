"""What the search tries and the constants of its rules: the presets (portfolio, tuning,
ensembling, seeds) and the thresholds of selection, refit and seeding."""
from __future__ import annotations

from dataclasses import dataclass

# The default models every preset evaluates first (cheap: ~100 boosting rounds each): the shipped
# model may not be significantly worse out of fold than the best of them (``_select.floor``).
# LightGBM's and scikit-learn's HistGradientBoosting's, each with native categories: on the dev
# bench HGB's defaults beat the search on flights_origin (log loss 0.0022 vs 0.0037)
FLOOR = ("lightgbm_default", "hgb_default")
PORTFOLIO = (*FLOOR, "lightgbm", "linear", "catboost", "xgboost", "extra_trees", "lightgbm_large",
             "random_forest", "lightgbm_xt")
# configurations that read free text as sentence embeddings (``models.EMBEDDINGS``) instead of
# TF-IDF: the name and the configuration they copy. A preset with ``text_embeddings`` tries them
# after ``EMBEDDINGS_AFTER``, only on a table with a text column and with the ``deep`` extra
# installed (else a note says so), once the table's texts are encoded within the time a
# candidate may take; the ensemble decides whether they help
EMBEDDING_VARIANTS = {"lightgbm_embeddings": "lightgbm", "linear_embeddings": "linear"}
EMBEDDINGS_AFTER = "linear"
# configurations fitted on the table without level encodings (``models.LEVELS`` False: native
# categories, the widest as their codes' order), beside the one they copy: every preset tries
# them right after it, only on a table with a categorical of more than ``HIGH_CARDINALITY``
# levels (elsewhere they would repeat it), and cross-validation decides. flights_origin (60 s,
# first two folds): LightGBM given the target means of 'flight' and 'tailnum' early-stopped at
# log loss 0.015 and 0.018, without them 0.00005 and 0.005 (the defaults 0.001); every portfolio
# candidate read the means and was stopped as hopeless, and the defaults were shipped
LEVEL_VARIANTS = {"lightgbm_native": "lightgbm"}
# set to 0 / off / false: no embedding candidates (TF-IDF only), e.g. to measure what they add
EMBEDDINGS_ENV = "MLEXPERT_TEXT_EMBEDDINGS"
# families that need an optional extra to fit: (the module it needs, the extra that brings it).
# Without it their configurations are left out of the portfolio, and a note says so
NEEDS = {"mlp": ("torch", "deep")}
# A preset's ``affordable`` configurations are tried only where their family's estimate of its
# folds' cost (``expected_fold_seconds``: shape-based, so the same table and limit always decide
# the same) stays within this share of the search's time; else a note says why they were not.
# Their families are not tuned (the ensemble decides whether the default configuration helps).
# balanced + mlp (5 folds, 2 threads): tables up to ~630 rows at 60 s, ~4,500 at 300 s
AFFORDABLE_SHARE = 0.15
# set to 0 / off / false: no ``affordable`` configurations (balanced without the mlp; best, whose
# portfolio holds it, unchanged), e.g. to measure what they add
AFFORDABLE_ENV = "MLEXPERT_AFFORDABLE"


@dataclass(frozen=True)
class Preset:
    """A quality level: what is tried, how much is tuned, what is shipped."""

    portfolio: tuple[str, ...]
    tune_families: int  # how many of the best tunable families Optuna tunes (0: none)
    single_model: bool  # ship one model, not an ensemble
    ensemble_rounds: int
    prefer_cheaper: bool  # ship a cheaper model when the ensemble is not significantly better
    description: str
    max_seeds: int = 1  # fits per boosted member (seeds averaged) when time is left
    text_embeddings: bool = False  # also try ``EMBEDDING_VARIANTS`` on a table with free text
    affordable: tuple[str, ...] = ()  # tried last, where they fit ``AFFORDABLE_SHARE``

    @property
    def extras(self) -> tuple[str, ...]:
        """The ``affordable`` configurations beyond the portfolio (tried last, never tuned)."""
        return tuple(n for n in self.affordable if n not in self.portfolio)

    def candidates(self) -> tuple[str, ...]:
        """The portfolio, each level variant (``LEVEL_VARIANTS``) after the configuration it
        copies, the embedding variants after ``EMBEDDINGS_AFTER`` where the preset tries them
        and the ``affordable`` ones last (the scheduler drops them where they cannot run)."""
        names = [*self.portfolio, *self.extras]
        for variant, base in LEVEL_VARIANTS.items():
            if base in names and variant not in names:
                names.insert(names.index(base) + 1, variant)
        if self.text_embeddings and EMBEDDINGS_AFTER in names:
            at = names.index(EMBEDDINGS_AFTER) + 1
            names[at:at] = [v for v in EMBEDDING_VARIANTS if v not in names]
        return tuple(names)


PRESETS: dict[str, Preset] = {
    # fast keeps LightGBM's defaults as its floor only: HistGradientBoosting's cost 1.6-2.6 s of
    # 5-fold fits on 400 rows (more than LightGBM's), a fifth of a fast fit's time on small tables
    "fast": Preset((FLOOR[0], "lightgbm", "linear"), 1, True, 1, True,
                   "one model, lowest latency: LightGBM (its defaults, or tuned while time allows) "
                   "or linear"),
    "balanced": Preset(PORTFOLIO, 2, False, 25, True,
                       "portfolio of 10 families/configs (LightGBM's and HistGradientBoosting's defaults first; "
                       "LightGBM again without level encodings on a table with wide categoricals; "
                       "two more on free text as sentence embeddings; the PyTorch MLP where its cost fits "
                       "the time limit), Optuna on the 2 best families, ensemble; a cheaper model is "
                       "shipped when the ensemble is not significantly better",
                       max_seeds=3, text_embeddings=True, affordable=("mlp",)),
    # best also tries the mlp family (with the ``deep`` extra): on email_spam at 60 s balanced
    # + mlp spent 24 of its 60 s on mlp's 5 folds (3,100 rows) and scored the same on test
    # (ROC AUC 0.9392 vs 0.9381, mlp not in the ensemble); its time came out of tuning
    "best": Preset((*PORTFOLIO, "mlp"), 3, False, 50, False,
                   "as balanced plus a PyTorch MLP (with mlexpert[deep]), tuning the 3 best "
                   "families, bigger ensembles, always shipped",
                   max_seeds=5, text_embeddings=True),
}
MIN_CANDIDATE_SECONDS = 0.5
# A portfolio candidate (not a default model) whose folds so far score this many times further
# from perfect than the best candidate did on the same folds stops there: its time goes to tuning.
# flights_origin (log loss, 60 s): eight candidates 6-160x behind the defaults' 0.002 took 45 s,
# leaving no tuning time; on tables where models differ by percents it never fires
HOPELESS = 3.0
REFIT_MARGIN = 1.5
ENSEMBLE_POOL = 12  # the best candidates offered to ensemble selection...
# ...at most this many of one family: hundreds of near-identical trials of the winning family
# otherwise fill the pool, the ensemble loses its diversity and a long budget ships one tuned
# trial chosen on noise (telco at 300 s: 12 LightGBM trials, worse on test than 60 s's mix)
POOL_PER_FAMILY = 3
SIGNIFICANCE = 0.10  # one-sided p-value under which the ensemble's gain counts as real
CHEAPER_FACTOR = 2.0  # a model is "cheaper" when it predicts this many times faster
# ...and "as good" only when, besides no significant difference, its out-of-fold score is within
# this share of the ensemble's: 5 folds of small data rarely show significance, and the bench
# lost 0.05 log loss on olive_area (572 rows) by trusting the test alone
PRACTICAL_TOLERANCE = 0.002
# With time left after the refits (tuning stopped on a plateau), boosted members are refitted
# again with other seeds and averaged, up to the preset's ``max_seeds`` fits each: variance goes
# down where more trials would only fit out-of-fold noise (AutoGluon's repeated bagging does the
# same). Each seed adds a member's size and one-row time again (a 9-class LightGBM of 600 rounds
# x 5 seeds is 27,000 trees), so balanced stops at 3.
# families a seed does not change (linear) or only gives the trees a forest could grow itself
NO_SEEDS = frozenset({"linear", "random_forest", "extra_trees"})
