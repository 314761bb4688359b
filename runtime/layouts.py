"""Output layouts -> the canonical raw dict, and checks that metadata and graph agree before any inference.

Layouts are a property of how a model was exported, not of the engine running it, so this is shared code:
"edgeseg" (boxes, scores, mask_coeffs, protos), "ultralytics" (output0 4+nc+nm x N, output1 protos),
"edgeseg-raw" (box_logits before the DFL, decoded here on the host; for graphs that must end early),
"end2end" (output0 N x (x1,y1,x2,y2,score,class,nm coefficients): final detections of an NMS-free head such as
YOLO26's, or of an export with NMS inside; output1 protos).
"""
from __future__ import annotations

import numpy as np

from .backends.base import TensorSpec
from .decode import RAW_KEYS, dfl_decode, from_end2end_layout, from_ultralytics_layout
from .errors import ModelFormatError
from .metadata import ModelMetadata

RAW_BEFORE_DFL = ("box_logits", "scores", "mask_coeffs", "protos")
OUTPUT_NAMES = {"edgeseg": RAW_KEYS, "ultralytics": ("output0", "output1"), "edgeseg-raw": RAW_BEFORE_DFL,
                "end2end": ("output0", "output1")}


def _by_rank(outputs: dict[str, np.ndarray], rank: int, preferred: str) -> np.ndarray:
    if preferred in outputs:
        return outputs[preferred]
    found = [v for v in outputs.values() if v.ndim == rank]
    if len(found) != 1:
        raise ModelFormatError(f"cannot identify the {preferred} output among {[v.shape for v in outputs.values()]}")
    return found[0]


def canonical_outputs(outputs: dict[str, np.ndarray], meta: ModelMetadata) -> dict[str, np.ndarray]:
    """Named backend outputs -> boxes/scores/mask_coeffs/protos as float32."""
    try:
        return _canonical(outputs, meta)
    except ValueError as err:  # outputs whose shapes contradict the layout: the model file's fault, not a bug
        raise ModelFormatError(f"model outputs do not fit layout '{meta.layout}': {err}") from None


def _canonical(outputs: dict[str, np.ndarray], meta: ModelMetadata) -> dict[str, np.ndarray]:
    if meta.layout == "ultralytics":
        raw = from_ultralytics_layout(_by_rank(outputs, 3, "output0"), _by_rank(outputs, 4, "output1"))
    elif meta.layout == "end2end":
        raw = from_end2end_layout(_by_rank(outputs, 3, "output0"), _by_rank(outputs, 4, "output1"), meta.num_classes)
    elif meta.layout == "edgeseg-raw":
        missing = [k for k in RAW_BEFORE_DFL if k not in outputs]
        if missing:
            raise ModelFormatError(f"model outputs lack {missing}; got {sorted(outputs)}")
        protos = outputs["protos"]
        input_hw = (protos.shape[2] * 4, protos.shape[3] * 4)
        raw = {"boxes": dfl_decode(outputs["box_logits"], input_hw), **{k: outputs[k] for k in RAW_BEFORE_DFL[1:]}}
    elif meta.layout == "edgeseg":
        missing = [k for k in RAW_KEYS if k not in outputs]
        if missing:
            raise ModelFormatError(f"model outputs lack {missing}; got {sorted(outputs)}")
        raw = {k: outputs[k] for k in RAW_KEYS}
    else:
        raise ModelFormatError(f"unknown output layout '{meta.layout}' in metadata")
    return {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}


def _static(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def check_graph(meta: ModelMetadata, inputs: list[TensorSpec], outputs: list[TensorSpec], origin: str) -> None:
    """Metadata that disagrees with the graph (input size, class count) is an error before any inference."""
    if inputs:
        shape = inputs[0].shape
        hw = (shape[1], shape[2]) if meta.input_layout == "NHWC" else (shape[2], shape[3]) if len(shape) == 4 else ()
        if len(hw) == 2 and _static(hw[0]) and _static(hw[1]) and tuple(hw) != tuple(meta.imgsz) and not meta.dynamic:
            raise ModelFormatError(f"{origin}: the graph's input is {hw[0]}x{hw[1]} but its metadata says imgsz {meta.imgsz}")
    widths = {o.name: _static(o.shape[-1]) for o in outputs if o.shape}
    if meta.layout in ("edgeseg", "edgeseg-raw") and widths.get("scores") not in (None, meta.num_classes):
        raise ModelFormatError(
            f"{origin}: the graph outputs {widths['scores']} class scores but its metadata names {meta.num_classes} classes")
    ranks = [o for o in outputs if len(o.shape) == 3]
    if meta.layout == "ultralytics":
        channels = _static(ranks[0].shape[1]) if ranks else None
        expected = 4 + meta.num_classes + meta.num_masks
        if channels is not None and channels != expected:
            raise ModelFormatError(
                f"{origin}: output0 has {channels} channels but metadata implies {expected} "
                f"(4 box + {meta.num_classes} classes + {meta.num_masks} mask coefficients)")
    if meta.layout == "end2end":
        width = _static(ranks[0].shape[2]) if ranks else None
        if width is not None and width != 6 + meta.num_masks:
            raise ModelFormatError(f"{origin}: end-to-end output0 rows have {width} values but the layout has "
                                   f"{6 + meta.num_masks} (x1 y1 x2 y2 score class + {meta.num_masks} coefficients)")
