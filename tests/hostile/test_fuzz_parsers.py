"""Hypothesis fuzzes every parser of untrusted input (issue 15): a solution manifest, a package (member
names and its manifest), a lock, a registry's index.json and meta.json, shared results files, REST bodies.
Generated JSON (nested, wrong types, huge numbers, odd strings) must give a value or a ReefError, never
any other exception."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from helpers.solutions import write_notebook, write_solution
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reefnb.common.exceptions import ReefError
from reefnb.common.json_input import parse_json
from reefnb.provision.install import read_lock
from reefnb.runs.execute import prepare
from reefnb.runs.spec import RunSpec
from reefnb.sharing import registry
from reefnb.sharing.package import import_package
from reefnb.sharing.sources import resolve_source
from reefnb.solution.manifest import load_solution

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SLOW_FUZZ = settings(FUZZ, max_examples=60)
MANIFEST_KEYS = [
    "name",
    "version",
    "description",
    "authors",
    "license",
    "kind",
    "keywords",
    "components",
    "requires",
    "artifacts",
    "environments",
    "workflows",
    "metrics",
    "profiles",
    "claims",
    "expected",
    "dashboard",
    "notebook",
    "parameters",
    "sweep",
    "timeout",
    "url",
    "sha256",
    "size",
    "packages",
    "python",
    "tools",
    "unit",
    "goal",
    "tolerance",
    "values",
]
REGISTRY_KEYS = [
    "format",
    "components",
    "versions",
    "latest",
    "kind",
    "description",
    "keywords",
    "sha256",
    "size",
    "depends",
    "file",
    "name",
    "version",
    "published",
    "run_id",
    "origin",
    "solution",
    "metrics",
    "status",
    "parameters",
    "path",
]
ODD_STRINGS = [
    "",
    "../../etc/passwd",
    "/etc/passwd",
    "main.ipynb",
    "0.1.0",
    "1.0.0",
    "victim",
    "x" * 300,
    "\u202e",
    "\x00",
    "\ud800",
    "a/../../b",
    "~",
    "*",
    "^1.0",
    ">=1,<0",
    "nan",
    "inf",
    "0" * 64,
]


def scalars() -> st.SearchStrategy:
    return (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=10**60, max_value=10**400)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=12)
        | st.sampled_from(ODD_STRINGS)
    )


def json_values(keys: list[str]) -> st.SearchStrategy:
    return st.recursive(
        scalars(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), children, max_size=5)
        ),
        max_leaves=25,
    )


DEEP = "<deep>"


def nested(template: dict, depth: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """JSON text of ``template`` with its "<deep>" value replaced
    by arrays nested 60 to 2,000 levels (or by ``depth``)."""
    return (depth or st.integers(min_value=60, max_value=2000)).map(
        lambda levels: json.dumps(template).replace(json.dumps(DEEP), "[" * levels + "]" * levels)
    )


def json_texts(keys: list[str]) -> st.SearchStrategy:
    """JSON text: dumps of generated values, or the shapes that
    broke Python's json readers (depth, digits, surrogates)."""
    dumped = json_values(keys).map(json.dumps)
    deep = st.sampled_from(keys).flatmap(lambda key: nested({key: DEEP}))
    huge = st.integers(min_value=4000, max_value=6000).map(lambda digits: '{"version": ' + "9" * digits + "}")
    odd = st.sampled_from(
        [
            '{"a": 1e400}',
            '{"a": -1e999}',
            '{"name": "\\ud800"}',
            '{"\\udfff": 1}',
            '{"a": NaN}',
            "[]",
            "",
            "{",
            '{"a": 1}{"b": 2}',
            "\ufeff{}",
            "null",
        ]
    )
    return dumped | deep | huge | odd


class Prepared(Exception):
    """A run resolved (parameters cast, kernel chosen) where it would have started."""


def tolerated(function, *args, **kwargs):
    """Call ``function``: its value, or None when it raised a ReefError; any other exception fails the test."""
    try:
        return function(*args, **kwargs)
    except ReefError as error:
        assert "\n" not in str(error) or hasattr(error, "problems"), str(error)
        return None


