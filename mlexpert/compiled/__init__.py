"""Fitted preprocessing and models compiled to plain numpy for one row or a few: what the
runtime's compiled path runs, and what the search times to estimate a candidate's latency."""
from mlexpert.compiled._catboost import LEQ, MEMBER, Level, Oblivious, catboost_oblivious
from mlexpert.compiled._numpy import (
    Block,
    Rows,
    Unsupported,
    compile_bag,
    compile_estimator,
    compile_transformer,
)

__all__ = ["LEQ", "MEMBER", "Block", "Level", "Oblivious", "Rows", "Unsupported",
           "catboost_oblivious", "compile_bag", "compile_estimator", "compile_transformer"]
