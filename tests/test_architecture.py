"""The layout's rules, checked on the source: reefnb's import graph (function-local imports included)
has no cycle, and the stage packages import each other only downwards (frontends > actions | analysis >
sharing > runs > provision > solution > common > kernel). ``lint-imports`` (import-linter, run by
``make test``) checks the same layers on module-level imports; this test also sees the imports inside
functions, which import-linter does not follow."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # hatchling (the test extra) depends on it below 3.11

PACKAGE = Path(__file__).resolve().parent.parent / "reefnb"
# Highest first; packages in one tuple are independent of each other.
LAYERS = [
    ("frontends",),
    ("actions", "analysis"),
    ("sharing",),
    ("runs",),
    ("provision",),
    ("solution",),
    ("common",),
    ("kernel",),
]
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


@functools.cache  # one walk of the source for every test here (none changes the graph)
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
    assert not found, "import cycles (function-local imports included):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


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
    outside = [
        f"{module} imports {target}"
        for module, edges in graph.items()
        if stage(module) == "kernel"
        for target in edges
        if stage(target) != "kernel"
    ]
    assert not outside


@pytest.mark.parametrize("broken", ["cycle", "upward"])
def test_the_checks_see_a_cycle_and_an_upward_import(broken):
    """The two checks above are not vacuous: a cycle and an upward import made up here are found."""
    graph = {"reefnb.runs.a": {"reefnb.runs.b": (1, True)}, "reefnb.runs.b": {"reefnb.runs.a": (1, False)}}
    if broken == "cycle":
        assert cycles(graph) == [["reefnb.runs.a", "reefnb.runs.b"]]
    else:
        assert RANK[stage("reefnb.frontends.cli")] < RANK[stage("reefnb.runs.store")]


# --- the kernel part: what the kernel environments reef creates get of reefnb -----------------------------------

PYPROJECT = PACKAGE.parent / "pyproject.toml"
WHAT_IPYKERNEL_BRINGS = {"IPython", "packaging"}


def kernel_part_closure(graph: dict[str, dict[str, tuple[int, bool]]]) -> set[str]:
    """The modules the kernel part's entry points import, directly or not, with their packages: ``reefnb`` and
    ``reefnb.bench`` (the LoadGen alias), and the modules of the API names it promises (``KERNEL_API``).
    Function-local imports count, except those of ``reefnb/__init__.py`` (``%load_ext reefnb``: the full reef)."""
    import reefnb
    from reefnb.kernel import KERNEL_API

    entries = {"reefnb", "reefnb.bench", *(f"reefnb.{reefnb._API[name]}" for name in KERNEL_API if name in reefnb._API)}
    found: set[str] = set()
    waiting = sorted(entries)
    while waiting:
        module = waiting.pop()
        if module not in found:
            found.add(module)
            waiting += [target for target, (_, local) in graph[module].items() if not (module == "reefnb" and local)]
    return found | {
        ".".join(module.split(".")[:depth]) for module in found for depth in range(1, module.count(".") + 1)
    }


def test_the_kernel_part_is_what_its_entry_points_import():
    """KERNEL_PART is an explicit list (install_reefnb copies it); it must be exactly the import closure of what it
    promises."""
    from reefnb.kernel import KERNEL_PART

    needed = kernel_part_closure(import_graph())
    assert (
        "reefnb.provision.artifacts" in needed and "reefnb.kernel.bench" in needed
    )  # fetch_artifact and the LoadGen harness
    missing, extra = sorted(needed - set(KERNEL_PART)), sorted(set(KERNEL_PART) - needed)
    assert not missing, (
        f"reefnb/kernel/__init__.py: KERNEL_PART lacks {', '.join(missing)}, which the kernel part imports"
    )
    assert not extra, (
        f"reefnb/kernel/__init__.py: KERNEL_PART lists {', '.join(extra)}, which nothing of the kernel part imports"
    )
    assert len(KERNEL_PART) == len(set(KERNEL_PART))


def test_the_kernel_api_is_what_the_kernel_part_carries():
    """KERNEL_API (what `reef validate` lets workflow notebooks call) is every API name whose module is in the part."""
    import reefnb
    from reefnb.kernel import KERNEL_API, KERNEL_PART

    carried = {name for name in reefnb.__all__ if name == "__version__" or f"reefnb.{reefnb._API[name]}" in KERNEL_PART}
    assert {"record", "attach", "run_folder", "fetch_artifact"} <= carried
    assert set(KERNEL_API) == carried, f"reefnb/kernel/__init__.py: KERNEL_API should be {sorted(carried)}"


def test_the_kernel_part_needs_only_what_ipykernel_brings():
    """At module level the kernel part imports the standard library, IPython and packaging only (ipykernel depends on
    both)."""
    from reefnb.kernel import KERNEL_PART

    outside = []
    for module in KERNEL_PART:
        path = PACKAGE.parent.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.parse(
            path.read_text(encoding="utf-8")
        ).body:  # module level: function-local imports run only when called
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if (
                    top not in sys.stdlib_module_names
                    and top not in WHAT_IPYKERNEL_BRINGS
                    and top not in ("reefnb", "__future__")
                ):
                    outside.append(f"{module}:{node.lineno} imports {name}")
    assert not outside, "the kernel part imports what a kernel environment lacks:\n" + "\n".join(outside)


def test_the_import_linter_contract_of_the_kernel_part_matches_it():
    """pyproject's contract 'kernel-part' forbids the kernel part (indirect imports too) the stages above it, whole,
    and the other modules of the stages it shares: its sources are derived here from KERNEL_PART, and each module it
    forbids must be outside the part. (A module added later to common, solution or provision is outside the contract
    until listed; the closure test above sees it anyway.)"""
    from reefnb.kernel import KERNEL_PART

    graph = import_graph()
    part = set(KERNEL_PART)
    whole = {
        module
        for module in part
        if module != "reefnb" and all(other in part for other in graph if other.startswith(module + "."))
    }
    sources = {module for module in whole if module.rpartition(".")[0] not in whole}
    topmost_outside = {module for module in graph if module not in part and module.rpartition(".")[0] in part}
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    [contract] = [contract for contract in contracts if contract["id"] == "kernel-part"]
    assert contract["type"] == "forbidden"
    assert set(contract["source_modules"]) == sources, (
        f"pyproject.toml: contract kernel-part: source_modules should be {sorted(sources)}"
    )
    forbidden = set(contract["forbidden_modules"])
    wrong = sorted(forbidden - topmost_outside)
    assert not wrong, f"pyproject.toml: contract kernel-part forbids modules of the part or unknown ones: {wrong}"
    assert {
        "reefnb.__main__",
        "reefnb.runs",
        "reefnb.sharing",
        "reefnb.analysis",
        "reefnb.actions",
        "reefnb.frontends",
    } <= forbidden
    assert {
        "reefnb.provision.envs",
        "reefnb.provision.install",
        "reefnb.solution.manifest",
        "reefnb.common.scrub",
    } <= forbidden


def test_every_executor_module_is_a_registered_executor():
    """``reefnb/runs/executors/NAME.py`` (but the package's ``worker``) is the sweep executor NAME, registered under
    the entry point group ``reefnb.executors`` in pyproject.toml with that name, and every registered one is such a
    module (issue 33): an executor module without its entry point is one no sweep can pick."""
    modules = {path.stem for path in (PACKAGE / "runs" / "executors").glob("*.py")} - {"__init__", "worker"}
    registered = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["entry-points"]["reefnb.executors"]
    assert set(registered) == modules, 'pyproject.toml [project.entry-points."reefnb.executors"]: one per module'
    wrong = {
        name: value for name, value in registered.items() if value.partition(":")[0] != f"reefnb.runs.executors.{name}"
    }
    assert not wrong, f"each executor's entry point names a class of its own module: {wrong}"


# --- the tests' own layout (issue 33, item 9) ----------------------------------------------------------------------

TESTS = PACKAGE.parent / "tests"
TEST_SOURCES = sorted(  # test modules, conftest and the shared helpers; not the corpus' notebooks or data scripts
    path
    for path in TESTS.rglob("*.py")
    if path.name.startswith("test_") or path.name == "conftest.py" or path.parent.name == "helpers"
    if not {"corpus", "data", "__pycache__"} & set(path.relative_to(TESTS).parts)
)


LOADERS = {"spec_from_file_location", "import_module", "run_path", "SourceFileLoader"}


def _imported(tree: ast.AST) -> set[str]:
    """Every module an import names, function-local ones included (``from a import b`` names a and a.b)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in LOADERS:
            names |= {  # a module loaded from its file: importlib's spec_from_file_location, runpy.run_path
                Path(part.value).stem
                for part in ast.walk(node)
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value.endswith(".py")
            }
    return names


def test_no_test_module_imports_another_test_module_or_conftest():
    """What test modules share lives in tests/helpers (``from helpers.solutions import write_solution``): a test
    module imports no other test module (by its name or as ``runs.test_store``) and not conftest, and neither do the
    helpers; pytest's pythonpath holds ``tests`` alone (one entry per stage folder made test modules importable by
    name, so they imported each other)."""
    test_modules = {path.stem for path in TEST_SOURCES if path.name.startswith("test_")} | {"conftest"}
    dotted = {".".join(path.relative_to(TESTS).with_suffix("").parts) for path in TEST_SOURCES}
    wrong = {
        str(path.relative_to(TESTS)): sorted(
            name for name in _imported(ast.parse(path.read_text(encoding="utf-8"))) if name in test_modules | dotted
        )
        for path in TEST_SOURCES
    }
    wrong = {path: names for path, names in wrong.items() if names and not all(n.startswith("helpers") for n in names)}
    assert not wrong, f"imports of test modules (move what they share into tests/helpers): {wrong}"
    settings = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert settings["pythonpath"] == ["tests"]


def test_chromium_is_launched_in_one_place():
    """Every page test gets its browser from the fixtures of tests/helpers/browser.py (``browser``, ``chromium``),
    so Chromium's arguments and the skip without it are written once."""
    launching = sorted(
        str(path.relative_to(TESTS))
        for path in TEST_SOURCES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if node.func.attr == "sync_playwright"
        or (
            node.func.attr == "launch"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "chromium"
        )
    )
    assert set(launching) == {"helpers/browser.py"}, f"Chromium launched outside tests/helpers/browser.py: {launching}"


CORE_STAGES = ("solution", "provision", "runs", "analysis", "sharing")
# Functions of the core whose names read as text for people but that write a file's format, not words for a person:
# the manifest's JSON layout and the lines of a pip requirements file.
FILE_FORMATS = {"reefnb.provision.declare.format_json", "reefnb.provision.requirements.hash_lines"}
TEXT_FOR_PEOPLE = ("_line", "_lines", "format_", "summary_")


def _core_functions():
    for stage in CORE_STAGES:
        for path in sorted((PACKAGE / stage).rglob("*.py")):
            module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            yield module, tree


def test_no_core_stage_defines_text_for_people():
    """Issue 33, item 3: the core stages (solution, provision, runs, analysis, sharing) return data; the words and
    lines people read are made in reefnb/frontends (rendering, provision_text, reproduce_text, widgets), and the one
    formatter of numbers and sizes is reefnb.common.units. The rule checked: no public function or method of a core
    module is named ``*_line``, ``*_lines``, ``format_*`` or ``summary_*`` (the names such renderers had: plan_lines,
    declaration_lines, format_fingerprint, report_lines, format_metric, summary_line, attachment_lines), except the
    two that write a file's format (FILE_FORMATS); and no core module calls ``print`` outside a ``main`` run as a
    script (``python -m``/``-c``, whose stdout is what it answers)."""
    named, printing = [], []
    for module, tree in _core_functions():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                name = node.name
                if (name.endswith(TEXT_FOR_PEOPLE[:2]) or name.startswith(TEXT_FOR_PEOPLE[2:])) and (
                    f"{module}.{name}" not in FILE_FORMATS
                ):
                    named.append(f"{module}.{name}")
        scripts = {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"}
        for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
            for call in ast.walk(function):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print":
                    if function.name not in scripts:
                        printing.append(f"{module}.{function.name}")
    assert not named, f"text for people in the core (move it to reefnb/frontends): {named}"
    assert not printing, f"the core prints (log, or return data for a front end to print): {printing}"


def test_the_text_of_issue_33_lives_in_the_front_ends():
    """Where each renderer issue 33 named went: the front ends (and common.units for numbers with their unit)."""
    import importlib

    moved = {
        "reefnb.provision.install.plan_lines": "reefnb.frontends.provision_text.plan_lines",
        "reefnb.provision.declare.declaration_lines": "reefnb.frontends.provision_text.declaration_lines",
        "reefnb.provision.detection.format_fingerprint": "reefnb.frontends.provision_text.fingerprint_text",
        "reefnb.analysis.reproduce.report_lines": "reefnb.frontends.reproduce_text.report_lines",
        "reefnb.analysis.dashboard.format_metric": "reefnb.common.units.format_metric",
        "reefnb.runs.telemetry.summary_line": "reefnb.frontends.rendering.system_summary",
        "reefnb.runs.attachments.attachment_lines": "reefnb.frontends.rendering.attachment_lines",
    }
    for old, new in moved.items():
        old_module, old_name = old.rsplit(".", 1)
        new_module, new_name = new.rsplit(".", 1)
        left = getattr(importlib.import_module(old_module), old_name, None)
        assert getattr(left, "__module__", None) != old_module, f"{old} is still defined there"
        assert callable(getattr(importlib.import_module(new_module), new_name)), new


def test_the_command_layer_calls_the_stages_not_the_facade():
    """reefnb/frontends/commands.py imports the stage modules it orchestrates (inside its functions, so the command
    layer loads no stage until a verb runs), never the ``reefnb`` package facade: go-to-definition lands on the
    function, not on ``reefnb.__getattr__``. Nor do the verbs and the two front ends built from them."""
    frontends = PACKAGE / "frontends"
    for path in [frontends / "commands.py", frontends / "terminal.py", frontends / "magics.py"] + sorted(
        (frontends / "verbs").glob("*.py")
    ):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        facade = [
            node.lineno
            for node in ast.walk(tree)
            if (isinstance(node, ast.Import) and any(alias.name == "reefnb" for alias in node.names))
            or (isinstance(node, ast.ImportFrom) and node.module == "reefnb" and node.level == 0)
        ]
        assert not facade, f"{path.relative_to(PACKAGE.parent)}: imports the reefnb facade at lines {facade}"


def test_the_public_api_is_listed_once():
    """``reefnb.__all__`` is ``_API``'s names (name -> the module it is imported from), each found there, and
    ``PackageError``/``RegistryError`` come from the one exceptions module."""
    import importlib

    import reefnb

    assert reefnb.__all__ == ["__version__", *reefnb._API]
    for name, module in reefnb._API.items():
        assert hasattr(importlib.import_module(f"reefnb.{module}"), name), f"reefnb.{module} has no {name}"
    assert reefnb._API["PackageError"] == reefnb._API["RegistryError"] == "common.exceptions"


def _waits_outside_a_loop(tree: ast.AST) -> list[tuple[str, int]]:
    """(test or fixture, line) of each ``time.sleep``/``page.wait_for_timeout`` that a test or fixture calls outside
    a loop."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in {"sleep", "wait_for_timeout"}:
            above, in_loop = parents.get(node), False
            while above is not None and not isinstance(above, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                in_loop = in_loop or isinstance(above, (ast.While, ast.For))
                above = parents.get(above)
            fixture = above is not None and any(
                "fixture" in ast.unparse(d) for d in getattr(above, "decorator_list", [])
            )
            if not in_loop and (fixture or getattr(above, "name", "").startswith("test_")):
                found.append((above.name, node.lineno))
    return found


def test_tests_wait_for_what_they_need_not_a_fixed_time():
    """A test or fixture that waits polls for its condition (``helpers.servers.wait_until``, or a loop that asks):
    a fixed sleep is too short on a loaded machine and wasted time on an idle one. Sleeps in a loop and in code a test
    runs as its subject (a paced LoadGen callback, a notebook cell in a string) are not waits of the test."""
    wrong = {
        str(path.relative_to(TESTS)): waits
        for path in TEST_SOURCES
        if (waits := _waits_outside_a_loop(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not wrong, f"fixed waits (poll for the condition instead): {wrong}"


# --- every stage module has its test module (issue 33, item 9) -----------------------------------------------------

STAGES = ("solution", "provision", "runs", "analysis", "sharing", "common", "kernel", "actions", "frontends")
# Packages whose modules one test module covers together, parametrised over them: the verb modules, each a set of
# table entries that tests/frontends/test_verbs.py runs one by one in both front ends.
COVERED_TOGETHER = {("frontends", "verbs"): "frontends/test_verbs.py"}


def _only_declares_names(path: Path) -> bool:
    """Whether a package's ``__init__`` holds nothing but its docstring, imports and ``__all__`` (re-exports)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not (
            isinstance(node, (ast.Import, ast.ImportFrom))
            or _type_checking(node)
            or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and all(getattr(t, "id", "") == "__all__" for t in targets)
            )
        ):
            return False
    return True


