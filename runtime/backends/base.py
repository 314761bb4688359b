"""The small interface every inference engine implements, whatever the artifact format."""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..checks import Range, check_number
from ..errors import ModelFormatError, UsageError
from ..text import plain
from ..metadata import ModelMetadata


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (None for a dynamic dimension) and dtype of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class BackendOptions:
    """Engine settings the user (or a device profile) chooses; backends ignore what they cannot honour only
    after saying so in `available`/`load` errors, never silently."""

    device: str = "cpu"
    threads: int | None = None  # None: all physical cores
    exec_precision: str | None = None  # None: the artifact's own precision (fp32 stays fp32)

    def __post_init__(self) -> None:
        if self.threads is not None:
            check_number(self.threads, "--threads", Range(1, 1024, integer=True))
        if self.exec_precision not in (None, "fp32", "bf16", "fp16"):
            raise UsageError(f"--exec-precision must be fp32, bf16 or fp16, got {plain(repr(self.exec_precision), 40)}")


@dataclass
class Artifact:
    """A model file (or directory) on disk, its format, and its metadata."""

    path: Path
    format: str
    metadata: ModelMetadata | None  # None when the format carries it inside (e.g. a .pt checkpoint)
    extra: dict = field(default_factory=dict)


class Backend(ABC):
    """One engine. `run` takes and returns float32 NCHW-terms arrays keyed by graph name; the backend owns its
    engine's quirks (NHWC transposes, int8 (de)quantisation, output renaming/reordering) so that the rest of the
    pipeline never sees them. Turning a model's output *layout* into the canonical dict is shared code
    (runtime.layouts), since it depends on how the model was exported, not on the engine."""

    engine: ClassVar[str]  # its name; which formats it runs is the format table's engines column
    requires: ClassVar[tuple[str, str] | None] = None  # (python module, what to install) for available()

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: ModelMetadata
    embedded_metadata: ModelMetadata | None = None  # what the file itself carries, if anything
    exec_precision: str = "fp32"  # the precision the engine actually computes in

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") when the engine can run on this host, else (False, what to install or change)."""
        if cls.requires and importlib.util.find_spec(cls.requires[0]) is None:
            return False, f"{cls.requires[0]} is not installed ({cls.requires[1]})"
        return True, ""

    @classmethod
    def reduced_precisions(cls, options: BackendOptions) -> tuple[str, ...]:
        """Execution precisions below the artifact's own this engine offers on `options.device` here (bf16/fp16),
        which backend="auto" measures; none by default."""
        return ()

    @classmethod
    def load(cls, artifact: Artifact, options: BackendOptions) -> "Backend":
        """Open the artifact; raise ModelFormatError for a file the engine cannot use."""
        return cls(artifact, options)  # type: ignore[call-arg]

    @classmethod
    def cpu_fp32_metadata(cls, artifact: "Artifact", options: "BackendOptions") -> ModelMetadata:
        """For engines that only compute FP32 on the CPU and whose files carry no metadata: the options must ask
        for nothing else, and the edgeseg.json sidecar must be there."""
        if options.exec_precision not in (None, "fp32") or (options.device or "cpu") != "cpu":
            raise UsageError(f"{cls.engine}: only cpu and fp32 are supported here")
        if artifact.metadata is None:
            raise ModelFormatError(f"{artifact.path}: needs its edgeseg.json sidecar (export with edgeseg)")
        return artifact.metadata

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch: {input name: float32 NCHW} -> {output name: float32 array}."""

    def describe(self) -> str:
        """engine/precision that runs: an INT8 artifact computes in int8 with its float layers in exec_precision."""
        meta = getattr(self, "metadata", None)
        if meta is not None and getattr(meta, "precision", None) == "int8":
            return f"{self.engine}/int8+{self.exec_precision}"
        return f"{self.engine}/{self.exec_precision}"
