"""Level variants (``LEVEL_VARIANTS``): a configuration fitted again without level encodings,
right after the one it copies, only on a table with a categorical wide enough to be
level-encoded; cross-validation decides between them."""
import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.evaluate import METRICS
from mlexpert.features import HIGH_CARDINALITY
from mlexpert.models import LEVELS
from mlexpert.plan import SplitPlan
from mlexpert.search import SearchSpec, run_search
from mlexpert.search._presets import LEVEL_VARIANTS, PRESETS
from tests.conftest import make_table


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_tries_the_variant_right_after_the_configuration_it_copies(preset):
    names = PRESETS[preset].candidates()
    for variant, base in LEVEL_VARIANTS.items():
        assert base in names and names.index(variant) == names.index(base) + 1
        assert names.count(variant) == 1


def _search(wide: bool):
    frame = make_table("binary", n=300)
    y = (frame.pop("y") == "yes").to_numpy(int)
    rng = np.random.default_rng(1)
    levels = 3 * HIGH_CARDINALITY if wide else HIGH_CARDINALITY // 2
    frame["store"] = [f"s{i}" for i in rng.integers(0, levels, len(y))]
    schema = infer_schema(frame)
    spec = SearchSpec(task="binary", n_classes=2, metric=METRICS["roc_auc"],
                      folds=SplitPlan("stratified", 3).folds(y), deadline=Deadline.after(60),
                      n_threads=1, preset="fast", trials=0)
    return {c.name: c for c in run_search(schema.prepare(frame), y, schema, spec).candidates}


def test_a_wide_categorical_gets_the_variant_fitted_on_native_categories():
    tried = _search(wide=True)
    for variant, base in LEVEL_VARIANTS.items():
        assert tried[variant].status == "ok" and tried[base].status == "ok"
        assert tried[variant].kind == "native" and tried[base].kind == "tree"
        assert tried[variant].params == {**tried[base].params, LEVELS: False}
        assert tried[variant].score != tried[base].score  # other columns, another model


def test_without_one_the_variant_is_not_tried_again():
    tried = _search(wide=False)
    assert not set(LEVEL_VARIANTS) & set(tried)
    assert all(base in tried for base in LEVEL_VARIANTS.values())
