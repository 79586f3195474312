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
    {"compiled"},
    {"search"},
    {"explain"},
    {"bundle"},
    {"export"},
    {"runtime"},
    {"distributed"},
    {"report"},
    {"monitor"},
    {"tracking"},
    {"_fit"},
    {"__init__", "cli", "serve"},  # serve calls the public mlexpert.load, as the CLI does
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
# The only upward imports allowed, each inside a function (imported on use, never at module
# load): Model.to_onnx and Model.distill are methods of the bundle's Model, but their work lives
# in the layer above it; so does the compiled path Model.predict takes for small batches.
LAZY_UPWARD = {("bundle", "export"), ("bundle", "runtime")}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _load_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node outside function bodies: what runs when the module is imported."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        todo += [c for c in ast.iter_child_nodes(node)
                 if not isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    return out


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    out = set()
    tree = ast.parse(path.read_text())
    nodes = _load_time_nodes(tree) if top_level_only else ast.walk(tree)
    for node in nodes:
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
        top = _imports(path, top_level_only=True)
        for dep in _imports(path):
            allowed = (unit, dep) in LAZY_UPWARD and dep not in top
            if dep != unit and RANK[dep] > RANK[unit] and not allowed:
                bad.append(f"{path.relative_to(PACKAGE)} imports mlexpert.{dep}")
    assert not bad, bad


def test_lazy_upward_imports_stay_lazy():
    """The allowed upward imports happen inside functions, so importing the lower module
    never loads the higher one."""
    for unit, dep in LAZY_UPWARD:
        paths = [PACKAGE / f"{unit}.py"] if (PACKAGE / f"{unit}.py").exists() else \
            list((PACKAGE / unit).rglob("*.py"))
        for path in paths:
            assert dep not in _imports(path, top_level_only=True), f"{path} imports {dep} at load"
