"""A package's RO-Crate metadata (``ro-crate-metadata.json``): its files, the main notebook, and each recorded
run as a CreateAction of the Process Run Crate profile."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reefnb.runs.telemetry import SERIES_FILE

PROCESS_RUN_PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
RESULTS_FOLDER = "results"  # run records inside a package


def crate_bytes(data: dict, members: dict[str, bytes], records: list[dict]) -> bytes:
    """The RO-Crate metadata: the files, the main notebook, and each run as a CreateAction (Process Run Crate)."""
    from rocrate.model.contextentity import ContextEntity  # heavy: imported when a package is written
    from rocrate.rocrate import ROCrate

    crate = ROCrate(gen_preview=False)
    root = crate.root_dataset
    root["name"] = f"{data['name']} {data['version']}"
    root["description"] = data.get("description") or f"reef solution {data['name']}"
    root["license"] = data.get("license") or "NOASSERTION"
    times = [record["ended"] for record in records if record.get("ended")]
    root["datePublished"] = max(times) if times else "1980-01-01T00:00:00+00:00"
    profile = crate.add(ContextEntity(crate, PROCESS_RUN_PROFILE, properties={"@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}))
    root["conformsTo"] = profile
    if data.get("authors"):
        root["author"] = [
            crate.add(ContextEntity(crate, f"#author-{index}", properties={"@type": "Person", **author})) for index, author in enumerate(data["authors"])
        ]
    if (data.get("paper") or {}).get("doi"):
        root["citation"] = {"@id": f"https://doi.org/{data['paper']['doi']}"}
    entities = {}
    for name, content in sorted(members.items()):
        properties = {"contentSize": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        if name.endswith(".ipynb"):
            properties.update({"@type": ["File", "SoftwareSourceCode"], "encodingFormat": "application/x-ipynb+json", "programmingLanguage": "Python"})
        elif name.endswith(".json"):
            properties["encodingFormat"] = "application/json"
        entities[name] = crate.add_file(None, dest_path=name, properties=properties)
    main = data["workflows"].get("run") or next(iter(data["workflows"].values()))
    crate.mainEntity = entities[main["notebook"]]
    software = crate.add(
        ContextEntity(crate, "#reefnb", properties={"@type": "SoftwareApplication", "name": "reefnb", "url": "https://pypi.org/project/reefnb/"})
    )
    for record in records:
        run_id = record["run_id"]
        values = [
            crate.add(
                ContextEntity(crate, f"#run-{run_id}-parameter-{key}", properties={"@type": "PropertyValue", "name": key, "value": _property_value(value)})
            )
            for key, value in sorted(record["parameters"].items())
        ]
        results = [entities[f"{RESULTS_FOLDER}/{run_id}.json"]]
        results += [entities[name] for name in (f"{RESULTS_FOLDER}/{run_id}.{SERIES_FILE}",) if name in entities]
        results += [
            crate.add(
                ContextEntity(
                    crate,
                    f"#run-{run_id}-metric-{key}",
                    properties={
                        "@type": "PropertyValue",
                        "name": key,
                        "value": _property_value(metric.get("value")),
                        **({"unitText": metric["unit"]} if metric.get("unit") else {}),
                    },
                )
            )
            for key, metric in sorted(record["metrics"].items())
        ]
        notebook = data["workflows"].get(record["workflow"], main)["notebook"]
        properties = {
            "name": f"run {run_id} of {notebook}",
            "startTime": record["started"],
            "endTime": record["ended"],
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus" if record["status"] == "ok" else "http://schema.org/FailedActionStatus"},
            "agent": software,
        }
        if record.get("error"):
            properties["error"] = f"{record['error'].get('name')}: {record['error'].get('message')}"
        action = crate.add_action(entities[notebook], identifier=f"#run-{run_id}", object=values, result=results, properties=properties)
        root.append_to("mentions", action)
    metadata = crate.metadata.generate()
    return json_bytes(metadata)


def _property_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
