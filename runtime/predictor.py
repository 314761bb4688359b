"""The one prediction pipeline: shared letterbox -> backend.run -> shared numpy post-processing -> Results."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from .backends.base import Backend
from .errors import UsageError
from .letterbox import LetterboxInfo, letterbox, to_input_tensor
from .metadata import ModelMetadata
from .postprocess import PostprocessConfig, postprocess
from .results import Results
from .sources import Frame, iter_source


class Predictor:
    """Runs any backend on any source. Holds no per-call state, so one instance serves many threads."""

    def __init__(self, backend: Backend, metadata: ModelMetadata | None = None):
        self.backend = backend
        self.metadata = metadata or backend.metadata
        self.input_name = backend.inputs[0].name if backend.inputs else "images"

    @property
    def names(self) -> dict[int, str]:
        return self.metadata.names

    def resolve_imgsz(self, imgsz: int | tuple[int, int] | None) -> tuple[int, int]:
        """A static model only runs at its exported size: asking for another is an error, not silently ignored."""
        native = tuple(self.metadata.imgsz)
        if imgsz is None:
            return native
        wanted = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
        stride = self.metadata.stride
        if any(v <= 0 or v % stride for v in wanted):
            raise UsageError(f"imgsz {imgsz} must be positive multiples of the model stride {stride}")
        if not self.metadata.dynamic and wanted != native:
            raise UsageError(
                f"this model has a static input of {native[0]}x{native[1]}; it cannot run at imgsz {imgsz} "
                f"(re-export it at that size, or with --dynamic)"
            )
        return wanted

    def preprocess(self, images: list[np.ndarray], imgsz: tuple[int, int]) -> tuple[np.ndarray, list[LetterboxInfo]]:
        rect = self.metadata.dynamic and len(images) == 1
        boxed = [letterbox(img, imgsz, self.metadata.stride, rect=rect) for img in images]
        return to_input_tensor([b[0] for b in boxed]), [b[1] for b in boxed]

    def predict_frames(self, frames: list[Frame], imgsz: tuple[int, int], cfg: PostprocessConfig) -> list[Results]:
        t0 = time.perf_counter()
        batch, infos = self.preprocess([f.image for f in frames], imgsz)
        t1 = time.perf_counter()
        raw = self.backend.run({self.input_name: batch})
        t2 = time.perf_counter()
        results = postprocess(raw, infos, self.names, cfg)
        n = len(frames)
        for frame, result in zip(frames, results):
            result.path, result.orig_img = frame.path, frame.image
            result.frame_index, result.fps = frame.index, frame.fps
            result.speed.update(preprocess=(t1 - t0) * 1000 / n, inference=(t2 - t1) * 1000 / n)
        return results

    def stream(
        self,
        source,
        imgsz: int | tuple[int, int] | None = None,
        warn=None,
        **postprocess_options,
    ) -> Iterator[Results]:
        """Results one frame at a time (memory stays flat for videos and long directories)."""
        size = self.resolve_imgsz(imgsz)
        cfg = PostprocessConfig(**postprocess_options)
        for frame in iter_source(source, warn=warn):
            yield self.predict_frames([frame], size, cfg)[0]

    def predict(self, source, imgsz=None, warn=None, **postprocess_options) -> list[Results]:
        return list(self.stream(source, imgsz, warn=warn, **postprocess_options))

    def __call__(self, source, **kwargs) -> list[Results]:
        return self.predict(source, **kwargs)


def mean_speed(results: Iterable[Results]) -> dict[str, float]:
    """Mean per-stage milliseconds over results (preprocess / inference / postprocess)."""
    rows = [r.speed for r in results]
    if not rows:
        return {}
    return {k: float(np.mean([r.get(k, 0.0) for r in rows])) for k in ("preprocess", "inference", "postprocess")}
