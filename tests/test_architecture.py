"""The layout's rules, checked on the source: reefnb's import graph (function-local imports included)
has no cycle, and the stage packages import each other only downwards (frontends > actions | analysis >
sharing > runs > provision > solution > common > kernel). ``lint-imports`` (import-linter, run by
``make test``) checks the same layers on module-level imports; this test also sees the imports inside
functions, which import-linter does not follow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reefnb"
# Highest first; packages in one tuple are independent of each other.
LAYERS = [("frontends",), ("actions", "analysis"), ("sharing",), ("runs",), ("provision",), ("solution",), ("common",), ("kernel",)]
RANK = {name: index for index, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(path: Path, modules: set[str]) -> list[tuple[str, int, bool]]:
    """(module, line, inside a function) for each reefnb module ``path`` imports, TYPE_CHECKING blocks aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module] + [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                # the module itself, or the deepest reefnb module that contains the imported name
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != "reefnb":
                    found.append((name, child.lineno, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def import_graph() -> dict[str, dict[str, tuple[int, bool]]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph: dict[str, dict[str, tuple[int, bool]]] = {}
    for name, path in paths.items():
        edges = graph.setdefault(name, {})
        for target, line, local in imported_modules(path, modules):
            if target != name and not name.startswith(target + ".") and target not in edges:
                edges[target] = (line, local)
    return graph


def cycles(graph: dict[str, dict]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    found = cycles(graph)
    assert not found, "import cycles (function-local imports included):\n" + "\n".join(" <-> ".join(component) for component in found)


def test_stages_import_only_downwards():
    wrong = []
    for module, edges in import_graph().items():
        source = stage(module)
        if source is None:
            continue
        for target, (line, local) in edges.items():
            destination = stage(target)
            if destination is None or destination == source:
                continue
            if RANK[destination] <= RANK[source]:
                wrong.append(f"{module}:{line} imports {target}{' (in a function)' if local else ''}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_kernel_package_imports_nothing_else_of_reefnb():
    graph = import_graph()
    outside = [f"{module} imports {target}" for module, edges in graph.items() if stage(module) == "kernel" for target in edges if stage(target) != "kernel"]
    assert not outside


@pytest.mark.parametrize("broken", ["cycle", "upward"])
def test_the_checks_see_a_cycle_and_an_upward_import(broken):
    """The two checks above are not vacuous: a cycle and an upward import made up here are found."""
    graph = {"reefnb.runs.a": {"reefnb.runs.b": (1, True)}, "reefnb.runs.b": {"reefnb.runs.a": (1, False)}}
    if broken == "cycle":
        assert cycles(graph) == [["reefnb.runs.a", "reefnb.runs.b"]]
    else:
        assert RANK[stage("reefnb.frontends.cli")] < RANK[stage("reefnb.runs.store")]
