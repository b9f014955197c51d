"""SSD anchors, box encoding and the numpy post-processing (decode + per-class NMS) of raw outputs.

Boxes are ``[ymin, xmin, ymax, xmax]`` normalised to 0..1, as the TF object-detection API outputs
them. The SavedModels do the same post-processing in TensorFlow (``train.py``); the TFLite files
hold the raw network, so the TFLite backend runs this module's version.
"""

from __future__ import annotations

import numpy as np

VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)
ASPECT_RATIOS = (1.0, 2.0, 0.5)


def anchors(config: dict) -> np.ndarray:
    """``[A, 4]`` anchors as (cy, cx, h, w) for the feature map strides and scales of ``config``."""
    size = config["input_size"]
    result = []
    for stride, scales in zip(config["strides"], config["scales"]):
        cells = size // stride
        centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        per_cell = []
        for scale in scales:
            for ratio in ASPECT_RATIOS:
                h, w = scale / np.sqrt(ratio), scale * np.sqrt(ratio)
                per_cell.append(np.stack([cy, cx, np.full_like(cy, h), np.full_like(cx, w)], axis=-1))
        result.append(np.stack(per_cell, axis=2).reshape(-1, 4))
    return np.concatenate(result).astype(np.float32)


def anchors_per_cell(config: dict) -> int:
    return len(config["scales"][0]) * len(ASPECT_RATIOS)


def corners(centred: np.ndarray) -> np.ndarray:
    cy, cx, h, w = np.moveaxis(centred, -1, 0)
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)


def iou_matrix(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of every corner box in ``boxes`` [N, 4] with every one in ``others`` [M, 4]."""
    top_left = np.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    other_area = np.prod(others[:, 2:] - others[:, :2], axis=-1)
    return intersection / np.maximum(area[:, None] + other_area[None, :] - intersection, 1e-9)


def encode_targets(ground_truth: np.ndarray, labels: np.ndarray, anchor_boxes: np.ndarray,
                   positive: float = 0.5, negative: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets [A, 4] and class targets [A] (0 background, 1..C a class, -1 ignored)."""
    count = len(anchor_boxes)
    if len(ground_truth) == 0:
        return np.zeros((count, 4), np.float32), np.zeros(count, np.int32)
    overlaps = iou_matrix(corners(anchor_boxes), ground_truth)  # [A, G]
    best = overlaps.argmax(axis=1)
    best_iou = overlaps.max(axis=1)
    classes = np.where(best_iou >= positive, labels[best], np.where(best_iou < negative, 0, -1)).astype(np.int32)
    forced = overlaps.argmax(axis=0)  # every object gets at least its best anchor
    best[forced] = np.arange(len(ground_truth))
    classes[forced] = labels
    matched = ground_truth[best]
    h, w = matched[:, 2] - matched[:, 0], matched[:, 3] - matched[:, 1]
    cy, cx = matched[:, 0] + h / 2, matched[:, 1] + w / 2
    a_cy, a_cx, a_h, a_w = anchor_boxes.T
    encoded = np.stack([(cy - a_cy) / a_h, (cx - a_cx) / a_w, np.log(np.maximum(h, 1e-6) / a_h), np.log(np.maximum(w, 1e-6) / a_w)], axis=-1)
    return (encoded / VARIANCES).astype(np.float32), classes


def decode(encoded: np.ndarray, anchor_boxes: np.ndarray) -> np.ndarray:
    """Corner boxes from the network's regression output [A, 4], clipped to the image."""
    encoded = encoded * VARIANCES
    a_cy, a_cx, a_h, a_w = anchor_boxes.T
    cy, cx = encoded[:, 0] * a_h + a_cy, encoded[:, 1] * a_w + a_cx
    h, w = np.exp(encoded[:, 2]) * a_h, np.exp(encoded[:, 3]) * a_w
    return np.clip(np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1), 0.0, 1.0)


def postprocess(encoded: np.ndarray, logits: np.ndarray, anchor_boxes: np.ndarray, category_ids: list[int],
                score_threshold: float = 0.05, iou_threshold: float = 0.5, per_class: int = 20, total: int = 50):
    """(boxes [N, 4], scores [N], COCO classes [N]) for one image: sigmoid scores, per-class greedy NMS."""
    boxes = decode(encoded, anchor_boxes)
    scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float32)))
    kept_boxes, kept_scores, kept_classes = [], [], []
    for index, category in enumerate(category_ids):
        candidates = np.flatnonzero(scores[:, index] > score_threshold)
        if not len(candidates):
            continue
        order = candidates[np.argsort(-scores[candidates, index], kind="stable")]
        chosen = []
        while len(order) and len(chosen) < per_class:
            head, order = order[0], order[1:]
            chosen.append(head)
            if len(order):
                order = order[iou_matrix(boxes[head:head + 1], boxes[order])[0] <= iou_threshold]
        kept_boxes.append(boxes[chosen])
        kept_scores.append(scores[chosen, index])
        kept_classes.append(np.full(len(chosen), category, np.float32))
    if not kept_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    boxes, scores, classes = (np.concatenate(part) for part in (kept_boxes, kept_scores, kept_classes))
    order = np.argsort(-scores, kind="stable")[:total]
    return boxes[order], scores[order], classes[order]
