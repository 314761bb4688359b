"""TensorFlow SavedModel and frozen GraphDef exports, from the same onnx2tf conversion as TFLite (NHWC input, FP32,
outputs in the ONNX graph's order). `<stem>_saved_model/` holds the SavedModel plus the edgeseg.json sidecar;
`<stem>.pb` is the frozen graph of its serving signature plus `<stem>.pb.edgeseg.json`."""
from __future__ import annotations

import shutil
from pathlib import Path

from .base import ExportContext, Exporter
from .tflite_convert import run_onnx2tf

SAVED_MODEL_PARTS = ("saved_model.pb", "variables", "assets", "fingerprint.pb")


class SavedModelExporter(Exporter):
    format = "saved_model"
    source = "onnx"
    supports_dynamic = False
    supports_half = False
    single_image = True
    input_layout = "NHWC"
    requires = ("onnx2tf", "tensorflow", "onnx", "onnxscript")

    def export(self, ctx: ExportContext) -> Path:
        converted = run_onnx2tf(ctx.onnx_path)["saved_model"]
        out_dir = ctx.workdir / f"model{SavedModelExporter.artifact_suffix}"
        out_dir.mkdir()
        for part in SAVED_MODEL_PARTS:
            src = converted / part
            if src.is_dir():
                shutil.copytree(src, out_dir / part)
            elif src.is_file():
                shutil.copy(src, out_dir / part)
        return out_dir


class GraphDefExporter(SavedModelExporter):
    format = "graphdef"

    def export(self, ctx: ExportContext) -> Path:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        saved = super().export(ctx)
        function = tf.saved_model.load(str(saved)).signatures["serving_default"]
        names = list(ctx.module.output_names)
        keys = names if set(names) <= set(function.structured_outputs) else sorted(function.structured_outputs)
        (spec,) = function.structured_input_signature[1].values()

        @tf.function(input_signature=[tf.TensorSpec(spec.shape, spec.dtype, name="images")])
        def ordered(images):  # frozen outputs Identity, Identity_1, ... in the layout's order
            out = function(images=images)
            return [out[k] for k in keys]

        frozen = convert_variables_to_constants_v2(ordered.get_concrete_function())
        path = ctx.workdir / f"model{self.artifact_suffix}"
        path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
        return path
