"""The layering of docs/ARCHITECTURE.md, checked: a module imports only from its layer or lower,
no import cycle at any depth (lazy imports included), no package reaching into another's private
modules."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mlexpert"
LAYERS = [
    {"errors", "findings", "_clock", "_version", "_io", "_system", "_format",
     "_options", "_manifest", "_html", "_first_use"},
    {"data"},
    {"evaluate"},
    {"plan", "features"},
    {"audits"},
    {"models"},
    {"ensemble"},
    {"compiled"},
    {"search"},
    {"explain"},
    {"bundle", "_hotpath"},  # _hotpath: the compiled-path part of bundle.Model
    {"export"},
    {"runtime"},
    {"distributed"},
    {"report"},
    {"monitor"},
    {"tracking"},
    {"diagnosis"},  # reads runs through tracking; a fitted bundle (part 2) sits lower still
    {"retraining"},  # fits through an injected fitter (mlexpert.fit), registers through tracking
    {"_fit"},
    # serve and deploy call the public mlexpert.load, as the CLI does
    {"__init__", "__main__", "cli", "serve", "deploy"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
# The only upward imports allowed, each inside a function (imported on use, never at module
# load): Model.to_onnx and Model.distill are methods of the bundle's Model, but their work lives
# in the layer above it; so does the compiled path Model.predict takes for small batches.
LAZY_UPWARD = {("bundle", "export"), ("bundle", "runtime"), ("_hotpath", "runtime")}


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


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (never executed)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo += child.orelse
            else:
                todo.append(child)
    return out


def _module_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The mlexpert modules ``name`` imports when run, at load or inside functions: ``from
    mlexpert.a import b`` counts as ``mlexpert.a.b`` where that is a module, else ``mlexpert.a``."""
    out = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in _runtime_nodes(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        out |= {t for t in targets if t in modules and t != name}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules_lazy_imports_included():
    """Module A importing B (at load or inside a function) and B importing A, at any depth, is
    a cycle: the order of imports then decides what works. ``if TYPE_CHECKING`` is exempt."""
    modules = _modules()
    graph = {name: _module_imports(name, path, modules) for name, path in modules.items()}
    # a package's __init__ re-exporting its own modules is how a package shows its face, not a
    # cycle: only edges from a module to its own package's __init__ would close one
    graph = {a: {b for b in deps if not (a.startswith(b + ".") and b != "mlexpert")}
             for a, deps in graph.items()}
    assert not _cycles(graph), _cycles(graph)


def test_no_import_cycle_between_packages_lazy_imports_included():
    """The same one level up: the layers of docs/ARCHITECTURE.md, lazy imports included."""
    units: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        units.setdefault(_unit(path), set()).update(_imports(path) - {_unit(path)})
    assert not _cycles(units), _cycles(units)


def test_no_package_imports_another_packages_private_module():
    """``mlexpert.pkg._mod`` is imported only inside ``mlexpert/pkg``; other packages use what
    ``mlexpert/pkg/__init__.py`` exports (top-level private modules such as ``mlexpert._io``
    are the package's shared helpers)."""
    modules = _modules()
    bad = []
    for name, path in modules.items():
        for dep in _module_imports(name, path, modules):
            parts = dep.split(".")
            owner = ".".join(parts[:-1])
            if len(parts) > 2 and parts[-1].startswith("_") and not (
                    name == owner or name.startswith(owner + ".")):
                bad.append(f"{name} imports {dep}")
    assert not bad, bad


def test_the_package_reads_the_typed_manifest_never_the_json_copy():
    """``Model.info`` is a JSON copy for users; every package reads ``Model.manifest``'s typed
    fields. The only ``.info`` attributes read in the package are MLflow runs' (``run.info``)."""
    mlflow_runs = {"run", "c"}
    bad = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}  # log.info(...)
        bad += [f"{path.relative_to(PACKAGE)}:{n.lineno} {ast.unparse(n)}" for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr == "info" and id(n) not in called
                and not (isinstance(n.value, ast.Name) and n.value.id in mlflow_runs)]
    assert not bad, bad