def expected_test_module(path: Path, package: Path = PACKAGE) -> str | None:
    """The test module (relative to tests/) of a module of reefnb, None for one that needs none of its own.

    ``reefnb/STAGE/NAME.py`` -> ``STAGE/test_NAME.py``; a package's module ``reefnb/STAGE/PKG/NAME.py`` ->
    ``STAGE/test_PKG_NAME.py`` and its ``__init__`` -> ``STAGE/test_PKG.py`` unless it only re-exports names
    (pytest imports test modules by file name: ``test_PKG_NAME`` keeps them apart from the stage's own); the modules
    of a package in COVERED_TOGETHER -> its one test module. Outside the stages (``reefnb/__init__``, ``__main__``,
    ``bench``) and a stage's own ``__init__``: None.
    """
    parts = path.relative_to(package).with_suffix("").parts
    if len(parts) < 2 or parts[0] not in STAGES or parts[1:] == ("__init__",):
        return None
    if parts[:2] in COVERED_TOGETHER and len(parts) == 3:
        return COVERED_TOGETHER[parts[:2]]
    names = list(parts[1:])
    if names[-1] == "__init__":
        if _only_declares_names(path):
            return None
        names.pop()
    return f"{parts[0]}/test_{'_'.join(names)}.py"


def _has_tests(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name.startswith("test_") for node in ast.walk(tree))


