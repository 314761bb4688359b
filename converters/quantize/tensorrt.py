"""A TensorRT INT8 calibration cache for device-side engine builds (TensorRT itself is not installable here and
engines are tied to the device's GPU and TensorRT version): per-tensor absolute maxima of every activation of
the bundle's ONNX graph over the calibration set, measured with ONNX Runtime, written in TensorRT's cache
format. The device builds with `trtexec --int8 --fp16 --calib=calib.cache` (build_engine_int8.sh)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.calibration.adapters import write_tensorrt_cache
from edgeseg.calibration.dataset import CalibrationSet

from .graph import probe_session, with_outputs


def activation_ranges(onnx_path: Path, calib: CalibrationSet, workdir: Path) -> dict[str, float]:
    """{tensor name: max |value|} over the set, for the graph input and every node output."""
    import onnx

    model = onnx.load(str(onnx_path))
    tensors = [model.graph.input[0].name] + [out for node in model.graph.node for out in node.output if out]
    probe = with_outputs(onnx_path, tensors[1:], workdir / "ranges.onnx")
    session = probe_session(probe)
    names = [o.name for o in session.get_outputs()]
    ranges: dict[str, float] = {}
    dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    for i in range(len(calib)):
        x = calib.nchw(i).astype(dtype)
        ranges[tensors[0]] = max(ranges.get(tensors[0], 0.0), float(np.abs(x).max()))
        for name, value in zip(names, session.run(names, {tensors[0]: x})):
            if np.issubdtype(np.asarray(value).dtype, np.floating) and np.size(value):
                ranges[name] = max(ranges.get(name, 0.0), float(np.abs(value).max()))
    return ranges


def write_calibration_cache(onnx_path: Path, calib: CalibrationSet, out: Path, workdir: Path) -> Path:
    return write_tensorrt_cache(activation_ranges(onnx_path, calib, workdir), out)
