"""Crowd results keep their solution's meaning: results pushed from one REEF_HOME and pulled into
another that never saw the solution's folder are charted, compared and titled from the manifest
the results name (shared beside them in the registry, a bare git repository made here)."""

from __future__ import annotations

import json
import re
import shutil

from helpers.cli import call as reef
from helpers.records import flagship_records
from helpers.solutions import FLAGSHIP

import reefnb
from reefnb.runs.store import Store
from reefnb.sharing import registry


def test_pulled_results_are_drawn_and_compared_with_the_manifest_they_name(tmp_path, bare, user):
    folder = tmp_path / "alice-work" / "obj-detection-coco-tf"
    shutil.copytree(
        FLAGSHIP, folder, ignore=shutil.ignore_patterns("runs", "models", "__pycache__", "*.reef.zip", "reef.lock.json")
    )
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(flagship_records(folder))
    assert registry.push_results()["pushed"] == 6

    carol = user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull_results()["new"] == 6
    shutil.rmtree(folder)  # carol has never seen it; alice no longer has it either
    kept = carol / "manifests" / "obj-detection-coco-tf" / "0.1.0"
    assert (kept / "solution.json").is_file() and (kept / "reference" / "mlperf_ssd_mobilenet.csv").is_file()
    assert str(tmp_path) not in (kept / "solution.json").read_text()

    page = tmp_path / "dashboard.html"
    code, _, err = reef("dashboard", "--solution", "obj-detection-coco-tf", "-o", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert "<h1>Object detection: latency against mAP (local runs and published MLPerf results)</h1>" in text
    assert "declares no expected results" not in text
    comparison = text[text.index("Comparison with reference results") : text.index("Published reference results")]
    row = re.search(r"<tr><td>w100-tflite-accuracy</td><td>[^<]*</td><td>mAP</td>.*?</tr>", comparison).group(0)
    assert (
        "<td>0.5630</td><td>abs 0.02</td><td>0.5481</td><td>2</td><td>yes</td>" in row
    )  # expected, tolerance, observed (median of 2), runs, verdict
    assert "COCO val2017" in text[text.index("Published reference results") :]
    specs = json.loads(
        re.search(r'<script type="application/json" id="reef-chart-specs">(.*?)</script>', text).group(1)
    )
    layers = specs["chart0"]["vconcat"][0]["layer"]
    x, y = layers[1]["encoding"]["x"], layers[1]["encoding"]["y"]
    assert x["title"] == "latency_p90_ms (ms) ↓" and y["title"] == "mAP ↑"
    assert layers[1]["encoding"]["shape"]["title"] == "data set"
    assert any(
        layer.get("mark", {}).get("type") == "text" for layer in layers
    )  # the reference points say their round, system and scenario

    code, out, _ = reef("pareto", "--solution", "obj-detection-coco-tf", "--json")
    assert code == 0 and json.loads(out)["objectives"] == {"metric.latency_p90_ms": "min", "metric.mAP": "max"}
    explorer = reefnb.explore("obj-detection-coco-tf")
    assert explorer.objectives == {"metric.latency_p90_ms": "min", "metric.mAP": "max"}
    assert explorer.chart.spec["title"]["text"].startswith("obj-detection-coco-tf")
