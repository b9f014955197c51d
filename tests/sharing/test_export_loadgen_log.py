"""LoadGen's accuracy log leaves with a package: the responses an evaluator compares with are hex, and
``ACCA`` (a prefix of detect-secrets' AWS access key pattern) followed by 16 more uppercase hex digits is
common in them (the float32 0.3297 can be ``ACCAA83E``); a key planted in the same log is still refused.

One real LoadGen run (accuracy mode, in-process, a fraction of a second) for the module; what an export
packs of a run's attached files is ``packed_attachments``, called here on a record of that run.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

pytest.importorskip("mlperf_loadgen")

from reefnb.common.scrub import Scrubber, find_secrets  # noqa: E402
from reefnb.kernel.bench import run_loadgen  # noqa: E402
from reefnb.runs.attachments import packed_attachments  # noqa: E402
from reefnb.sharing.mlperf import ACCURACY_LOG, truncate_accuracy_log  # noqa: E402

RUN_ID = "20261206T151702Z-8bc291c8"
BOX = bytes.fromhex(
    "ACCAA83E92951F3F684F9C3D"
)  # three float32 of a detection box (0.3297, 0.6234, 0.0763), as the flagship logs them
TREE = "open/reef/results/reef_CI_machine_2_cores/ssd-mobilenet/SingleStream/accuracy/" + ACCURACY_LOG
KEY_ID, SECRET = "AKIA" + "Z7QK2M4XRB6NVT3P", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYZQ8TK3VWXY"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The run's folder (``runs/RUN_ID``) with LoadGen's log
    attached twice: whole, and truncated in a submission tree."""
    root = tmp_path_factory.mktemp("loadgen")
    run_loadgen(
        lambda indices: [struct.pack("<2f", 1.0, index) + BOX * 4 for index in indices],
        96,
        "SingleStream",
        "accuracy",
        log_dir=root / "logs",
    )
    files = root / "solution" / "runs" / RUN_ID / "files"
    (files / "accuracy").mkdir(parents=True)
    (files / "accuracy" / ACCURACY_LOG).write_bytes((root / "logs" / ACCURACY_LOG).read_bytes())
    (files / TREE).parent.mkdir(parents=True)
    truncate_accuracy_log(root / "logs" / ACCURACY_LOG, files / TREE)
    return root


def _record(runs: Path) -> dict:
    files = runs / "solution" / "runs" / RUN_ID / "files"
    names = [f"accuracy/{ACCURACY_LOG}", TREE]
    return {
        "run_id": RUN_ID,
        "notebook": {"output_path": str(files.parent / "benchmark.ipynb")},
        "files": [{"name": name, "sha256": hashlib.sha256((files / name).read_bytes()).hexdigest()} for name in names],
    }


def _packed(record: dict, runs: Path) -> tuple[dict[str, bytes], list[str]]:
    warnings: list[str] = []
    return dict(packed_attachments(record, Scrubber(runs / "solution"), warnings)), warnings


def test_loadgens_accuracy_log_and_its_truncated_copy_are_packed_byte_for_byte(runs):
    whole = (runs / "logs" / ACCURACY_LOG).read_text()
    entries = json.loads(whole)
    assert len(entries) == 96 and all(
        "ACCAA83E92951F3F684F9C3D" in entry["data"] for entry in entries
    )  # LoadGen's own hex
    assert "\n...\n" in (runs / "solution" / "runs" / RUN_ID / "files" / TREE).read_text()  # truncated as MLPerf does
    packed, warnings = _packed(_record(runs), runs)
    assert warnings == []
    assert packed[f"accuracy/{ACCURACY_LOG}"] == whole.encode() and TREE in packed
    assert find_secrets(whole, high_entropy=False) == []


@pytest.mark.parametrize(
    "planted",
    [
        f'"aws_access_key_id": "{KEY_ID}", "aws_secret_access_key": "{SECRET}"',  # a key pair written into the log
        f'"data" : "0000803F{KEY_ID}ACCAA83E"',  # a key id among hex digits: its letters go past F
        '"data" : "ACCA0123456789ABCDEF"',  # an ACCA id of hex digits alone, cut from no longer token
    ],
)
def test_a_key_planted_in_the_accuracy_log_is_still_refused(runs, planted):
    files = runs / "solution" / "runs" / RUN_ID / "files"
    text = (runs / "logs" / ACCURACY_LOG).read_text().rstrip().rstrip("]")
    (files / "accuracy" / ACCURACY_LOG).write_text(text + "{ " + planted + " }\n]\n")
    try:
        packed, warnings = _packed(_record(runs), runs)
    finally:
        (files / "accuracy" / ACCURACY_LOG).write_bytes((runs / "logs" / ACCURACY_LOG).read_bytes())
    assert warnings == [
        f"run {RUN_ID}: attached file accuracy/{ACCURACY_LOG}: holds a secret (AWS Access Key): left out "
        "(attach a cleaned copy)"
    ]
    assert list(packed) == [TREE]
