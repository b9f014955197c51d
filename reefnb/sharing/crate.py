"""A package's RO-Crate metadata (``ro-crate-metadata.json``): its files, the main notebook, and each recorded
run as a CreateAction of the Process Run Crate profile."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reefnb.runs.telemetry import SERIES_FILE

PROCESS_RUN_PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
RESULTS_FOLDER = "results"  # run records inside a package
RECORDED_NOTEBOOK = "notebook.ipynb"  # a run's executed notebook, with its outputs: results/RUN_ID/notebook.ipynb


def crate_bytes(data: dict, members: dict[str, bytes | tuple[int, str]], records: list[dict]) -> bytes:
    """The RO-Crate metadata: the files (each member's bytes, or its size and sha256), the main notebook, and each run
    as a CreateAction (Process Run Crate)."""
    from rocrate.rocrate import ROCrate  # heavy: imported when a package is written

    crate = ROCrate(gen_preview=False)
    _describe_root(crate, data, records)
    entities = _file_entities(crate, members)
    main = data["workflows"].get("run") or next(iter(data["workflows"].values()))
    crate.mainEntity = entities[main["notebook"]]
    software = _entity(
        crate, "#reefnb", {"@type": "SoftwareApplication", "name": "reefnb", "url": "https://pypi.org/project/reefnb/"}
    )
    for record in records:
        notebook = data["workflows"].get(record["workflow"], main)["notebook"]
        crate.root_dataset.append_to("mentions", _run_action(crate, record, entities, notebook, software))
    metadata = crate.metadata.generate()
    return json_bytes(metadata)


def _entity(crate: Any, identifier: str, properties: dict) -> Any:
    """A contextual entity (a person, a property value, the software...) added to the crate."""
    from rocrate.model.contextentity import ContextEntity  # heavy: imported when a package is written

    return crate.add(ContextEntity(crate, identifier, properties=properties))


def _describe_root(crate: Any, data: dict, records: list[dict]) -> None:
    """The root dataset: name, description, license, date (the last run's end), profile, authors and paper."""
    root = crate.root_dataset
    root["name"] = f"{data['name']} {data['version']}"
    root["description"] = data.get("description") or f"reef solution {data['name']}"
    root["license"] = data.get("license") or "NOASSERTION"
    times = [record["ended"] for record in records if record.get("ended")]
    root["datePublished"] = max(times) if times else "1980-01-01T00:00:00+00:00"
    root["conformsTo"] = _entity(
        crate, PROCESS_RUN_PROFILE, {"@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}
    )
    if data.get("authors"):
        root["author"] = [
            _entity(crate, f"#author-{index}", {"@type": "Person", **author})
            for index, author in enumerate(data["authors"])
        ]
    if (data.get("paper") or {}).get("doi"):
        root["citation"] = {"@id": f"https://doi.org/{data['paper']['doi']}"}


def _file_entities(crate: Any, members: dict[str, bytes | tuple[int, str]]) -> dict[str, Any]:
    """Each member as a file of the crate with its size and sha256 (given as such, or its bytes; notebooks as Python
    source code); by member name."""
    entities = {}
    for name, content in sorted(members.items()):
        size, digest = content if isinstance(content, tuple) else (len(content), hashlib.sha256(content).hexdigest())
        properties = {"contentSize": size, "sha256": digest}
        if name.endswith(".ipynb"):
            properties.update(
                {
                    "@type": ["File", "SoftwareSourceCode"],
                    "encodingFormat": "application/x-ipynb+json",
                    "programmingLanguage": "Python",
                }
            )
        elif name.endswith(".json"):
            properties["encodingFormat"] = "application/json"
        entities[name] = crate.add_file(None, dest_path=name, properties=properties)
    return entities


def _run_action(crate: Any, record: dict, entities: dict[str, Any], notebook: str, software: Any) -> Any:
    """A run as a CreateAction of its notebook: the parameters as its objects, the record, executed notebook, series and
    metrics as its results."""
    run_id = record["run_id"]
    values = [
        _entity(
            crate,
            f"#run-{run_id}-parameter-{key}",
            {"@type": "PropertyValue", "name": key, "value": _property_value(value)},
        )
        for key, value in sorted(record["parameters"].items())
    ]
    results = [entities[f"{RESULTS_FOLDER}/{run_id}.json"]]
    results += [
        entities[name]
        for name in (f"{RESULTS_FOLDER}/{run_id}/{RECORDED_NOTEBOOK}", f"{RESULTS_FOLDER}/{run_id}.{SERIES_FILE}")
        if name in entities
    ]
    results += [
        _entity(
            crate,
            f"#run-{run_id}-metric-{key}",
            {
                "@type": "PropertyValue",
                "name": key,
                "value": _property_value(metric.get("value")),
                **({"unitText": metric["unit"]} if metric.get("unit") else {}),
            },
        )
        for key, metric in sorted(record["metrics"].items())
    ]
    properties = {
        "name": f"run {run_id} of {notebook}",
        "startTime": record["started"],
        "endTime": record["ended"],
        "actionStatus": {
            "@id": "http://schema.org/CompletedActionStatus"
            if record["status"] == "ok"
            else "http://schema.org/FailedActionStatus"
        },
        "agent": software,
    }
    if record.get("error"):
        properties["error"] = f"{record['error'].get('name')}: {record['error'].get('message')}"
    return crate.add_action(
        entities[notebook], identifier=f"#run-{run_id}", object=values, result=results, properties=properties
    )


def _property_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