@FUZZ
@given(data=st.binary(max_size=200) | json_texts(MANIFEST_KEYS).map(str.encode))
def test_the_reader_gives_a_value_or_an_input_error(data):
    tolerated(parse_json, data, "fuzz.json")


@FUZZ
@given(
    text=json_texts(MANIFEST_KEYS)
    | json_values(MANIFEST_KEYS).map(
        lambda value: json.dumps(
            {
                "name": "x",
                "version": "0.1.0",
                "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"x": 1}}},
                "metrics": value,
            }
        )
    )
    | nested(
        {"name": "x", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"x": DEEP}}}}
    )
    | nested(
        {
            "name": "x",
            "version": "0.1.0",
            "workflows": {"run": {"notebook": "main.ipynb"}},
            "expected": [{"parameters": {"x": DEEP}}],
        }
    )
)
def test_manifest(text, tmp_path):
    folder = tmp_path / "solution"
    if not folder.exists():
        write_solution(folder, {}, "x = None")
    (folder / "solution.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    solution = tolerated(load_solution, folder)
    if solution is not None and "run" in solution.workflows:
        tolerated(prepare, RunSpec(solution))  # the defaults cast and hashed, as a run would


@FUZZ
@given(
    text=json_texts(["lock_version", "packages", "environment", "python", "kernel", "artifacts", "hashes"])
    | nested({"lock_version": 1, "packages": {"numpy": DEEP}})
)
def test_lock(text, tmp_path):
    folder = tmp_path / "locked"
    if not folder.exists():
        write_solution(folder, {"name": "locked", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
    (folder / "reef.lock.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    tolerated(lambda: read_lock(load_solution(folder)))


@SLOW_FUZZ
@given(
    manifest=json_texts(MANIFEST_KEYS),
    names=st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=300)
        | st.sampled_from(
            [
                "../x",
                "/abs",
                "a//b",
                "a/./b",
                "C:/x",
                "a\\..\\b",
                "x" * 256,
                "solution.json/x",
                "results/r.json",
                "results/../x",
                "MAIN.IPYNB",
            ]
        ),
        max_size=3,
    ),
)
def test_package(manifest, names, tmp_path, monkeypatch):
    """A package made consistent (SHA256SUMS lists every member) with a generated manifest and member names."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the dry runs' folders, inside the test's
    members = {"solution.json": manifest.encode("utf-8", "surrogatepass"), "main.ipynb": b"{}"}
    members.update({name: b"data" for name in names})
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members.items())
    package = tmp_path / "fuzz.reef.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for name, data in [*members.items(), ("SHA256SUMS", sums.encode("utf-8", "surrogatepass"))]:
            archive.writestr(name, data)
    target = tmp_path / "imported"
    if tolerated(import_package, package, target) is not None:
        tolerated(load_solution, target)
        shutil.rmtree(target)
    tolerated(resolve_source, package, dry_run=True)


@pytest.fixture
def registry_folder(tmp_path, monkeypatch) -> Path:
    """A real registry clone whose files each example rewrites. Syncing it with git (a fetch and a reset)
    per example would take a second and undo the rewrite, so ``_sync`` is a no-op here."""
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    registry.add_registry("fuzz", str(bare))
    monkeypatch.setattr(registry, "_sync", lambda name, repository: None)
    return registry.registries_home() / "fuzz"


def write_tree(folder: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")


INDEX_OF = st.fixed_dictionaries(
    {
        "format": st.just(1),
        "components": st.fixed_dictionaries(
            {
                "victim": st.fixed_dictionaries(
                    {
                        "latest": st.just("1.0.0"),
                        "versions": st.dictionaries(
                            st.sampled_from(["1.0.0", "2.0.0", "x", "1.0.0-rc.1", ""]),
                            json_values(REGISTRY_KEYS),
                            max_size=3,
                        ),
                    }
                )
            }
        ),
    }
).map(json.dumps)


@SLOW_FUZZ
@given(
    index=json_texts(REGISTRY_KEYS)
    | INDEX_OF
    | nested({"format": 1, "components": {"victim": {"versions": {"1.0.0": {"sha256": "0" * 64, "depends": DEEP}}}}}),
    meta=json_texts(REGISTRY_KEYS)
    | json_values(REGISTRY_KEYS).map(
        lambda value: json.dumps(
            {
                "name": "victim",
                "version": "1.0.0",
                "sha256": "0" * 64,
                "file": "victim-1.0.0.reef.zip",
                "depends": value,
            }
        )
    ),
)
def test_index_and_meta(index, meta, registry_folder):
    write_tree(
        registry_folder,
        {
            "index.json": index,
            "packages/victim/1.0.0/meta.json": meta,
            "packages/victim/1.0.0/victim-1.0.0.reef.zip": "x",
        },
    )
    tolerated(registry.search, "victim")
    tolerated(registry.pull, "victim", dry_run=True)
    tolerated(registry.pull, "victim@^1")
    tolerated(registry._build_index, registry_folder)


RUN_ID = "20260101T000000Z-00000000"
RECORD = {
    "record_version": 1,
    "run_id": RUN_ID,
    "solution": {"name": "s", "version": "0.1.0", "path": "."},
    "workflow": "run",
    "notebook": {"path": "main.ipynb", "sha256": "0" * 64, "output_path": "runs/main.ipynb"},
    "parameters": {"x": DEEP},
    "metrics": {"m": {"value": DEEP}},
    "status": "ok",
    "started": "2026-01-01T00:00:00+00:00",
    "ended": "2026-01-01T00:00:01+00:00",
    "duration_s": 1.0,
    "environment": {"kernel": "python3", "os": {}, "cpu": {}, "memory_bytes": 1, "python": {}, "packages": {}},
    "provenance": {"reefnb_version": "0.1.0"},
    "origin": {"contributor": "anon-1"},
}


@SLOW_FUZZ
@given(
    records=st.lists(
        json_texts(REGISTRY_KEYS)
        | json_values(REGISTRY_KEYS).map(
            lambda value: json.dumps(
                {
                    "run_id": "r1",
                    "origin": value,
                    "solution": {"name": "s", "version": "0.1.0", "path": "."},
                    "status": "ok",
                }
            )
        )
        | nested(RECORD),
        min_size=1,
        max_size=3,
    )
)
def test_shared_results_files(records, registry_folder):
    shutil.rmtree(registry_folder / "results", ignore_errors=True)
    write_tree(registry_folder, {f"results/s/{RUN_ID[:-1]}{number}.json": text for number, text in enumerate(records)})
    summary = tolerated(registry.pull_results, registry="fuzz")
    assert summary is None or summary["records"] + len(summary["refused"]) == len(records)


@FUZZ
@given(
    body=json_texts(["path", "parameters", "workflow", "output"])
    | json_values(["path", "parameters", "workflow", "output"]).map(
        lambda value: json.dumps({"path": "hello/main.ipynb", "parameters": value})
    )
    | nested({"path": "hello/main.ipynb", "parameters": {"x": DEEP}})
)
def test_rest_bodies(body, tmp_path, monkeypatch):
    """What the handlers do with a body before any kernel starts: parse it, confine its path, cast its parameters
    (``execute.run_from_spec`` is replaced by ``prepare``, which resolves a run without executing it: a kernel per
    example is too slow)."""
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
    from reefnb.frontends import server
    from reefnb.runs import execute

    root = tmp_path / "root"
    if not root.exists():
        write_notebook(root / "hello" / "main.ipynb", "x = None\nname = 'a'", "print(x)")

    def prepared(spec, **_):
        prepare(spec)
        raise Prepared

    monkeypatch.setattr(execute, "run_from_spec", prepared)
    data = tolerated(parse_json, body.encode("utf-8", "surrogatepass"), "the request body", expect=dict)
    if data is not None:
        target = tolerated(server.resolve_target, root, data.get("path"))
        if target is not None:
            try:
                tolerated(server.run_workflow, root, target, data)
            except Prepared:
                pass
