"""The members' file: classes found by name wherever they moved, foreign ones refused by name."""
from __future__ import annotations

import gzip
import pickle
import subprocess

import numpy as np
import pytest

from mlexpert.ensemble import Member, read_payload, write_payload
from mlexpert.ensemble._pickle import MOVED
from mlexpert.errors import BundleError


class Gadget:  # a class no bundle holds (this test module is not mlexpert)
    pass


def _write_raw(path, obj):
    with gzip.open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=5)


def test_round_trip_keeps_members_and_arrays(tmp_path):
    member = Member("m", "linear", 0.5, [(None, None)], refit=True)
    write_payload([member, np.arange(5.0)], tmp_path / "p.pkl.gz")
    back = read_payload(tmp_path / "p.pkl.gz")
    assert isinstance(back[0], Member) and back[0].weight == 0.5
    np.testing.assert_array_equal(back[1], np.arange(5.0))


@pytest.mark.parametrize("obj, named", [
    (Gadget(), "tests.ensemble.test_pickle.Gadget"),
    (subprocess.Popen, "subprocess.Popen"),
    (eval, "builtins.eval"),
])
def test_a_name_no_bundle_holds_is_refused_before_it_is_built(tmp_path, obj, named):
    _write_raw(tmp_path / "p.pkl.gz", [obj])
    with pytest.raises(BundleError, match=named.replace(".", r"\.")):
        read_payload(tmp_path / "p.pkl.gz")


def test_an_mlexpert_name_that_no_longer_exists_says_to_fit_again(tmp_path):
    data = pickle.dumps(Member("m", "linear", 1.0, [], True), protocol=5)
    data = data.replace(b"mlexpert.ensemble._member", b"mlexpert.ensemble._gone__")
    with gzip.open(tmp_path / "p.pkl.gz", "wb") as fh:
        fh.write(data)
    with pytest.raises(BundleError, match="fit the model again"):
        read_payload(tmp_path / "p.pkl.gz")


def test_every_moved_name_resolves_to_a_class_that_exists():
    import importlib

    for (_, name), module in MOVED.items():
        assert isinstance(getattr(importlib.import_module(module), name), type)
