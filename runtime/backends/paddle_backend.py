"""Paddle Inference engine for `<stem>_paddle_model/` directories (model.json + model.pdiparams + edgeseg.json)
written by edgeseg's x2paddle route: NCHW float input, one image per run, outputs in the layout's order.

Paddle runs in a child process (paddle_worker): Paddle 3.3.1 crashes with SIGSEGV when it is imported into a
process that has already imported tensorflow (measured here), which any edgeseg process that exported or ran a
TFLite/SavedModel model has. oneDNN stays off: its executor in 3.3.1 cannot run the converted graph
("ConvertPirAttribute2RuntimeAttribute not support [pir::ArrayAttribute<pir::DoubleAttribute>]")."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError
from ..layouts import OUTPUT_NAMES
from .base import Artifact, BackendOptions, TensorSpec
from .child_engine import ChildEngine, ChildProcessBackend

MODEL, PARAMS = "model.json", "model.pdiparams"


class PaddleBackend(ChildProcessBackend):
    engine = "paddle"
    requires = ("paddle", "pip install 'edgeseg[paddle]'")

    def __init__(self, artifact: Artifact, options: BackendOptions):
        meta = self.cpu_fp32_metadata(artifact, options)
        folder = Path(artifact.path)
        if not (folder / MODEL).is_file() or not (folder / PARAMS).is_file():
            raise ModelFormatError(f"{folder}: a Paddle model directory needs {MODEL} and {PARAMS}")
        threads = options.threads or max(1, (os.cpu_count() or 2) // 2)
        env = {**os.environ, "GLOG_minloglevel": "2"}
        self.child = ChildEngine([sys.executable, "-m", "edgeseg.runtime.backends.paddle_worker", str(folder), str(threads)],
                                 env, folder, "Paddle Inference")
        self.names = OUTPUT_NAMES[meta.layout]
        if self.child.ready["outputs"] != len(self.names):
            self.close()
            raise ModelFormatError(f"{folder}: {self.child.ready['outputs']} outputs, layout {meta.layout} has {len(self.names)}")
        h, w = meta.imgsz
        self.inputs = [TensorSpec("images", (1, 3, h, w))]
        self.outputs = [TensorSpec(n, ()) for n in self.names]
        self.exec_precision = "fp32"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        results = [list(self.child.request(img[None]).values()) for img in batch]
        return {name: np.concatenate([r[i] for r in results]) for i, name in enumerate(self.names)}
