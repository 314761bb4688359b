"""Writing prediction outputs: overlay images (or video), COCO results JSON, YOLO-seg txt."""
from __future__ import annotations

import json
from pathlib import Path

import cv2

from edgeseg.runtime.results import Results


def coco_image_id(path: str | None, index: int) -> int | str:
    """COCO convention: numeric file stems are the image id (000000000036.jpg -> 36)."""
    stem = Path(path).stem if path else str(index)
    return int(stem) if stem.isdigit() else stem


class PredictionWriter:
    """Accumulates per-image outputs; `close()` writes the JSON file."""

    def __init__(self, out_dir: Path, save_images: bool = True, save_json: bool = True, save_txt: bool = False):
        self.out_dir, self.save_images, self.save_json, self.save_txt = out_dir, save_images, save_json, save_txt
        self.entries: list[dict] = []
        self.count = 0
        self._video = None

    def add(self, result: Results) -> None:
        name = Path(result.path or f"image{self.count}").name
        is_video_frame = result.path and Path(result.path).suffix.lower() in {".mp4", ".avi", ".mov", ".mkv", ".webm"}
        if self.save_images:
            if is_video_frame:
                self._write_video_frame(result, Path(result.path).stem)
            else:
                result.save(self.out_dir / (Path(name).stem + ".jpg"))
        if self.save_txt:
            labels = self.out_dir / "labels"
            labels.mkdir(exist_ok=True)
            stem = Path(name).stem + (f"_{self.count}" if is_video_frame else "")
            (labels / f"{stem}.txt").write_text("\n".join(result.to_yolo_txt()) + "\n")
        if self.save_json:
            self.entries.extend(result.to_coco_json(coco_image_id(result.path, self.count)))
        self.count += 1

    def _write_video_frame(self, result: Results, stem: str) -> None:
        frame = result.plot()
        if self._video is None:
            h, w = frame.shape[:2]
            fps = result.fps or 25.0
            self._video = cv2.VideoWriter(str(self.out_dir / f"{stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        self._video.write(frame)

    def close(self) -> Path | None:
        if self._video is not None:
            self._video.release()
        if not self.save_json:
            return None
        path = self.out_dir / "predictions.json"
        path.write_text(json.dumps(self.entries))
        return path
