"""Detectors behind one interface: TF1 frozen graphs, SavedModels and TFLite files.

Every detector takes a batch of preprocessed images (uint8 [N, S, S, 3]) and returns, per image,
``(boxes, scores, classes)``: boxes ``[ymin, xmin, ymax, xmax]`` normalised to 0..1 and classes
as COCO category ids, as the TF object-detection API's ``detection_*`` outputs give them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
INPUT = "image_tensor"
BACKENDS = ("tf", "tflite", "tflite-int8")


class ModelError(Exception):
    """A model file that cannot be used; the message names the file."""


@dataclass
class Detector:
    name: str
    backend: str
    path: Path  # the file or folder loaded
    input_size: int
    size_bytes: int
    parameters: int | None
    predict: object  # callable: uint8 [N, S, S, 3] -> list of (boxes, scores, classes)


def configure_threads(threads: int) -> None:
    """TensorFlow's thread pools; call before the first TensorFlow operation."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started (a second model in the same kernel): keep its pools
        pass


def load_variant(folder: Path, backend: str, threads: int = 1) -> Detector:
    """A shipped variant (``models/<name>/`` with ``model.json``) for ``backend`` (tf, tflite, tflite-int8)."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{folder / 'model.json'}: cannot read the model's description: {error}") from None
    if backend == "tf":
        detector = load_saved_model(folder / "saved_model", config["input_size"])
    elif backend in ("tflite", "tflite-int8"):
        detector = load_tflite(folder / ("model.tflite" if backend == "tflite" else "model-int8.tflite"), config, threads)
    else:
        raise ModelError(f"backend: '{backend}' is not one of {', '.join(BACKENDS)}")
    detector.name = config["name"]
    detector.parameters = config.get("parameters")
    return detector


def load_saved_model(path: Path, input_size: int) -> Detector:
    """A SavedModel whose ``serving_default`` signature maps ``image_tensor`` to the ``detection_*`` outputs."""
    import tensorflow as tf

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ModelError(f"{path}: no saved_model.pb: not a SavedModel")
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ModelError(f"{path}: no 'serving_default' signature")
    function = loaded.signatures["serving_default"]
    missing = [name for name in OUTPUTS if name not in function.structured_outputs]
    if missing:
        raise ModelError(f"{path}: the serving signature lacks {', '.join(missing)}")

    def predict(batch: np.ndarray):
        outputs = function(**{INPUT: tf.constant(batch)})
        return _split({name: outputs[name].numpy() for name in OUTPUTS})

    detector = Detector(path.name, "tf", path, input_size, _size(path), None, predict)
    detector.keep = loaded  # the signature's variables live as long as the object that owns them
    return detector


def load_frozen_graph(path: Path, input_size: int) -> Detector:
    """A TF1 frozen graph (``.pb``) with ``image_tensor:0`` in and the four ``detection_*`` tensors out."""
    import tensorflow as tf

    path = Path(path)
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except OSError as error:
        raise ModelError(f"{path}: cannot read: {error.strerror}") from None
    except Exception as error:  # protobuf's DecodeError and friends
        raise ModelError(f"{path}: not a GraphDef: {error}") from None
    names = {node.name for node in graph_def.node}
    missing = [name for name in (INPUT, *OUTPUTS) if name not in names]
    if missing:
        raise ModelError(f"{path}: the graph has no tensor {', '.join(n + ':0' for n in missing)}")

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    function = wrapped.prune(wrapped.graph.get_tensor_by_name(f"{INPUT}:0"),
                             [wrapped.graph.get_tensor_by_name(f"{name}:0") for name in OUTPUTS])

    def predict(batch: np.ndarray):
        return _split(dict(zip(OUTPUTS, (output.numpy() for output in function(tf.constant(batch))))))

    return Detector(path.stem, "tf", path, input_size, path.stat().st_size, None, predict)


def load_tflite(path: Path, config: dict, threads: int = 1) -> Detector:
    """A TFLite file of the raw network (box encodings, class logits); decoded and NMS'd in numpy."""
    from .boxes import anchors, postprocess

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such TFLite file")
    interpreter_class = _interpreter_class()
    with _native_info_dropped():  # the first allocation applies the XNNPACK delegate, which says so on fd 2
        interpreter = interpreter_class(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    outputs = sorted(interpreter.get_output_details(), key=lambda detail: detail["name"])  # ":0" boxes, ":1" logits
    anchor_boxes = anchors(config)
    category_ids = config["category_ids"]
    state = {"batch": None}

    def predict(batch: np.ndarray):
        if state["batch"] != len(batch):
            interpreter.resize_tensor_input(input_detail["index"], [len(batch), *input_detail["shape"][1:]])
            interpreter.allocate_tensors()
            state["batch"] = len(batch)
        interpreter.set_tensor(input_detail["index"], batch.astype(input_detail["dtype"], copy=False))
        interpreter.invoke()
        encodings, logits = (interpreter.get_tensor(output["index"]) for output in outputs)
        return [postprocess(encodings[i], logits[i], anchor_boxes, category_ids) for i in range(len(batch))]

    return Detector(path.stem, "tflite-int8" if input_detail["dtype"] == np.uint8 else "tflite", path,
                    config["input_size"], path.stat().st_size, None, predict)


def export_frozen_graph(saved_model: Path, output: Path, input_size: int) -> Path:
    """Freeze a SavedModel's serving signature into a TF1 graph with the object-detection API's tensor names."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(saved_model))  # owns the variables: keep it while freezing
    signature = loaded.signatures["serving_default"]
    frozen = convert_variables_to_constants_v2(signature)
    inner = frozen.graph.as_graph_def()
    input_name = frozen.inputs[0].name
    # the frozen function's outputs are the signature's dict flattened: in sorted key order
    by_key = dict(zip(sorted(signature.structured_outputs), frozen.outputs))
    output_names = [by_key[name].name for name in OUTPUTS]
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.uint8, [None, input_size, input_size, 3], name=INPUT)
        results = tf.graph_util.import_graph_def(inner, input_map={input_name: image}, return_elements=output_names, name="model")
        for name, tensor in zip(OUTPUTS, results):
            tf.identity(tensor, name=name)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(graph.as_graph_def().SerializeToString())
    return output


@contextmanager
def _native_info_dropped():
    """TFLite's C++ logger prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to file
    descriptor 2 when an interpreter first applies its default delegate: in a notebook, a stderr box that is no
    error. Neither ai_edge_litert nor tf.lite lets Python lower the logger's severity (TF_CPP_MIN_LOG_LEVEL does not
    reach it), so while the interpreter is made fd 2 points at a temporary file: its ``INFO:`` lines are dropped,
    anything else (a warning, an error) is written back to fd 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True) if not line.startswith(b"INFO: ")]
            if kept:
                os.write(2, b"".join(kept))


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    return Interpreter


def _split(outputs: dict) -> list:
    result = []
    for index in range(len(outputs["num_detections"])):
        count = int(outputs["num_detections"][index])
        result.append((outputs["detection_boxes"][index, :count], outputs["detection_scores"][index, :count],
                       outputs["detection_classes"][index, :count]))
    return result


def _size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) if path.is_dir() else path.stat().st_size
