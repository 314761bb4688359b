"""OpenVINO IR from the exported ONNX graph (faster here than converting the torch module directly).

FP16 compresses weights (compress_to_fp16); metadata goes into rt_info["edgeseg_metadata"] and the sidecar.
"""
from __future__ import annotations

from pathlib import Path

from .base import ExportContext, Exporter

RT_INFO_KEY = "edgeseg_metadata"


class OpenVinoExporter(Exporter):
    format = "openvino"
    source = "onnx"
    requires = ("openvino", "onnx", "onnxscript")  # converted from the ONNX export

    def export(self, ctx: ExportContext) -> Path:
        import openvino as ov

        model = ov.convert_model(str(ctx.onnx_path))
        model.set_rt_info(ctx.metadata.to_json(), RT_INFO_KEY)
        out_dir = ctx.workdir / f"model{self.artifact_suffix}"
        out_dir.mkdir()
        ov.save_model(model, str(out_dir / "model.xml"), compress_to_fp16=ctx.options.half)
        return out_dir

    @classmethod
    def embed_metadata(cls, artifact: Path, metadata) -> None:
        import openvino as ov

        xml = artifact / "model.xml"
        model = ov.Core().read_model(str(xml))
        model.set_rt_info(metadata.to_json(), RT_INFO_KEY)
        tmp = artifact.parent / (artifact.name + ".embed")
        tmp.mkdir()
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        for part in ("model.xml", "model.bin"):
            (tmp / part).replace(artifact / part)
        tmp.rmdir()
