"""ONNX -> TensorFlow SavedModel -> TFLite with onnx2tf, kept offline and fed our own calibration data.

Why this route: onnx2tf gives, from the graph every other export starts from, the SavedModel (for TF, GraphDef
and TF.js), FP32/FP16 TFLite and full-integer INT8 with int8 I/O (what the Edge TPU compiler takes) in one pass,
with NHWC inputs for mobile; litert-torch (torch -> TFLite directly) needs no TensorFlow but writes no
SavedModel, and its PT2E INT8 path produced an unrunnable Softmax here (../shared/notes/toolchains.md).

Traps handled: onnx2tf downloads a sample calibration array even when given one (offline it fails), so a
placeholder with that name is put in its working directory; it prints pages of logs, which go to a buffer that
is shown only when it fails.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from edgeseg.calibration.adapters import tflite_representative_dataset
from edgeseg.calibration.dataset import CalibrationSet

from .base import ExportToolError
from .ncnn_export import quiet_fds
from .wrapper import INPUT_NAME

ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"
VARIANTS = {"fp32": "float32", "fp16": "float16", "int8": "full_integer_quant", "int8-float-io": "integer_quant"}


@contextlib.contextmanager
def _in_dir(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


_CONVERTED: dict[tuple[str, str], dict[str, Path]] = {}  # (ONNX sha256, calibration) -> files, for this process


def run_onnx2tf(onnx_path: Path, calib: CalibrationSet | None = None) -> dict[str, Path]:
    """Convert; returns {variant: .tflite path} plus "saved_model": the SavedModel directory (callers copy what
    they need out). One conversion gives every variant, so the same graph (same bytes, same calibration) is
    converted once per process: `--all` asks for TFLite FP32/FP16/INT8, SavedModel, GraphDef and TF.js of it."""
    from edgeseg.runtime.paths import sha256_file

    key = (sha256_file(onnx_path), calib.manifest_sha256 + str(len(calib)) if calib is not None else "")
    reusable = [files for (sha, cal), files in _CONVERTED.items() if sha == key[0] and (cal == key[1] or not key[1])]
    if reusable and all(Path(p).exists() for p in reusable[0].values()):
        return reusable[0]
    _CONVERTED[key] = files = _convert(onnx_path, _process_dir() / f"{key[0][:16]}_{len(_CONVERTED)}", calib)
    return files


def _process_dir() -> Path:
    """Where this process keeps its conversions (removed when it exits)."""
    global _PROCESS_DIR
    if _PROCESS_DIR is None:
        import atexit
        import shutil
        import tempfile

        _PROCESS_DIR = Path(tempfile.mkdtemp(prefix="edgeseg-onnx2tf-"))
        atexit.register(shutil.rmtree, _PROCESS_DIR, ignore_errors=True)
    return _PROCESS_DIR


_PROCESS_DIR: Path | None = None


def _convert(onnx_path: Path, out_dir: Path, calib: CalibrationSet | None) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import onnx2tf

    # absolute paths: onnx2tf runs inside its working directory (a relative --output once made it look for the
    # ONNX file under that directory)
    onnx_path, out_dir = Path(onnx_path).resolve(), Path(out_dir).resolve()
    work = out_dir.parent / f"{out_dir.name}_work"
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / ONNX2TF_SAMPLE, np.zeros((20, 128, 128, 3), np.float32))
    kwargs = {}
    if calib is not None:
        data = np.concatenate([batch[0] for batch in tflite_representative_dataset(calib)])
        np.save(work / "calib.npy", data)
        zeros, ones = np.zeros((1, 1, 1, 3), np.float32), np.ones((1, 1, 1, 3), np.float32)
        kwargs = dict(output_integer_quantized_tflite=True, quant_type="per-channel",
                      custom_input_op_name_np_data_path=[[INPUT_NAME, str(work / "calib.npy"), zeros, ones]])
    log = io.StringIO()
    with _in_dir(work), quiet_fds(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            onnx2tf.convert(input_onnx_file_path=str(onnx_path), output_folder_path=str(out_dir), non_verbose=True,
                            copy_onnx_input_output_names_to_tflite=True, not_use_onnxsim=True,
                            disable_group_convolution=True, enable_batchmatmul_unfold=True, **kwargs)
        except BaseException as err:  # onnx2tf calls sys.exit on some failures
            raise ExportToolError(f"onnx2tf failed ({type(err).__name__}: {err}); log ends: "
                                  f"{log.getvalue()[-600:]}") from None
    stem = onnx_path.stem
    found = {key: out_dir / f"{stem}_{suffix}.tflite" for key, suffix in VARIANTS.items()}
    found = {key: path for key, path in found.items() if path.is_file()}
    found["saved_model"] = out_dir
    return found
