"""The benchmark's accuracy script: COCO mAP of a LoadGen accuracy log, printed as MLPerf's checker reads it.

    python detbench/accuracy_coco.py --mlperf-accuracy-file mlperf_log_accuracy.json --dataset-dir DIR

reads LoadGen's ``mlperf_log_accuracy.json`` (one entry per sample: ``qsl_idx`` and the response bytes in
hex, float32 rows ``index, ymin, xmin, ymax, xmax, score, class`` as ``evaluate.encode_response`` writes
them) and the data set's annotations (``DIR/annotations.json``, or ``DIR/annotations/instances_val2017.json``
for COCO), scores the detections with pycocotools' bbox COCOeval over the images the log covers, and prints
``mAP=NN.NNN%`` (the line the submission checker's ``mAP`` pattern reads for an object detector), then how
many samples and detections it read. LoadGen's sample index ``i`` is the annotation file's ``images[i]``,
as ``detbench.data.load_dataset`` orders them. ``--output-file`` also writes the COCO detections as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np


def annotation_file(dataset_dir: Path) -> Path:
    """The annotation file of a synthetic set (``annotations.json``) or of COCO 2017 (val)."""
    for candidate in (dataset_dir / "annotations.json", dataset_dir / "annotations" / "instances_val2017.json"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{dataset_dir}: no annotations.json and no annotations/instances_val2017.json")


def detections(accuracy_log: Path, images: list[dict]) -> tuple[list[dict], set[int]]:
    """COCO result dicts (bbox in pixels) of every response in the log, and the ids of the images it covers."""
    found, covered = [], set()
    for entry in json.loads(accuracy_log.read_text(encoding="utf-8") or "[]"):
        index = int(entry["qsl_idx"])
        if not 0 <= index < len(images):
            raise SystemExit(f"{accuracy_log}: sample index {index} is outside the data set's {len(images)} images")
        image = images[index]
        covered.add(image["id"])
        rows = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 7)
        width, height = image["width"], image["height"]
        for _, ymin, xmin, ymax, xmax, score, label in rows.tolist():
            found.append(
                {
                    "image_id": image["id"],
                    "category_id": int(label),
                    "score": float(score),
                    "bbox": [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height],
                }
            )
    return found, covered


def coco_map(annotations: Path, found: list[dict], covered: set[int]) -> float:
    """pycocotools' bbox mAP (IoU 0.50:0.95) over the covered images; 0 when nothing was detected."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not found:  # loadRes([]) raises IndexError
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotations))
        evaluation = COCOeval(truth, truth.loadRes(found), "bbox")
        evaluation.params.imgIds = sorted(covered)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return max(0.0, float(evaluation.stats[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="COCO mAP of a LoadGen accuracy log (MLPerf's accuracy.txt line)")
    parser.add_argument("--mlperf-accuracy-file", required=True, type=Path, help="LoadGen's mlperf_log_accuracy.json")
    parser.add_argument("--dataset-dir", required=True, type=Path, help="the data set's folder (its annotations)")
    parser.add_argument("--output-file", type=Path, help="also write the COCO detections here (JSON)")
    options = parser.parse_args(argv)
    annotations = annotation_file(options.dataset_dir)
    images = json.loads(annotations.read_text(encoding="utf-8"))["images"]
    found, covered = detections(options.mlperf_accuracy_file, images)
    if options.output_file is not None:
        options.output_file.write_text(json.dumps(found), encoding="utf-8")
    score = coco_map(annotations, found, covered)
    print(f"mAP={100 * score:.3f}%")
    print(f"samples={len(covered)} detections={len(found)} annotations={annotations.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
