"""The manifest as typed fields: every bundle's JSON form reads back to the same JSON."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlexpert._manifest import Manifest, Target
from mlexpert.errors import BundleError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_version_1_manifest_reads_back_to_the_same_json(task):
    data = json.loads((FIXTURES / f"v1_{task}" / "manifest.json").read_text())
    manifest = Manifest.from_dict(data)
    assert manifest.target == Target("y", task, data["target"]["classes"])
    assert manifest.format_version == 1 and manifest.files == data["files"]
    assert manifest.to_dict() == data and manifest.extra == {}


def test_keys_a_later_version_writes_are_kept_and_written_back():
    data = json.loads((FIXTURES / "v1_binary" / "manifest.json").read_text())
    data["from_the_future"] = {"x": 1}
    back = Manifest.from_dict(data).to_dict()
    assert back["from_the_future"] == {"x": 1} and back == data


def test_optional_sections_are_written_only_when_present():
    m = Manifest(target=Target("y", "regression"), metric="rmse", schema={"columns": []})
    out = m.to_dict()
    assert {"inference", "size", "cluster", "distillation", "registry", "files"}.isdisjoint(out)
    assert out["calibration"] is None and out["decision"] is None
    assert m.with_sections(size={"mb": 1}).to_dict()["size"] == {"mb": 1}


def test_a_manifest_is_never_changed_in_place():
    m = Manifest(target=Target("y", "regression"), metric="rmse", schema={"columns": []})
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.inference = {}  # type: ignore[misc]
    assert m.with_sections(inference={"latency_ms_per_row": 1.0}) is not m and m.inference is None


def test_a_manifest_without_a_target_is_refused_as_corrupt():
    with pytest.raises(BundleError, match="corrupt"):
        Manifest.from_dict({"metric": "rmse", "schema": {}})


def test_xgboost_is_recorded_whichever_build_is_installed(monkeypatch):
    """The project depends on ``xgboost-cpu``; a user with the full ``xgboost`` build holds the
    same objects, and the manifest (and the pins built from it) must still name its version."""
    import importlib.metadata as md

    from mlexpert._format import library_versions, pinned_requirements

    real = md.version

    def only_full_build(dist):
        if dist == "xgboost-cpu":
            raise md.PackageNotFoundError(dist)
        return "3.0.5" if dist == "xgboost" else real(dist)

    monkeypatch.setattr(md, "version", only_full_build)
    versions = library_versions()
    assert versions["xgboost"] == "3.0.5"
    assert "xgboost-cpu==3.0.5" in pinned_requirements(versions, "0.1.0")
