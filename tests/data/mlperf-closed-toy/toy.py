"""A toy object detector for MLPerf's closed-division machinery: a synthetic COCO-format set of 1,525 images (the
size of round v6.1's yolo data set) and a "detector" that reads each image's true boxes and answers them moved by a
deterministic jitter, paced to a fixed rate. No pixels, no network: it exists so that reef's closed-division path
(performance, accuracy and compliance runs, the tree, MLPerf's checker) runs in seconds. Its mAP is that of the
jittered boxes, scored by pycocotools; it says nothing about any real detector.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

IMAGES = 1525
CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
SEED = 95
JITTER = 0.06  # standard deviation of each box edge's move, as a fraction of the box's size


def make_dataset(target: Path) -> None:
    """Artifact entry point: ``annotations.json`` (COCO format) of IMAGES images with 1 to 3 boxes each."""
    rng = np.random.default_rng(SEED)
    images, annotations = [], []
    for index in range(IMAGES):
        width, height = (640, 480) if index % 2 else (480, 640)
        images.append({"id": index + 1, "width": width, "height": height, "file_name": f"toy-{index:04d}.jpg"})
        for _ in range(int(rng.integers(1, 4))):
            w, h = float(rng.uniform(40, width / 2)), float(rng.uniform(40, height / 2))
            x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]["id"]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    Path(target).mkdir(parents=True, exist_ok=True)
    (Path(target) / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}), encoding="utf-8"
    )


class Detector:
    """Answers sample ``i`` (the set's ``images[i]``) with float32 rows ``index, ymin, xmin, ymax, xmax, score, class``
    (normalised), the true boxes moved by a jitter seeded by the index: the same answer every time. Calls are paced to
    ``rate`` samples per second from the first one (a late wake-up is made up by the next call); with ``latency``
    (seconds), each call takes that long instead (SingleStream, MultiStream: one query per call)."""

    def __init__(self, dataset: Path, rate: float, latency: float | None = None):
        data = json.loads((Path(dataset) / "annotations.json").read_text(encoding="utf-8"))
        self.images = data["images"]
        boxes: dict[int, list] = {}
        for annotation in data["annotations"]:
            boxes.setdefault(annotation["image_id"], []).append(annotation)
        self.boxes = [boxes.get(image["id"], []) for image in self.images]
        self.answers = [self.answer(index).tobytes() for index in range(len(self.images))]  # answering costs no time
        self.rate, self.latency = rate, latency
        self.started: float | None = None
        self.answered = 0

    def answer(self, index: int) -> np.ndarray:
        image, rng = self.images[index], np.random.default_rng([SEED, index])
        rows = []
        for truth in self.boxes[index]:
            x, y, w, h = truth["bbox"]
            dx0, dy0, dx1, dy1 = rng.normal(0.0, JITTER, 4) * [w, h, w, h]
            box = [
                (y + dy0) / image["height"],
                (x + dx0) / image["width"],
                (y + h + dy1) / image["height"],
                (x + w + dx1) / image["width"],
            ]
            rows.append([index, *box, rng.uniform(0.3, 1.0), truth["category_id"]])
        return np.asarray(rows, np.float32).clip(-1e6, 1e6)

    def __call__(self, indices) -> list[bytes]:
        now = time.perf_counter()
        self.started = now if self.started is None else self.started
        self.answered += len(indices)
        answers = [self.answers[index] for index in indices]
        due = now + self.latency if self.latency is not None else self.started + self.answered / self.rate
        time.sleep(max(0.0, due - time.perf_counter()))
        return answers