def missing_test_modules(package: Path = PACKAGE, tests: Path = TESTS) -> dict[str, str]:
    """Module -> the test module it lacks (absent, or holding no test function)."""
    missing = {}
    for path in sorted(package.rglob("*.py")):
        expected = expected_test_module(path, package)
        if expected is not None and not ((tests / expected).is_file() and _has_tests(tests / expected)):
            missing[path.relative_to(package.parent).as_posix()] = f"tests/{expected}"
    return missing


def test_every_stage_module_has_its_test_module():
    """Each module of a stage is tested in a module named after it (``reefnb/runs/query.py`` in
    ``tests/runs/test_query.py``), so that a newcomer finds the tests of a module, and a module without tests shows."""
    missing = missing_test_modules()
    assert not missing, f"modules without their test module (module -> test module to write): {missing}"


def test_the_rule_maps_each_kind_of_module_and_sees_what_is_missing(tmp_path):
    package, tests = tmp_path / "reefnb", tmp_path / "tests"
    sources = {
        "__init__.py": "def run(): pass",  # the facade: outside the stages
        "bench.py": "",
        "runs/__init__.py": "",
        "runs/query.py": "",
        "runs/executors/__init__.py": "class Executor: pass",
        "runs/executors/local.py": "",
        "provision/detection/__init__.py": '"""Its names."""\nfrom .base import Detector\n__all__ = ["Detector"]',
        "provision/detection/base.py": "",
        "frontends/verbs/__init__.py": "VERBS = []",
        "frontends/verbs/running.py": "",
        "common/units.py": "",
    }
    test_sources = {"runs/test_query.py": "def test_it(): pass", "common/test_units.py": "def helper(): pass"}
    for folder, files in ((package, sources), (tests, test_sources)):
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
    expected = {name: expected_test_module(package / name, package) for name in sources}
    assert expected == {
        "__init__.py": None,
        "bench.py": None,
        "runs/__init__.py": None,
        "runs/query.py": "runs/test_query.py",
        "runs/executors/__init__.py": "runs/test_executors.py",
        "runs/executors/local.py": "runs/test_executors_local.py",
        "provision/detection/__init__.py": None,
        "provision/detection/base.py": "provision/test_detection_base.py",
        "frontends/verbs/__init__.py": "frontends/test_verbs.py",
        "frontends/verbs/running.py": "frontends/test_verbs.py",
        "common/units.py": "common/test_units.py",
    }
    assert missing_test_modules(package, tests) == {
        f"reefnb/{name}": f"tests/{test}"
        for name, test in expected.items()
        if test is not None and test != "runs/test_query.py"
    }


