"""TensorFlow engine for SavedModel directories (`*_saved_model/`) and frozen GraphDefs (`*.pb`), as written by
edgeseg's onnx2tf route: NHWC float input, outputs in the source graph's order (`output_0..` in the serving
signature, `Identity`, `Identity_1`, ... in the frozen graph, which edgeseg freezes in the layout's order)."""
from __future__ import annotations

import os
import re

import numpy as np

from ..errors import ModelFormatError
from ..layouts import OUTPUT_NAMES
from .base import Artifact, Backend, BackendOptions, TensorSpec


def _index(name: str) -> int:
    match = re.search(r"_(\d+)(?::\d+)?$", name)
    return int(match.group(1)) if match else 0


class TensorFlowBackend(Backend):
    engine = "tensorflow"
    requires = ("tensorflow", "pip install tensorflow")

    def __init__(self, artifact: Artifact, options: BackendOptions):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        meta = self.cpu_fp32_metadata(artifact, options)
        try:
            self.function, self.output_keys = (self._saved_model(tf, artifact.path) if artifact.format == "saved_model"
                                               else self._graphdef(tf, artifact.path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise ModelFormatError(f"{artifact.path}: tensorflow cannot load this model ({str(err).splitlines()[0][:200]})") from None
        names = OUTPUT_NAMES[meta.layout]
        if set(names) <= set(self.output_keys):  # signatures that kept the source graph's output names
            self.output_keys = list(names)
        if len(self.output_keys) != len(names):
            raise ModelFormatError(f"{artifact.path}: {len(self.output_keys)} outputs, layout {meta.layout} has {len(names)}")
        self.names = names
        h, w = meta.imgsz
        self.inputs = [TensorSpec("images", (1, h, w, 3))]
        self.outputs = [TensorSpec(n, ()) for n in names]
        self.exec_precision = "fp32"

    @staticmethod
    def _saved_model(tf, path):
        function = tf.saved_model.load(str(path)).signatures["serving_default"]
        keys = sorted(function.structured_outputs, key=_index)
        return (lambda x: function(images=x)), keys

    @staticmethod
    def _graphdef(tf, path):
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(path.read_bytes())
        placeholder = next(n.name for n in graph_def.node if n.op == "Placeholder")
        outputs = sorted((n.name for n in graph_def.node if n.name.startswith("Identity")), key=_index)
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        pruned = wrapped.prune(f"{placeholder}:0", [f"{name}:0" for name in outputs])
        return (lambda x: dict(zip(outputs, pruned(tf.constant(x))))), outputs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        results = [self.function(np.ascontiguousarray(img[None].transpose(0, 2, 3, 1))) for img in batch]
        out = {}
        for name, key in zip(self.names, self.output_keys):
            value = np.concatenate([np.asarray(r[key], dtype=np.float32) for r in results])
            out[name] = value.transpose(0, 3, 1, 2) if value.ndim == 4 else value
        return out
