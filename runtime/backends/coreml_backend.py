"""CoreML engine for `.mlpackage` / `.mlmodel` artifacts. CoreML prediction exists only on macOS (coremltools
calls Apple's framework), so elsewhere this engine reports itself unavailable with that reason.

The exported model takes an RGB image (ImageType, scale 1/255): the letterboxed float tensor is turned back into
the 8-bit RGB image it came from, which is exact because the runtime's tensor is k/255 per pixel.
"""
from __future__ import annotations


import platform

import numpy as np

from ..errors import ModelFormatError, UsageError
from ..metadata import metadata_from_json
from .base import Artifact, Backend, BackendOptions, TensorSpec

COMPUTE_UNITS = {"cpu": "CPU_ONLY", "gpu": "CPU_AND_GPU", "ane": "CPU_AND_NE", "all": "ALL"}


class CoreMLBackend(Backend):
    engine = "coreml"
    requires = ("coremltools", "pip install 'edgeseg[coreml]'")

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if platform.system() != "Darwin":
            return False, "CoreML prediction needs macOS (coremltools can convert and inspect models elsewhere)"
        return super().available()

    def __init__(self, artifact: Artifact, options: BackendOptions):
        import coremltools as ct

        device = (options.device or "cpu").lower()
        if device not in COMPUTE_UNITS:
            raise UsageError(f"coreml: device must be one of {', '.join(COMPUTE_UNITS)}, got '{options.device}'")
        try:
            self.model = ct.models.MLModel(str(artifact.path), compute_units=getattr(ct.ComputeUnit, COMPUTE_UNITS[device]))
        except Exception as err:
            raise ModelFormatError(f"{artifact.path}: CoreML cannot load this model ({str(err).splitlines()[0][:200]})") from None
        spec = self.model.get_spec()
        image = spec.description.input[0]
        self.input_name = image.name
        shape = (1, 3, image.type.imageType.height, image.type.imageType.width)
        self.inputs = [TensorSpec(image.name, shape)]
        self.outputs = [TensorSpec(o.name, tuple(o.type.multiArrayType.shape)) for o in spec.description.output]
        embedded = spec.description.metadata.userDefined.get("edgeseg")
        self.embedded_metadata = metadata_from_json(embedded, str(artifact.path)) if embedded else None
        self.exec_precision = "fp16" if (self.embedded_metadata and self.embedded_metadata.precision != "fp32") else "fp32"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from PIL import Image

        batch = next(iter(feeds.values()))
        results = []
        for chw in batch:
            rgb = np.clip(np.rint(chw.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
            results.append(self.model.predict({self.input_name: Image.fromarray(rgb)}))
        return {o.name: np.concatenate([np.asarray(r[o.name], dtype=np.float32) for r in results]) for o in self.outputs}



