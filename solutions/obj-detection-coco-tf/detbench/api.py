"""The solution's actions for other code (``api`` in solution.json): ``detect`` finds objects in one image.

``reefnb.use("solutions/obj-detection-coco-tf").detect(image=BASE64)`` or ``POST /v1/actions/detect`` under
``reef serve``. The default detector loads once, when the actions load; another model or backend loads on
its first request and stays loaded.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from pathlib import Path

import numpy as np

from .backends import BACKENDS, load_variant

MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "ssd-mobilenet-tiny-w100-128"
DEFAULT_BACKEND = "tflite"
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before its pixels are decoded

# COCO 2017 category ids (the 91-id scheme the TF object-detection API and the annotations use) and names
COCO_LABELS = dict(enumerate([
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light", "fire hydrant", None,
    "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    None, "backpack", "umbrella", None, None, "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", None, "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", None, "dining table", None, None, "toilet", None, "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", None, "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush"], start=1))
COCO_LABELS = {category: name for category, name in COCO_LABELS.items() if name is not None}


def shipped_models() -> list[str]:
    return sorted(path.parent.name for path in MODELS.glob("*/model.json"))


class Detect:
    """The ``detect`` action: one image (base64 JPEG or PNG) in, labelled boxes normalised to the image out."""

    def __init__(self):
        self.detectors: dict = {}
        self.detector(DEFAULT_MODEL, DEFAULT_BACKEND)  # the model loads here, once, not per call

    def detector(self, model: str, backend: str):
        key = (model, backend)
        if key not in self.detectors:
            if model not in shipped_models():
                raise ValueError(f"model: '{model}' is not one of {', '.join(shipped_models())}")
            if backend not in BACKENDS:
                raise ValueError(f"backend: '{backend}' is not one of {', '.join(BACKENDS)}")
            self.detectors[key] = load_variant(MODELS / model, backend, threads=1)
        return self.detectors[key]

    def __call__(self, image: str, threshold: float = 0.5, model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND) -> dict:
        start = time.perf_counter()
        detector = self.detector(model, backend)
        pixels, width, height = decode_image(image, detector.input_size)
        boxes, scores, classes = detector.predict(pixels[None])[0]
        detections = [
            {"label": COCO_LABELS.get(int(category), str(int(category))), "class_id": int(category), "score": round(float(score), 4),
             "box": [round(float(value), 4) for value in np.clip(box, 0.0, 1.0)]}
            for box, score, category in zip(boxes, scores, classes) if score >= threshold
        ]
        return {"detections": detections, "model": model, "backend": backend, "width": width, "height": height,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3)}


def decode_image(text: str, size: int) -> tuple[np.ndarray, int, int]:
    """A base64 JPEG or PNG (a ``data:`` URL's prefix allowed) as uint8 ``size`` x ``size`` RGB, as the benchmark
    preprocesses (bilinear resize), with the original width and height."""
    from PIL import Image, UnidentifiedImageError

    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image: not base64 data") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise ValueError(f"image: a {image.format} image; send a JPEG or PNG")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"image: {width}x{height} pixels is over the limit of {MAX_PIXELS}")
            pixels = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError):
        raise ValueError("image: not a JPEG or PNG image") from None
    return pixels, width, height


def encode_image(pixels: np.ndarray, format: str = "PNG") -> str:
    """uint8 HxWx3 pixels as the base64 text ``detect`` takes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
