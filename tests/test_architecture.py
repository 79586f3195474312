"""The layering of docs/ARCHITECTURE.md, checked: a module imports only from its layer or lower."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mlexpert"
LAYERS = [
    {"errors", "findings", "_clock", "_version"},
    {"data"},
    {"evaluate"},
    {"plan", "features"},
    {"audits"},
    {"models"},
    {"search"},
    {"explain"},
    {"bundle"},
    {"distributed"},
    {"report"},
    {"monitor"},
    {"tracking"},
    {"_fit"},
    {"__init__", "cli", "serve"},  # serve calls the public mlexpert.load, as the CLI does
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlexpert"):
            parts = node.module.split(".")
            out.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mlexpert.")}
    return out


def test_every_module_is_placed_in_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units <= set(RANK), units - set(RANK)


def test_lower_layers_never_import_higher_ones():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        for dep in _imports(path):
            if dep != unit and RANK[dep] > RANK[unit]:
                bad.append(f"{path.relative_to(PACKAGE)} imports mlexpert.{dep}")
    assert not bad, bad
