"""CoreML export: an ML Program `.mlpackage` converted from torch.export with coremltools.

- Input `images`: an RGB image (CoreML ImageType, scale 1/255) at the export size, so iOS/macOS apps feed camera
  pixel buffers directly; outputs `boxes`, `scores`, `mask_coeffs`, `protos` (the decode is in the graph) or the
  ultralytics pair.
- Precision: FP32 compute, `--half` FP16 compute (CoreML's own default), `--int8` INT8 weights (linear symmetric,
  per channel; coremltools.optimize) with FP16 compute. Activation INT8 (W8A8) needs CoreML prediction for its
  calibration, which only runs on macOS.
- Metadata: the edgeseg JSON in the model's user-defined metadata under "edgeseg" (and the sidecar).

Prediction needs macOS; on other hosts the export is checked against its spec (input, outputs, shapes, metadata)
instead of by running it.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch


from .base import ExportContext, Exporter
from .wrapper import INPUT_NAME

METADATA_KEY = "edgeseg"
INT8_SCHEME = "int8 weights (linear symmetric, per channel), fp16 compute"


class CoreMLExporter(Exporter):
    single_image = True
    format = "coreml"
    source = "torch"
    supports_dynamic = False
    requires = ("coremltools",)
    int8_weights_only = True
    int8_scheme = INT8_SCHEME


    def export(self, ctx: ExportContext) -> Path:
        import coremltools as ct

        h, w = ctx.options.imgsz
        example = torch.zeros(1, 3, h, w)
        precision = ct.precision.FLOAT32 if ctx.options.precision == "fp32" else ct.precision.FLOAT16
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(ctx.module, (example,)).run_decompositions({})
            model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                               inputs=[ct.ImageType(name=INPUT_NAME, shape=example.shape, scale=1 / 255,
                                                    color_layout=ct.colorlayout.RGB)],
                               outputs=[ct.TensorType(name=n) for n in ctx.module.output_names],
                               compute_precision=precision)
            if ctx.options.int8:
                model = _int8_weights(model)
        model.user_defined_metadata[METADATA_KEY] = ctx.metadata.to_json()
        model.short_description = f"edgeseg YOLOv8-seg, {len(ctx.metadata.names)} classes, {h}x{w}"
        path = ctx.workdir / f"model{self.artifact_suffix}"
        model.save(str(path))
        return path

    @classmethod
    def offline_check(cls, artifact: Path, metadata) -> str:
        """The spec must say what the metadata says: image input at imgsz, the layout's outputs, the metadata."""
        return check_spec(artifact, metadata)


def _int8_weights(model):
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8"))
    return linear_quantize_weights(model, config)


def read_spec(artifact: Path):
    import coremltools as ct

    return ct.models.MLModel(str(artifact), skip_model_load=True).get_spec()


def check_spec(artifact: Path, metadata) -> str:
    from edgeseg.runtime.layouts import OUTPUT_NAMES

    from .verify import ExportVerificationError

    spec = read_spec(artifact)
    inputs = list(spec.description.input)
    problems = []
    if len(inputs) != 1 or inputs[0].type.WhichOneof("Type") != "imageType":
        problems.append("the input is not one image")
    else:
        image = inputs[0].type.imageType
        if (image.height, image.width) != tuple(metadata.imgsz):
            problems.append(f"input is {image.height}x{image.width}, metadata says {metadata.imgsz}")
    outputs = [o.name for o in spec.description.output]
    if outputs != list(OUTPUT_NAMES[metadata.layout]):
        problems.append(f"outputs {outputs} are not {list(OUTPUT_NAMES[metadata.layout])}")
    embedded = spec.description.metadata.userDefined.get(METADATA_KEY)
    if embedded is None or json.loads(embedded).get("names") != metadata.to_dict()["names"]:
        problems.append("the embedded edgeseg metadata is missing or names other classes")
    if problems:
        raise ExportVerificationError(f"{artifact.name}: {'; '.join(problems)}")
    return (f"spec checked (image input {metadata.imgsz[0]}x{metadata.imgsz[1]}, outputs {', '.join(outputs)}, "
            f"metadata); runtime parity not checked: CoreML prediction needs macOS")
