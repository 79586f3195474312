"""Former home of the boosting families (now ``_lightgbm``, ``_xgboost``, ``_catboost``): the
names bundles pickled here and the constants other code read here stay importable."""
from mlexpert.models._catboost import _CatBoostInput  # noqa: F401  (old bundles unpickle this name)
from mlexpert.models._common import EARLY_STOP, MAX_ROUNDS  # noqa: F401  (export._distill reads it)
