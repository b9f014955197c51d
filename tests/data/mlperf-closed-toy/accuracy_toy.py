"""The toy's accuracy script: COCO mAP (pycocotools, bbox, IoU 0.50:0.95) of a LoadGen accuracy log, printed as
``mAP=NN.NNN%``, the line MLPerf's checker reads for an object detector.

    python accuracy_toy.py --mlperf-accuracy-file mlperf_log_accuracy.json --dataset-dir DIR

Each log entry is ``qsl_idx`` and float32 rows ``index, ymin, xmin, ymax, xmax, score, class`` (hex); sample ``i``
is ``DIR/annotations.json``'s ``images[i]``. Only the images the log covers are scored.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlperf-accuracy-file", required=True, type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    options = parser.parse_args()
    annotations = options.dataset_dir / "annotations.json"
    images = json.loads(annotations.read_text(encoding="utf-8"))["images"]
    results, covered = [], set()
    for entry in json.loads(options.mlperf_accuracy_file.read_text(encoding="utf-8") or "[]"):
        image = images[int(entry["qsl_idx"])]
        covered.add(image["id"])
        for _, ymin, xmin, ymax, xmax, score, label in (
            np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 7).tolist()
        ):
            box = [
                xmin * image["width"],
                ymin * image["height"],
                (xmax - xmin) * image["width"],
                (ymax - ymin) * image["height"],
            ]
            results.append({"image_id": image["id"], "category_id": int(label), "score": score, "bbox": box})
    score = 0.0
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            truth = COCO(str(annotations))
            evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
            evaluation.params.imgIds = sorted(covered)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        score = max(0.0, float(evaluation.stats[0]))
    print(f"mAP={100 * score:.3f}%")
    print(f"samples={len(covered)} detections={len(results)}")


if __name__ == "__main__":
    main()
