"""Writing prediction outputs: overlay images (or video), COCO results JSON, YOLO-seg txt.

Everything is written as it arrives (the JSON array too), so memory stays flat over long videos and streams;
the JSON is staged under a temporary name and renamed on close, so its final path never holds half a file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2

from edgeseg.runtime.results import Results


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def coco_image_id(path: str | None, index: int, frame_index: int = 0) -> int | str:
    """COCO convention: numeric file stems are the image id (000000000036.jpg -> 36); a video frame is
    '<stem>_<frame>' so every frame keeps its own id."""
    stem = Path(path).stem if path else str(index)
    if path and Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return f"{stem}_{frame_index}"
    return int(stem) if stem.isdigit() else stem


class PredictionWriter:
    """Writes per-image outputs as they arrive; `close()` completes and publishes the JSON file."""

    def __init__(self, out_dir: Path, save_images: bool = True, save_json: bool = True, save_txt: bool = False):
        self.out_dir, self.save_images, self.save_json, self.save_txt = out_dir, save_images, save_json, save_txt
        self.count, self.entries = 0, 0
        self._video = None
        self._json = None
        if save_json:
            self._json_staging = out_dir / ".predictions.json.tmp"
            self._json = open(self._json_staging, "w", encoding="utf-8")
            self._json.write("[")

    def add(self, result: Results) -> None:
        name = Path(result.path or f"image{self.count}").name
        is_video_frame = result.path and Path(result.path).suffix.lower() in VIDEO_SUFFIXES
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
        if self._json is not None:
            for entry in result.to_coco_json(coco_image_id(result.path, self.count, result.frame_index)):
                self._json.write(("," if self.entries else "") + json.dumps(entry))
                self.entries += 1
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
            self._video = None
        if self._json is None:
            return None
        self._json.write("]")
        self._json.close()
        self._json = None
        path = self.out_dir / "predictions.json"
        os.replace(self._json_staging, path)
        return path

    def abort(self) -> None:
        """Stop after a failure: close files and leave no staged JSON behind."""
        if self._video is not None:
            self._video.release()
            self._video = None
        if self._json is not None:
            self._json.close()
            self._json = None
            self._json_staging.unlink(missing_ok=True)
