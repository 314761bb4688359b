"""Per-image predictions in original-image coordinates, with COCO export, polygon and overlay helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import rle
from .instance_masks import InstanceMasks

PALETTE = np.array(
    [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
     (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
     (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203),
     (200, 149, 255), (199, 55, 255)],
    dtype=np.uint8,
)  # BGR


def color_for(class_id: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in PALETTE[int(class_id) % len(PALETTE)])


def mask_to_polygons(mask: np.ndarray, min_points: int = 3) -> list[np.ndarray]:
    """Outer contours of a boolean mask as (P,2) float32 xy arrays, largest first."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [c.reshape(-1, 2).astype(np.float32) for c in contours if len(c) >= min_points]
    return sorted(polys, key=lambda p: -cv2.contourArea(p))


@dataclass
class Results:
    """Detections for one image: boxes (N,4) xyxy, scores (N,), class_ids (N,), masks (N,H,W) bool.

    Masks are held compactly (`instance_masks`, box-sized crops); `.masks` builds the full array on first use.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    instance_masks: InstanceMasks
    names: dict[int, str]
    orig_shape: tuple[int, int]
    path: str | None = None
    orig_img: np.ndarray | None = None
    frame_index: int = 0
    fps: float | None = None  # of the source video, when there is one
    engine: str = ""  # engine/precision that produced these results, e.g. "openvino/fp32"
    speed: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def masks(self) -> np.ndarray:
        return self.instance_masks.full()

    @property
    def class_names(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_ids]

    def polygons(self) -> list[list[np.ndarray]]:
        """Per instance, its outer contours in original pixels."""
        return [mask_to_polygons(self.instance_masks.one(k)) for k in range(len(self))]

    def to_coco_json(
        self, image_id: int | str = 0, category_ids: dict[int, int] | None = None, segmentation: str = "rle"
    ) -> list[dict]:
        """COCO results entries; category ids default to class index + 1 (the COCO json convention)."""
        if segmentation not in ("rle", "polygon"):
            raise ValueError(f"segmentation must be 'rle' or 'polygon', got {segmentation!r}")
        entries = []
        for k, (box, score, cls) in enumerate(zip(self.boxes, self.scores, self.class_ids)):
            mask = self.instance_masks.one(k)
            x1, y1, x2, y2 = (float(v) for v in box)
            if segmentation == "rle":
                segm = rle.encode(mask)
            else:
                segm = [p.ravel().round(2).tolist() for p in mask_to_polygons(mask)]
            cat = category_ids[int(cls)] if category_ids else int(cls) + 1
            entries.append({
                "image_id": image_id,
                "category_id": int(cat),
                "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                "score": round(float(score), 5),
                "segmentation": segm,
            })
        return entries

    def to_yolo_txt(self) -> list[str]:
        """YOLO-seg label lines (class x1 y1 x2 y2 ..., normalised) of each instance's largest contour."""
        h, w = self.orig_shape
        lines = []
        for cls, polys in zip(self.class_ids, self.polygons()):
            if polys:
                pts = (polys[0] / np.array([w, h], dtype=np.float32)).ravel()
                lines.append(" ".join([str(int(cls))] + [f"{v:.6f}" for v in pts]))
        return lines

    def summary(self) -> list[dict]:
        """Plain-python view of the detections (no masks), for logs and JSON."""
        return [
            {"class_id": int(c), "name": n, "score": round(float(s), 5), "box": [round(float(v), 2) for v in b]}
            for b, s, c, n in zip(self.boxes, self.scores, self.class_ids, self.class_names)
        ]

    def plot(self, image: np.ndarray | None = None, alpha: float = 0.45, labels: bool = True) -> np.ndarray:
        """Overlay image (BGR uint8): translucent masks, boxes and 'name score' labels."""
        base = image if image is not None else self.orig_img
        if base is None:
            raise ValueError("plot() needs the image: pass it, or keep orig_img on the Results")
        canvas = base.copy()
        for cls, (y0, y1, x0, x1), crop in zip(self.class_ids, self.instance_masks.windows, self.instance_masks.crops):
            color = np.array(color_for(cls), dtype=np.float32)
            view = canvas[y0:y1, x0:x1]
            view[crop] = (view[crop].astype(np.float32) * (1 - alpha) + color * alpha).astype(np.uint8)
        thickness = max(1, round(sum(canvas.shape[:2]) / 600))
        for box, score, cls, name in zip(self.boxes, self.scores, self.class_ids, self.class_names):
            p1, p2 = (int(box[0]), int(box[1])), (int(box[2]), int(box[3]))
            cv2.rectangle(canvas, p1, p2, color_for(cls), thickness, cv2.LINE_AA)
            if labels:
                text = f"{name} {score:.2f}"
                (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, 1)
                top = max(p1[1] - th - 4, 0)
                cv2.rectangle(canvas, (p1[0], top), (p1[0] + tw + 2, top + th + 4), color_for(cls), -1)
                cv2.putText(canvas, text, (p1[0] + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4 * thickness, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas

    def save(self, path: str | Path, image: np.ndarray | None = None) -> Path:
        """Write the overlay to `path` (format from its suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.plot(image)):
            raise OSError(f"could not write overlay image {path}")
        return path
