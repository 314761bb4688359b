"""Thin per-engine views over one CalibrationSet, so every engine calibrates on identical tensors.

Each adapter imports its engine lazily: building a set needs none of them.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .dataset import CalibrationSet


def ort_data_reader(calib: CalibrationSet, input_name: str = "images"):
    """An onnxruntime.quantization.CalibrationDataReader yielding one NCHW image per call."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.index = 0

        def get_next(self):
            if self.index >= len(calib):
                return None
            self.index += 1
            return {input_name: calib.nchw(self.index - 1)}

        def rewind(self) -> None:
            self.index = 0

    return _Reader()


def nncf_dataset(calib: CalibrationSet):
    """An nncf.Dataset over the set (NCHW float32, one image per item)."""
    import nncf

    return nncf.Dataset(range(len(calib)), lambda i: calib.nchw(int(i)))


def tflite_representative_dataset(calib: CalibrationSet) -> Iterator[list[np.ndarray]]:
    """The TFLite converter's representative_dataset: NHWC float32 RGB [0,1], one image per step."""
    for i in range(len(calib)):
        yield [np.ascontiguousarray(calib.nchw(i).transpose(0, 2, 3, 1))]


def write_tensorrt_cache(ranges: dict[str, float], path: Path, header: str = "TRT-8600-EntropyCalibration2") -> Path:
    """A TensorRT INT8 calibration cache from per-tensor absolute maxima measured on this set.

    TensorRT's text format: a header line, then `tensor_name: <big-endian hex of the float32 scale>` per tensor,
    where scale = amax / 127. trtexec reads it with --calib=<file> on the device."""
    lines = [header]
    for name, amax in sorted(ranges.items()):
        scale = max(float(amax), 1e-12) / 127.0
        lines.append(f"{name}: {struct.pack('>f', scale).hex()}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
