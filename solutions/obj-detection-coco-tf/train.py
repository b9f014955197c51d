"""Train the small SSD-style MobileNet detectors on synthetic shapes and export what the benchmark ships.

    python train.py                 # every variant into models/<variant>/
    python train.py --variant ssd-mobilenet-tiny-w050-96 --epochs 2   # a quick look

Each variant gets ``saved_model/`` (a ``serving_default`` signature that takes ``image_tensor``
uint8 [N, S, S, 3] and returns ``detection_boxes``, ``detection_scores``, ``detection_classes``
and ``num_detections`` as the TF object-detection API does), ``model.tflite`` (fp32, the raw
network), ``model-int8.tflite`` (full-integer quantised, uint8 input) and ``model.json`` (anchors,
classes, parameter count, training settings, the files' sha256). Deterministic: fixed seeds, the
training images from ``detbench.data`` with seeds apart from the evaluation sets', and TensorFlow's
op determinism on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from detbench import boxes as box_ops  # noqa: E402
from detbench.data import CATEGORY_IDS, resize_array, synthetic_images  # noqa: E402

VARIANTS = {
    "ssd-mobilenet-tiny-w050-96": {"width": 0.5, "input_size": 96},
    "ssd-mobilenet-tiny-w100-128": {"width": 1.0, "input_size": 128},
}
STRIDES = [8, 16, 32]
SCALES = [[0.08, 0.13], [0.2, 0.3], [0.45, 0.7]]
TRAINING_SEED = 1
TRAINING_IMAGES = 2000
BATCH = 32
MAX_DETECTIONS = 50


def config_for(name: str) -> dict:
    variant = VARIANTS[name]
    return {"name": name, "width": variant["width"], "input_size": variant["input_size"], "strides": STRIDES,
            "scales": SCALES, "category_ids": CATEGORY_IDS, "max_detections": MAX_DETECTIONS}


def build_model(config: dict):
    """A MobileNet-v1-style backbone (depthwise separable convolutions) with SSD heads at strides 8, 16, 32."""
    import keras
    from keras import layers

    def channels(count: int) -> int:
        return max(8, int(count * config["width"]))

    def conv_bn(x, filters, kernel, stride, name):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu")(x)

    def separable(x, filters, stride, name):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
        return conv_bn(x, filters, 1, 1, f"{name}_pw")

    size = config["input_size"]
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    x = conv_bn(x, channels(16), 3, 2, "stem")  # /2
    x = separable(x, channels(32), 1, "block1")
    x = separable(x, channels(64), 2, "block2")  # /4
    x = separable(x, channels(64), 1, "block3")
    x = separable(x, channels(128), 2, "block4")  # /8
    stride8 = separable(x, channels(128), 1, "block5")
    x = separable(stride8, channels(192), 2, "block6")  # /16
    stride16 = separable(x, channels(192), 1, "block7")
    stride32 = separable(stride16, channels(192), 2, "block8")  # /32
    per_cell = box_ops.anchors_per_cell(config)
    classes = len(config["category_ids"])
    prior = keras.initializers.Constant(-np.log((1 - 0.01) / 0.01))
    all_boxes, all_logits = [], []
    for index, feature in enumerate([stride8, stride16, stride32]):
        all_boxes.append(layers.Reshape((-1, 4), name=f"boxes{index}")(
            layers.SeparableConv2D(per_cell * 4, 3, padding="same", name=f"box_head{index}")(feature)))
        all_logits.append(layers.Reshape((-1, classes), name=f"logits{index}")(
            layers.SeparableConv2D(per_cell * classes, 3, padding="same", bias_initializer=prior, name=f"class_head{index}")(feature)))
    box_output = layers.Concatenate(axis=1, name="box_encodings")(all_boxes)
    logit_output = layers.Concatenate(axis=1, name="class_logits")(all_logits)
    return keras.Model(inputs, [box_output, logit_output], name=config["name"].replace("-", "_"))


def training_set(config: dict, anchor_boxes: np.ndarray, count: int, seed: int):
    images, coco = synthetic_images(count, seed)
    size = config["input_size"]
    label_of = {category: index + 1 for index, category in enumerate(config["category_ids"])}
    by_image: dict[int, list] = {}
    for annotation in coco["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    pixels = np.stack([resize_array(image, size) for image in images])
    box_targets, class_targets = [], []
    for record in coco["images"]:
        found = by_image.get(record["id"], [])
        width, height = record["width"], record["height"]
        truth = np.array([[y / height, x / width, (y + h) / height, (x + w) / width] for x, y, w, h in (a["bbox"] for a in found)],
                         dtype=np.float32).reshape(-1, 4)
        labels = np.array([label_of[a["category_id"]] for a in found], dtype=np.int32)
        encoded, classes = box_ops.encode_targets(truth, labels, anchor_boxes)
        box_targets.append(encoded)
        class_targets.append(classes)
    return pixels, np.stack(box_targets), np.stack(class_targets)


def train(config: dict, epochs: int, images: int, log=print):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(TRAINING_SEED)
    tf.config.experimental.enable_op_determinism()
    anchor_boxes = box_ops.anchors(config)
    pixels, box_targets, class_targets = training_set(config, anchor_boxes, images, TRAINING_SEED)
    model = build_model(config)
    classes = len(config["category_ids"])
    steps = epochs * (len(pixels) // BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, warmup_target=None)
    optimizer = keras.optimizers.Adam(schedule)

    @tf.function(reduce_retracing=True)
    def step(batch_pixels, batch_boxes, batch_classes):
        with tf.GradientTape() as tape:
            encodings, logits = model(tf.cast(batch_pixels, tf.float32), training=True)
            positive = tf.cast(batch_classes > 0, tf.float32)
            valid = tf.cast(batch_classes >= 0, tf.float32)
            positives = tf.maximum(tf.reduce_sum(positive), 1.0)
            onehot = tf.one_hot(tf.maximum(batch_classes, 0) - 1, classes) * positive[..., None]
            probability = tf.sigmoid(logits)
            cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=onehot, logits=logits)
            p_t = onehot * probability + (1 - onehot) * (1 - probability)
            alpha = onehot * 0.25 + (1 - onehot) * 0.75
            focal = tf.reduce_sum(alpha * (1 - p_t) ** 2 * cross_entropy, axis=-1) * valid
            huber = tf.reduce_sum(tf.keras.losses.huber(batch_boxes[..., None], encodings[..., None]) * 1.0, axis=-1) * positive
            loss = (tf.reduce_sum(focal) + tf.reduce_sum(huber)) / positives
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    rng = np.random.default_rng(TRAINING_SEED)
    started = time.monotonic()
    for epoch in range(epochs):
        order = rng.permutation(len(pixels))
        losses = []
        for start in range(0, len(order) - BATCH + 1, BATCH):
            chosen = np.sort(order[start:start + BATCH])
            flip = rng.random() < 0.5  # horizontal flip of the whole batch: boxes mirror, anchors are symmetric
            batch_pixels, batch_boxes, batch_classes = pixels[chosen], box_targets[chosen], class_targets[chosen]
            if flip:
                batch_pixels = batch_pixels[:, :, ::-1]
                batch_boxes, batch_classes = _mirrored_targets(batch_boxes, batch_classes, config)
            losses.append(float(step(batch_pixels, batch_boxes, batch_classes)))
        log(f"{config['name']}: epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f} ({time.monotonic() - started:.0f} s)")
    return model, pixels


def _mirrored_targets(batch_boxes, batch_classes, config):
    """Targets of horizontally flipped images: anchor (row, col, k) takes those of (row, cells-1-col, k)."""
    boxes, classes, start = [], [], 0
    per_cell = box_ops.anchors_per_cell(config)
    for stride in config["strides"]:
        cells = config["input_size"] // stride
        count = cells * cells * per_cell
        part_boxes = batch_boxes[:, start:start + count].reshape(-1, cells, cells, per_cell, 4)[:, :, ::-1]
        part_classes = batch_classes[:, start:start + count].reshape(-1, cells, cells, per_cell)[:, :, ::-1]
        part_boxes = part_boxes * np.array([1, -1, 1, 1], np.float32)  # the x offset changes sign
        boxes.append(part_boxes.reshape(len(batch_boxes), count, 4))
        classes.append(part_classes.reshape(len(batch_boxes), count))
        start += count
    return np.concatenate(boxes, axis=1), np.concatenate(classes, axis=1)


def export(model, config: dict, pixels: np.ndarray, target: Path, log=print) -> dict:
    """Write the SavedModel, both TFLite files and model.json into ``target``; check the TFLite outputs."""
    import keras
    import tensorflow as tf

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    size = config["input_size"]
    centred = tf.constant(box_ops.anchors(config))
    category_ids = tf.constant(config["category_ids"], tf.float32)
    variances = tf.constant(box_ops.VARIANCES)

    def detect(image_tensor):
        encodings, logits = model(tf.cast(image_tensor, tf.float32), training=False)
        encodings = encodings * variances
        cy = encodings[..., 0] * centred[:, 2] + centred[:, 0]
        cx = encodings[..., 1] * centred[:, 3] + centred[:, 1]
        h = tf.exp(encodings[..., 2]) * centred[:, 2]
        w = tf.exp(encodings[..., 3]) * centred[:, 3]
        corners = tf.clip_by_value(tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1), 0.0, 1.0)
        nmsed_boxes, nmsed_scores, nmsed_classes, valid = tf.image.combined_non_max_suppression(
            corners[:, :, None, :], tf.sigmoid(logits), max_output_size_per_class=20, max_total_size=config["max_detections"],
            iou_threshold=0.5, score_threshold=0.05, clip_boxes=False)
        return {"detection_boxes": nmsed_boxes, "detection_scores": nmsed_scores,
                "detection_classes": tf.gather(category_ids, tf.cast(nmsed_classes, tf.int32)),
                "num_detections": tf.cast(valid, tf.float32)}

    module = tf.Module()
    module.model = model
    module.detect = tf.function(detect, input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8, name="image_tensor")])
    tf.saved_model.save(module, str(target / "saved_model"), signatures={"serving_default": module.detect})

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (target / "model.tflite").write_bytes(converter.convert())
    calibration = pixels[:200].astype(np.float32)

    def representative():
        for image in calibration:
            yield [image[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    (target / "model-int8.tflite").write_bytes(converter.convert())

    sample = pixels[:8].astype(np.float32)
    reference = [np.asarray(output) for output in model(sample, training=False)]
    differences = {}
    for name in ("model.tflite", "model-int8.tflite"):
        outputs = _run_tflite(target / name, pixels[:8])
        difference = max(float(np.max(np.abs(got - want))) for got, want in zip(outputs, reference))
        if not np.all(np.isfinite(outputs[0])) or (name == "model.tflite" and difference > 1e-3):
            raise SystemExit(f"{target / name}: outputs differ from the Keras model's by {difference}")
        differences[name] = difference
    log(f"{config['name']}: TFLite max |difference| from Keras: {differences}")
    metadata = dict(config, parameters=int(model.count_params()),
                    training={"seed": TRAINING_SEED, "images": int(len(pixels)), "batch": BATCH,
                              "tensorflow": tf.__version__, "keras": keras.__version__},
                    tflite_max_abs_difference=differences,
                    files={str(path.relative_to(target)): _sha256(path) for path in sorted(target.rglob("*")) if path.is_file()})
    (target / "model.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metadata


def _run_tflite(path: Path, pixels: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(pixels.shape))
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    interpreter.set_tensor(details["index"], pixels.astype(details["dtype"]))
    interpreter.invoke()
    outputs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])  # ":0" box encodings, ":1" class logits
    return [interpreter.get_tensor(output["index"]) for output in outputs]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), action="append", help="default: all")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--images", type=int, default=TRAINING_IMAGES)
    parser.add_argument("--output", type=Path, default=HERE / "models")
    arguments = parser.parse_args(argv)
    for name in arguments.variant or sorted(VARIANTS):
        config = config_for(name)
        model, pixels = train(config, arguments.epochs, arguments.images)
        export(model, config, pixels, arguments.output / name)


if __name__ == "__main__":
    main()
