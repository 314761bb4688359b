"""The INT8 quantiser interface: every engine's quantiser starts from the FP32 ONNX graph and one calibration
set, and takes the list of nodes that must stay in float (decode tail, final head convs, sensitive layers)."""
from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from edgeseg.calibration.dataset import CalibrationSet
from edgeseg.runtime.formats import FORMATS, quantizer_path

def int8_formats() -> list[str]:
    """Formats with a calibrated INT8 path (the format table's `quantizer` column)."""
    return [name for name, spec in FORMATS.items() if spec.quantizer]


@dataclass
class QuantizeResult:
    artifact: Path
    details: dict[str, Any] = field(default_factory=dict)  # goes into the artifact's metadata "quantization"


class Quantizer(ABC):
    engine: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    layouts: ClassVar[tuple[str, ...]] = ("edgeseg",)  # output layouts its float-tail analysis understands
    reference_engine: ClassVar[str | None] = None  # engine for the FP32 ONNX reference (None: self.engine)
    keeps_float: ClassVar[bool] = True  # False: full-integer graphs (keep_float is ignored, no budget search)
    preferred_layout: ClassVar[str] = "edgeseg"  # what --all and the demo export INT8 with
    # The least INT8 drop budget (mask/box mAP50-95 points) its artifacts are gated at: a full-integer graph has no
    # float islands to return, so a budget below what the scheme costs cannot be met by any search
    drop_budget_floor: ClassVar[float] = 0.0
    dynamic_shapes: ClassVar[bool] = False  # its INT8 graph keeps a symbolic input size (calibrated at --imgsz)
    # `edgeseg export --int8` without --imgsz h,w/--batch writes a symbolic input size (where measured better)
    dynamic_by_default: ClassVar[bool] = False
    # The final head convs (box/score/coefficient, proto output) stay in float unless the engine's integer
    # kernels keep the scores (measured per engine: agreement with FP32 at conf 0.05 on held-out images)
    float_head_convs: ClassVar[bool] = True
    # Exact FP32 graph rewrites (quantize.rewrite) applied before calibration, for ops the engine runs in float
    graph_rewrites: ClassVar[tuple[Callable, ...]] = ()

    @classmethod
    def missing(cls) -> list[str]:
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @abstractmethod
    def quantize(self, fp32_onnx: Path, calib: CalibrationSet, keep_float: list[str], workdir: Path,
                 method: str = "auto") -> QuantizeResult:
        """Write an INT8 artifact under workdir (its metadata is added by the caller)."""


def get_quantizer(fmt: str) -> type[Quantizer] | None:
    """The quantiser of an export format, or None when the format has no INT8 path here."""
    found = quantizer_path(fmt)
    if found is None:
        return None
    module_name, attr = found
    return getattr(importlib.import_module(module_name), attr)
