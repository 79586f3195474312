"""The public face: a pinned list of names, and an import that stays light."""
import subprocess
import sys

import pytest

import mlexpert

PUBLIC = ["AuditReport", "BundleError", "ConfigError", "DataError", "DiagnosisReport", "DriftResult",
          "MlexpertError", "Model", "SchemaError", "__version__", "audit", "diagnose", "drift", "fit",
          "load", "retrain"]
HEAVY = ("pandas", "numpy", "sklearn", "lightgbm", "xgboost", "catboost", "scipy", "mlflow",
         "shap", "torch", "fastapi", "dask", "optuna", "matplotlib", "rich")


def test_public_names_are_pinned():
    assert sorted(mlexpert.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(mlexpert, name) is not None


def test_all_errors_derive_from_one_base():
    for name in ("BundleError", "ConfigError", "DataError", "SchemaError"):
        assert issubclass(getattr(mlexpert, name), mlexpert.MlexpertError)


def _imported_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {m.split(".")[0] for m in out}


def test_import_pulls_no_heavy_library():
    loaded = _imported_after("import mlexpert")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_help_pulls_no_heavy_library():
    code = ("import sys\nsys.argv=['mlexpert','--help']\nimport mlexpert.cli\n"
            "try:\n    mlexpert.cli.main()\nexcept SystemExit:\n    pass")
    loaded = _imported_after(code)
    assert not loaded & (set(HEAVY) - {"rich"}), loaded & set(HEAVY)


@pytest.mark.parametrize("command", [["-m", "mlexpert"], ["-m", "mlexpert.cli"]])
def test_version_is_printed_by_both_module_entry_points(command):
    done = subprocess.run([sys.executable, *command, "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"mlexpert {mlexpert.__version__}"
