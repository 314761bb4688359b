"""ncnn engine for `<stem>_ncnn_model/` directories (model.ncnn.param + model.ncnn.bin + edgeseg.json).

Blob layout (pnnx names): input `in0` is one CHW float32 image (ncnn has no batch dimension, so batches are run
image by image); outputs `out0..out3` are the export wrapper's outputs in order, without the batch dimension:
edgeseg layout `boxes` (N,4) xyxy input pixels, `scores` (N,nc), `mask_coeffs` (N,32), `protos` (32,H/4,W/4);
ultralytics layout `output0` (4+nc+32,N), `output1` (32,H/4,W/4). Nothing is transposed or reordered silently:
a blob whose shape does not fit the metadata is an error.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError, UsageError
from ..layouts import OUTPUT_NAMES
from .base import Artifact, Backend, BackendOptions, TensorSpec

PARAM, WEIGHTS = "model.ncnn.param", "model.ncnn.bin"
INPUT_BLOB = "in0"


def _files(path: Path) -> tuple[Path, Path]:
    folder = path if path.is_dir() else path.parent
    param, weights = folder / PARAM, folder / WEIGHTS
    if not param.is_file() or not weights.is_file():
        raise ModelFormatError(f"{path}: an ncnn model directory needs {PARAM} and {WEIGHTS}")
    return param, weights


class NcnnBackend(Backend):
    engine = "ncnn"
    requires = ("ncnn", "pip install 'edgeseg[ncnn]'")

    def __init__(self, artifact: Artifact, options: BackendOptions):
        import ncnn

        if options.exec_precision not in (None, "fp32"):
            raise UsageError(f"ncnn computes in fp32 on this CPU; --exec-precision {options.exec_precision} is not supported")
        if (options.device or "cpu") != "cpu":
            raise UsageError(f"ncnn: only the cpu device is supported here, got '{options.device}'")
        meta = artifact.metadata
        if meta is None:
            raise ModelFormatError(f"{artifact.path}: ncnn models need the edgeseg.json sidecar (export with edgeseg)")
        param, weights = _files(artifact.path)
        self.net = ncnn.Net()
        self.net.opt.num_threads = int(options.threads or os.cpu_count() or 1)
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise ModelFormatError(f"{artifact.path}: ncnn cannot load {param.name}/{weights.name} (corrupt or truncated)")
        self.output_names = OUTPUT_NAMES[meta.layout]
        blobs = sorted(self.net.output_names())
        if blobs != [f"out{i}" for i in range(len(self.output_names))] or INPUT_BLOB not in self.net.input_names():
            raise ModelFormatError(f"{artifact.path}: expected blobs in0 -> {len(self.output_names)} outputs out0.., "
                                   f"found inputs {self.net.input_names()} outputs {blobs}")
        h, w = meta.imgsz
        self.inputs = [TensorSpec("images", (None, 3, h, w))]
        self.outputs = [TensorSpec(name, ()) for name in self.output_names]
        self.exec_precision = "fp32"

    def _run_one(self, image: np.ndarray) -> list[np.ndarray]:
        import ncnn

        extractor = self.net.create_extractor()
        extractor.input(INPUT_BLOB, ncnn.Mat(np.ascontiguousarray(image, dtype=np.float32)).clone())
        outs = []
        for i in range(len(self.output_names)):
            status, mat = extractor.extract(f"out{i}")
            if status != 0:
                raise ModelFormatError(f"ncnn: extracting out{i} failed (status {status})")
            outs.append(np.array(mat, dtype=np.float32)[None])
        return outs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        per_image = [self._run_one(img) for img in batch]
        return {name: np.concatenate([outs[i] for outs in per_image]) for i, name in enumerate(self.output_names)}
