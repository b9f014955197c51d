"""COCO evaluation with pycocotools, the LoadGen response format, and a random-box baseline."""

from __future__ import annotations

import contextlib
import io

import numpy as np

METRIC_NAMES = ("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")


def encode_response(sample_index: int, boxes, scores, classes) -> np.ndarray:
    """One sample's detections as LoadGen response bytes: float32 rows (index, ymin, xmin, ymax, xmax, score, class),
    the layout of the MLPerf reference's SSD-MobileNet harness."""
    rows = np.zeros((len(scores), 7), np.float32)
    rows[:, 0] = sample_index
    if len(scores):
        rows[:, 1:5], rows[:, 5], rows[:, 6] = boxes, scores, classes
    return rows


def decode_responses(responses: list[tuple[int, bytes]]) -> dict[int, np.ndarray]:
    """Sample index -> rows (ymin, xmin, ymax, xmax, score, class) from an accuracy log's responses."""
    result: dict[int, np.ndarray] = {}
    for index, data in responses:
        rows = np.frombuffer(data, np.float32).reshape(-1, 7)
        result[index] = rows[:, 1:]
    return result


def coco_detections(coco, image_ids: list[int], detections: dict[int, np.ndarray]) -> list[dict]:
    """COCO result dicts (bbox in pixels, x y w h) from normalised rows per sample index."""
    results = []
    for index, rows in detections.items():
        image = coco.imgs[image_ids[index]]
        width, height = image["width"], image["height"]
        for ymin, xmin, ymax, xmax, score, category in rows:
            results.append({"image_id": image["id"], "category_id": int(category), "score": float(score),
                            "bbox": [float(xmin * width), float(ymin * height), float((xmax - xmin) * width), float((ymax - ymin) * height)]})
    return results


def evaluate(coco, results: list[dict], image_ids: list[int] | None = None) -> dict[str, float]:
    """pycocotools' bbox COCOeval: mAP (IoU 0.5:0.95), AP50, AP75 and AP for small, medium, large objects."""
    from pycocotools.cocoeval import COCOeval

    if not results:  # loadRes([]) raises IndexError: no detections means nothing was found
        return {name: 0.0 for name in METRIC_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        found = coco.loadRes(results)
        evaluation = COCOeval(coco, found, "bbox")
        if image_ids is not None:
            evaluation.params.imgIds = list(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # COCOeval reports -1 where a category of objects is absent (no large objects): read it as 0
    return {name: max(0.0, float(value)) for name, value in zip(METRIC_NAMES, evaluation.stats[:6])}


def random_baseline(coco, image_ids: list[int], seed: int = 0, per_image: int = 20) -> dict[str, float]:
    """The same evaluation for boxes drawn at random (uniform corners, a random class and score)."""
    rng = np.random.default_rng(seed)
    category_ids = sorted(coco.getCatIds())
    results = []
    for image_id in image_ids:
        image = coco.imgs[image_id]
        for _ in range(per_image):
            x0, x1 = np.sort(rng.random(2)) * image["width"]
            y0, y1 = np.sort(rng.random(2)) * image["height"]
            results.append({"image_id": image_id, "category_id": int(rng.choice(category_ids)), "score": float(rng.random()),
                            "bbox": [float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))]})
    return evaluate(coco, results, image_ids)
