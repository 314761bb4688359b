"""TF.js engine for `<stem>_web_model/` graph models: Node.js runs the model with @tensorflow/tfjs (wasm backend,
cpu fallback) in one long-lived child process, fed NHWC float32 over a pipe (tfjs_runner.js), so edgeseg checks a
web model with the same JavaScript kernels a browser or a Node service would use.

Needs `node` on PATH and the npm packages in EDGESEG_TFJS_MODULES or <cache>/tfjs/node_modules:
  npm install --prefix ~/.cache/edgeseg/tfjs @tensorflow/tfjs-core @tensorflow/tfjs-converter
      @tensorflow/tfjs-backend-cpu @tensorflow/tfjs-backend-wasm      (or: make tfjs-node)"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError
from ..layouts import OUTPUT_NAMES
from ..paths import cache_dir
from .base import Artifact, BackendOptions, TensorSpec
from .child_engine import ChildEngine, ChildProcessBackend

RUNNER = Path(__file__).with_name("tfjs_runner.js")
PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-converter", "@tensorflow/tfjs-backend-cpu")
INSTALL = ("npm install --prefix ~/.cache/edgeseg/tfjs @tensorflow/tfjs-core @tensorflow/tfjs-converter "
           "@tensorflow/tfjs-backend-cpu @tensorflow/tfjs-backend-wasm (or set EDGESEG_TFJS_MODULES)")


def node_modules() -> Path:
    return Path(os.environ.get("EDGESEG_TFJS_MODULES") or cache_dir("tfjs", "node_modules"))


class TfjsBackend(ChildProcessBackend):
    engine = "tfjs"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if shutil.which("node") is None:
            return False, "Node.js is not on PATH (apt install nodejs)"
        missing = [p for p in PACKAGES if not (node_modules() / p / "package.json").is_file()]
        if missing:
            return False, f"npm packages {', '.join(missing)} not in {node_modules()}: {INSTALL}"
        return True, f"node + @tensorflow/tfjs in {node_modules()}"

    def __init__(self, artifact: Artifact, options: BackendOptions):
        meta = self.cpu_fp32_metadata(artifact, options)
        self.signature = self._check_files(artifact.path, meta)
        env = {**os.environ, "NODE_PATH": str(node_modules())}
        self.child = ChildEngine(["node", str(RUNNER), str(artifact.path), str(options.threads or 0)], env,
                                 artifact.path, "TF.js (Node.js)")
        self.js_backend = self.child.ready["backend"]
        h, w = meta.imgsz
        self.names = OUTPUT_NAMES[meta.layout]
        self.inputs = [TensorSpec("images", (1, h, w, 3))]
        self.outputs = [TensorSpec(n, ()) for n in self.names]
        self.exec_precision = "fp32"

    @staticmethod
    def _check_files(path: Path, meta) -> dict:
        try:
            model = json.loads((path / "model.json").read_text(encoding="utf-8"))
            signature = model["signature"]
            paths = [p for group in model["weightsManifest"] for p in group["paths"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelFormatError(f"{path}: not a readable TF.js graph model ({err})") from None
        missing = [p for p in paths if not (path / p).is_file()]
        if missing:
            raise ModelFormatError(f"{path}: weight shards missing: {', '.join(missing)}")
        expected = sum(int(np.prod(w["shape"], dtype=np.int64)) * (1 if w["dtype"] == "bool" else 4)
                       for group in model["weightsManifest"] for w in group["weights"])
        if sum((path / p).stat().st_size for p in paths) != expected:
            raise ModelFormatError(f"{path}: weight shards hold a different byte count than model.json lists (truncated?)")
        if set(signature.get("outputs", {})) != set(OUTPUT_NAMES[meta.layout]):
            raise ModelFormatError(f"{path}: outputs {sorted(signature.get('outputs', {}))} do not match layout {meta.layout}")
        return signature

    def describe(self) -> str:
        return f"tfjs-{getattr(self, 'js_backend', '?')}/fp32"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values()))
        results = [self.child.request(img[None].transpose(0, 2, 3, 1)) for img in batch]
        out = {}
        for name in self.names:
            value = np.concatenate([r[name] for r in results]).astype(np.float32)
            out[name] = value.transpose(0, 3, 1, 2) if value.ndim == 4 else value
        return out