def test_test_modules_have_names_of_their_own():
    """pytest imports each test module by its file name (no ``__init__.py`` in tests/): two ``test_x.py`` in two
    folders clash, so a hostile test of a module is named for its attack (``hostile/test_process_escapes.py``)."""
    seen: dict[str, list[str]] = {}
    for path in TEST_SOURCES:
        if path.name.startswith("test_"):
            seen.setdefault(path.name, []).append(path.relative_to(TESTS).as_posix())
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_the_architecture_page_names_every_module_in_its_stages_row():
    """docs/architecture.md's table has a row per subpackage naming each of its modules in backquotes (a package's
    modules after its own name, ``detection/``), so a newcomer finds every module there and a new one is listed."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in page.splitlines() if line.startswith("| `reefnb/")}
    missing = []
    for path in sorted(PACKAGE.glob("*/**/*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in ("labextension", "schemas") or "__pycache__" in parts:
            continue
        row = rows.get(f"reefnb/{parts[0]}/", "")
        if len(parts) == 2:
            found = parts[1] == "__init__" or f"`{parts[1]}`" in row
        else:
            package = f"`{parts[1]}/`"
            found = package in row and (parts[2] == "__init__" or f"`{parts[2]}`" in row.split(package, 1)[1])
        if not found:
            missing.append("/".join(parts))
    assert not missing, f"docs/architecture.md: name these modules in their stage's row: {missing}"
