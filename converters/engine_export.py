"""TensorRT engine (`--format engine`, `<stem>.engine` + `<stem>.engine.edgeseg.json`), built by TensorRT's own
`trtexec` from the exported ONNX graph on the machine the engine is for (engines are tied to one GPU model and one
TensorRT version). FP16 with --half; INT8 with --int8 and a calibration set, through the same calibration cache
the Jetson/GPU bundles carry. The engine file is exactly what trtexec wrote (no JSON header in front, which
would break trtexec and DeepStream); the metadata stays in the sidecar.

Not installable here: pip's `tensorrt` is a stub that downloads the real wheel from NVIDIA's own index ("The
installation of tensorrt-cu13-libs ... failed. This is a special placeholder package which downloads a real wheel
package from NVIDIA's own package index"), and neither this host nor the lent GPU host reaches it."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeseg.runtime.errors import EdgesegError, UsageError
from edgeseg.runtime.metadata import ModelMetadata

from .base import ExportContext, Exporter

MISSING = ("TensorRT is not installed: `trtexec` is not on PATH (pip's tensorrt only downloads from NVIDIA's package "
           "index; install TensorRT from NVIDIA, or JetPack on a Jetson). Engines only run on the GPU they were built "
           "on: `edgeseg export --target nvidia-gpu` (or jetson-orin-nano, jetson-agx-orin) writes a bundle whose "
           "build_engine.sh builds the engine there")


class BuildError(EdgesegError):
    """trtexec refused the graph."""


class EngineExporter(Exporter):
    format = "engine"
    source = "onnx"
    supports_dynamic = False
    int8_weights_only = True  # --int8 is handled here: a calibration cache for trtexec, not a quantised graph
    int8_scheme = "tensorrt-calibration-cache"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return (True, "") if shutil.which("trtexec") else (False, MISSING)

    @classmethod
    def check_options(cls, options) -> None:
        super().check_options(options)
        if options.int8 and not (options.calib or options.data):
            raise UsageError("--format engine --int8 needs --calib DIR or --data d.yaml for its calibration cache")

    @classmethod
    def offline_check(cls, artifact: Path, metadata: ModelMetadata) -> str:
        return "built by trtexec, which validated the graph; edgeseg has no TensorRT engine to run it here"

    def export(self, ctx: ExportContext) -> Path:
        out = ctx.workdir / f"model{self.artifact_suffix}"
        command = ["trtexec", f"--onnx={ctx.onnx_path}", f"--saveEngine={out}"]
        if ctx.options.half or ctx.options.int8:
            command.append("--fp16")  # INT8 engines keep FP16 for the layers TensorRT leaves unquantised
        if ctx.options.int8:
            command += ["--int8", f"--calib={self._calibration_cache(ctx)}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()][-3:]
            raise BuildError(f"trtexec could not build the engine (exit {done.returncode}): {' | '.join(tail)[:400]}")
        return out

    @classmethod
    def bundle_available(cls) -> tuple[bool, str]:
        """The engine is built on the device by trtexec; here only its ONNX input is made."""
        from .registry import get_exporter

        return get_exporter("onnx").available()

    @classmethod
    def bundle_input(cls, source, options, progress):
        """The ONNX graph trtexec builds from (FP16 weights when the profile says fp16), verified here."""
        from .export import export

        onnx = dataclasses.replace(options, format="onnx", int8=False, output=options.output.with_name("model.onnx"))
        return export(source, onnx, progress)

    @classmethod
    def bundle_extras(cls, result, staging: Path, quant: dict, progress) -> bool:
        """A TensorRT calibration cache measured on our calibration set, and the set's manifest."""
        from .int8 import calibration_for
        from .options import ExportOptions
        from .quantize.tensorrt import write_calibration_cache

        options = ExportOptions(format="onnx", imgsz=tuple(result.metadata.imgsz), int8=True,
                                **{k: v for k, v in quant.items() if k in ("calib", "data", "calib_n")})
        calib = calibration_for(options, result.metadata, str(result.path))
        if progress:
            progress(f"measuring activation ranges on {len(calib)} calibration images for the TensorRT cache")
        with tempfile.TemporaryDirectory() as tmp:
            write_calibration_cache(result.path, calib, staging / "calib.cache", Path(tmp))
        (staging / "calibration_manifest.json").write_text(json.dumps(calib.manifest, indent=2) + "\n")
        return True

    @staticmethod
    def _calibration_cache(ctx: ExportContext) -> Path:
        from .int8 import calibration_for
        from .quantize.tensorrt import write_calibration_cache

        calib = calibration_for(ctx.options, ctx.metadata, str(ctx.options.output or "engine"))
        (ctx.workdir / "calib").mkdir(exist_ok=True)
        return write_calibration_cache(ctx.onnx_path, calib, ctx.workdir / "calib.cache", ctx.workdir / "calib")
