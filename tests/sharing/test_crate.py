"""A package's RO-Crate metadata (reefnb.sharing.crate): its files, the main notebook and each run as a CreateAction."""

from __future__ import annotations

import hashlib
import json

import pytest

from reefnb.sharing.crate import PROCESS_RUN_PROFILE, RECORDED_NOTEBOOK, RESULTS_FOLDER, crate_bytes, json_bytes

DATA = {
    "name": "demo",
    "version": "1.0.0",
    "description": "A demonstration.",
    "license": "MIT",
    "authors": [{"name": "Ada Lovelace"}],
    "paper": {"doi": "10.1000/xyz"},
    "workflows": {"run": {"notebook": "main.ipynb"}, "evaluate": {"notebook": "evaluate.ipynb"}},
}


def record(run_id: str, workflow: str, status: str = "ok", ended: str = "2026-01-02T00:00:00+00:00", **more) -> dict:
    return {
        "run_id": run_id,
        "workflow": workflow,
        "status": status,
        "started": "2026-01-01T00:00:00+00:00",
        "ended": ended,
        "parameters": {"n": 3, "sizes": [1, 2]},
        "metrics": {"accuracy": {"value": 0.9}, "time_ms": {"value": 4.5, "unit": "ms"}},
        **more,
    }


RECORDS = [
    record("r1", "run"),
    record("r2", "evaluate", "failed", "2026-01-03T00:00:00+00:00", error={"name": "ValueError", "message": "bad"}),
]
MEMBERS = {
    "solution.json": b"{}",
    "main.ipynb": b"main notebook",
    "evaluate.ipynb": (1234, "ab" * 32),  # a member known by its size and sha256
    f"{RESULTS_FOLDER}/r1.json": b"{}",
    f"{RESULTS_FOLDER}/r1/{RECORDED_NOTEBOOK}": b"executed",
    f"{RESULTS_FOLDER}/r2.json": b"{}",
}


@pytest.fixture(scope="module")
def graph() -> dict[str, dict]:
    metadata = json.loads(crate_bytes(DATA, MEMBERS, RECORDS))
    return {entity["@id"]: entity for entity in metadata["@graph"]}


def test_the_root_names_the_solution_its_license_authors_paper_and_the_last_run_s_end(graph):
    root = graph["./"]
    assert (root["name"], root["description"], root["license"]) == ("demo 1.0.0", "A demonstration.", "MIT")
    assert root["datePublished"] == "2026-01-03T00:00:00+00:00"
    assert root["conformsTo"] == {"@id": PROCESS_RUN_PROFILE} and graph[PROCESS_RUN_PROFILE]["version"] == "0.5"
    assert [graph[author["@id"]]["name"] for author in root["author"]] == ["Ada Lovelace"]
    assert root["citation"] == {"@id": "https://doi.org/10.1000/xyz"}
    assert root["mainEntity"] == {"@id": "main.ipynb"}


def test_every_member_is_a_file_with_its_size_and_sha256(graph):
    for name, content in MEMBERS.items():
        size, digest = content if isinstance(content, tuple) else (len(content), hashlib.sha256(content).hexdigest())
        assert (graph[name]["contentSize"], graph[name]["sha256"]) == (size, digest)
    assert graph["main.ipynb"]["@type"] == ["File", "SoftwareSourceCode"]
    assert graph["solution.json"]["encodingFormat"] == "application/json"


def test_each_run_is_an_action_of_its_workflow_s_notebook_with_parameters_and_results(graph):
    first, second = graph["#run-r1"], graph["#run-r2"]
    assert first["@type"] == "CreateAction" and first["instrument"] == {"@id": "main.ipynb"}
    assert second["instrument"] == {"@id": "evaluate.ipynb"}
    assert first["actionStatus"] == {"@id": "http://schema.org/CompletedActionStatus"}
    assert second["actionStatus"] == {"@id": "http://schema.org/FailedActionStatus"}
    assert second["error"] == "ValueError: bad" and "error" not in first
    assert first["agent"] == {"@id": "#reefnb"}
    parameters = {graph[item["@id"]]["name"]: graph[item["@id"]]["value"] for item in first["object"]}
    assert parameters == {"n": 3, "sizes": "[1, 2]"}  # a value that is not a scalar is its JSON text
    results = [item["@id"] for item in first["result"]]
    assert results[:2] == [f"{RESULTS_FOLDER}/r1.json", f"{RESULTS_FOLDER}/r1/{RECORDED_NOTEBOOK}"]
    assert graph["#run-r1-metric-time_ms"]["unitText"] == "ms" and graph["#run-r1-metric-accuracy"]["value"] == 0.9
    assert [item["@id"] for item in graph["./"]["mentions"]] == ["#run-r1", "#run-r2"]


def test_without_runs_or_optional_fields_the_crate_still_describes_the_files():
    data = {"name": "bare", "version": "0.1.0", "workflows": {"only": {"notebook": "a.ipynb"}}}
    graph = {entity["@id"]: entity for entity in json.loads(crate_bytes(data, {"a.ipynb": b"x"}, []))["@graph"]}
    root = graph["./"]
    assert (root["license"], root["datePublished"]) == ("NOASSERTION", "1980-01-01T00:00:00+00:00")
    assert root["mainEntity"] == {"@id": "a.ipynb"} and "author" not in root and "mentions" not in root


def test_json_bytes_are_stable_indented_utf8_with_a_final_newline():
    assert json_bytes({"b": "é", "a": 1}) == '{\n  "a": 1,\n  "b": "é"\n}\n'.encode()
