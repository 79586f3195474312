"""Model libraries behind one registry: per library, the family (fit, configs, refit,
search space) and its adapter (compiled numpy, ONNX, contributions, Dask fit); plus the
low-level helpers those share with ``compiled`` and ``export`` (the ONNX graph builder, tree
ensembles in ONNX form, CatBoost's oblivious trees).

Library modules import their libraries on use, so this registry is cheap to import.
"""
from mlexpert.models._adapter import (
    CAPABILITIES,
    FALLBACKS,
    Adapter,
    Unsupported,
    all_classes,
)
from mlexpert.models._base import (
    EMBEDDINGS,
    LEVELS,
    LIBRARY_DEFAULTS,
    Family,
    FitRequest,
    Fitted,
    Offset,
    fit_from_offset,
    library_params,
    preprocessing,
)
from mlexpert.models._common import EARLY_STOP
from mlexpert.models._graph import ML_OPSET, OPSET, Graph
from mlexpert.models._lightgbm import staged_output as lightgbm_raw_output
from mlexpert.models._lightgbm import staged_raw as lightgbm_staged_raw
from mlexpert.models._oblivious import Level, Oblivious, ObliviousTrees, catboost_oblivious
from mlexpert.models._registry import (
    ADAPTERS,
    FAMILIES,
    adapter_for,
    bag_adapter,
    counted_tree_nodes,
    get_family,
)
from mlexpert.models._trees_onnx import DISTILL_HINT, LEQ, MEMBER, Trees

__all__ = ["ADAPTERS", "CAPABILITIES", "DISTILL_HINT", "EARLY_STOP", "EMBEDDINGS", "FALLBACKS", "FAMILIES", "LEQ",
           "LEVELS", "LIBRARY_DEFAULTS", "MEMBER",
           "ML_OPSET", "OPSET", "Adapter", "Family", "FitRequest", "Fitted", "Graph", "Level",
           "Oblivious", "ObliviousTrees", "Trees", "Unsupported", "adapter_for", "all_classes",
           "bag_adapter", "catboost_oblivious", "counted_tree_nodes", "get_family", "lightgbm_raw_output",
           "lightgbm_staged_raw", "Offset", "fit_from_offset", "library_params", "preprocessing"]
