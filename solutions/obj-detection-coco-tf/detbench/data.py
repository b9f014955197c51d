"""Data: a deterministic synthetic COCO-format set, real COCO subsets, and MLPerf-style preprocessing.

The synthetic set draws coloured shapes with known tight boxes on noisy gradients. Each shape class
carries a real COCO category id and name so every COCO tool (pycocotools, the LoadGen accuracy
script's format) runs unchanged; the names mean nothing beyond the ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# shape -> (COCO category id, COCO name)
SHAPES = {"ellipse": (1, "person"), "rectangle": (3, "car"), "triangle": (18, "dog"), "cross": (44, "bottle")}
CATEGORY_IDS = [category for category, _ in SHAPES.values()]
IMAGE_SIZES = [(160, 160), (192, 144), (144, 192)]  # (width, height)
EVALUATION_SEED = 2017  # the evaluation sets; training uses other seeds (train.py)


def synthetic_images(count: int, seed: int) -> tuple[list[np.ndarray], dict]:
    """``count`` images (uint8 HxWx3 RGB) and their COCO-format annotations, the same for the same seed."""
    rng = np.random.default_rng(seed)
    images, records, annotations = [], [], []
    for index in range(count):
        width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
        pixels = _background(rng, width, height)
        boxes: list[tuple[float, float, float, float]] = []
        for _ in range(int(rng.integers(1, 5))):
            placed = _place(rng, width, height, boxes)
            if placed is None:
                continue
            shape = list(SHAPES)[rng.integers(len(SHAPES))]
            x, y, w, h = placed
            _draw(pixels, shape, x, y, w, h, _contrasting_colour(rng, pixels, x, y, w, h))
            boxes.append(placed)
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": SHAPES[shape][0],
                                "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h), "iscrowd": 0})
        images.append(pixels)
        records.append({"id": index + 1, "file_name": f"{index + 1:06d}.png", "width": width, "height": height})
    categories = [{"id": category, "name": name, "supercategory": shape} for shape, (category, name) in SHAPES.items()]
    return images, {"info": {"description": f"reefnb synthetic shapes, seed {seed}"}, "images": records,
                    "annotations": annotations, "categories": categories}


def write_synthetic(target: Path, count: int, seed: int = EVALUATION_SEED) -> None:
    """Write ``count`` images as PNG under ``target/images`` and ``target/annotations.json``."""
    from PIL import Image

    target = Path(target)
    images, coco = synthetic_images(count, seed)
    (target / "images").mkdir(parents=True, exist_ok=True)
    for pixels, record in zip(images, coco["images"]):
        Image.fromarray(pixels).save(target / "images" / record["file_name"], optimize=False, compress_level=6)
    (target / "annotations.json").write_text(json.dumps(coco, sort_keys=True) + "\n", encoding="utf-8")


def make_synthetic_50(target: Path) -> None:
    """Artifact entry point: the 50-image synthetic evaluation set."""
    write_synthetic(target, 50)


def make_synthetic_500(target: Path) -> None:
    """Artifact entry point: the 500-image synthetic evaluation set (the first 50 are synthetic-50)."""
    write_synthetic(target, 500)


def load_dataset(folder: Path, images_folder: Path | None = None, count: int | None = None):
    """A COCO-format set: ``(coco, image_ids, paths)`` with the first ``count`` images of the annotation file.

    In the file's order, as MLPerf's reference harness: LoadGen's sample index ``i`` is the file's
    ``images[i]``, which is how MLPerf's ``accuracy-coco.py`` reads an accuracy log.

    ``folder`` holds ``annotations.json`` (synthetic) or ``annotations/instances_val2017.json`` (COCO).
    """
    from pycocotools.coco import COCO

    folder = Path(folder)
    annotation_file = folder / "annotations.json"
    if not annotation_file.exists():
        annotation_file = folder / "annotations" / "instances_val2017.json"
    coco = _quiet(lambda: COCO(str(annotation_file)))
    image_ids = [image["id"] for image in coco.dataset["images"]][:count]
    if count is not None and len(coco.getImgIds()) > len(image_ids):  # evaluate on the subset only
        keep = set(image_ids)
        subset = {key: value for key, value in coco.dataset.items() if key not in ("images", "annotations")}
        subset["images"] = [image for image in coco.dataset["images"] if image["id"] in keep]
        subset["annotations"] = [item for item in coco.dataset["annotations"] if item["image_id"] in keep]
        coco = _coco_from(subset)
    images_folder = Path(images_folder) if images_folder is not None else folder / "images"
    paths = [images_folder / coco.imgs[image_id]["file_name"] for image_id in image_ids]
    return coco, image_ids, paths


def preprocess(path: Path, size: int) -> np.ndarray:
    """MLPerf preprocessing for SSD-MobileNet: RGB, bilinear resize to ``size`` x ``size``, uint8 HWC."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)


def resize_array(pixels: np.ndarray, size: int) -> np.ndarray:
    """``preprocess`` for an image already in memory (training)."""
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _coco_from(dataset: dict):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    _quiet(coco.createIndex)
    return coco


def _quiet(function):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return function()


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0.0, 1.0, width if rng.random() < 0.5 else height)
    ramp = ramp[None, :, None] if len(ramp) == width else ramp[:, None, None]
    pixels = start + (end - start) * ramp * 0.6 + rng.normal(0, 12, (height, width, 3))
    return np.clip(np.broadcast_to(pixels, (height, width, 3)), 0, 255).astype(np.uint8)


def _place(rng, width, height, boxes, attempts=20):
    for _ in range(attempts):
        side = float(np.exp(rng.uniform(np.log(12), np.log(0.7 * min(width, height)))))
        aspect = float(np.exp(rng.uniform(-0.5, 0.5)))
        w, h = max(6, round(side * aspect)), max(6, round(side / aspect))
        if w >= width or h >= height:
            continue
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        if all(_iou((x, y, w, h), other) < 0.15 for other in boxes):
            return x, y, w, h
    return None


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw, ih = max(0, min(ax + aw, bx + bw) - max(ax, bx)), max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def _contrasting_colour(rng, pixels, x, y, w, h) -> np.ndarray:
    mean = pixels[y:y + h, x:x + w].reshape(-1, 3).mean(axis=0)
    for _ in range(10):
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - mean).sum() > 180:
            return colour
    return np.where(mean > 127, 0, 255)


def _draw(pixels: np.ndarray, shape: str, x: int, y: int, w: int, h: int, colour: np.ndarray) -> None:
    """Fill ``shape`` so that its tight bounding box is exactly (x, y, w, h)."""
    rows, cols = np.mgrid[0:h, 0:w]
    u, v = (cols + 0.5) / w, (rows + 0.5) / h  # 0..1 inside the box
    if shape == "ellipse":
        mask = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    elif shape == "rectangle":
        mask = np.ones((h, w), dtype=bool)
    elif shape == "triangle":  # apex at the top centre, base along the bottom
        mask = np.abs(u - 0.5) <= 0.5 * v
    else:  # a cross: two bars of a third of the box
        mask = (np.abs(u - 0.5) <= 1 / 6) | (np.abs(v - 0.5) <= 1 / 6)
    mask[[0, -1], w // 2] = True  # the extreme rows and columns touch the box's edges
    mask[h // 2, [0, -1]] = True
    region = pixels[y:y + h, x:x + w]
    region[mask] = colour
