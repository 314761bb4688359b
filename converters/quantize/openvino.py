"""OpenVINO INT8 with NNCF post-training quantisation: MIXED preset (symmetric weights, asymmetric activations),
the float tail and any sensitive layers in the ignored scope, selected by the ONNX node names they came from."""
from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

from edgeseg.calibration.adapters import nncf_dataset
from edgeseg.calibration.dataset import CalibrationSet
from edgeseg.runtime.errors import UsageError

from .base import QuantizeResult, Quantizer


def ignored_scope(keep_float: list[str]):
    """OpenVINO names a converted ONNX node after it, and splits a conv's bias into '<name>/WithoutBiases' + add;
    a pattern per node catches both."""
    import nncf

    patterns = [f"^{re.escape(name)}(/.*)?$" for name in keep_float]
    return nncf.IgnoredScope(patterns=patterns, validate=False)


class NncfQuantizer(Quantizer):
    engine = "openvino"
    requires = ("openvino", "nncf")

    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        if method not in ("auto", "minmax"):
            raise UsageError(f"OpenVINO INT8 uses NNCF's own range estimation; --calib-method {method} applies to "
                             f"ONNX Runtime only (use auto)")
        import nncf
        import openvino as ov

        logging.getLogger("nncf").setLevel(logging.ERROR)
        model = ov.convert_model(str(fp32_onnx))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quantized = nncf.quantize(model, nncf_dataset(calib), preset=nncf.QuantizationPreset.MIXED,
                                      subset_size=len(calib), ignored_scope=ignored_scope(keep_float))
        out_dir = workdir / "model_int8_openvino_model"
        out_dir.mkdir()
        ov.save_model(quantized, str(out_dir / "model.xml"), compress_to_fp16=False)
        details = {"engine": self.engine, "scheme": "NNCF PTQ, MIXED preset (s8 symmetric weights per-channel, "
                   "u8 asymmetric activations per-tensor)", "method": "nncf-default", "calibration_images": len(calib)}
        return QuantizeResult(out_dir, details)
