"""The one prediction pipeline: shared letterbox -> backend.run -> shared numpy post-processing -> Results."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from .backends.base import Backend
from .errors import UsageError
from .layouts import canonical_outputs
from .letterbox import LetterboxInfo, letterbox, to_input_tensor
from .metadata import ModelMetadata
from .postprocess import PostprocessConfig, configure, postprocess
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

    @property
    def fixed_batch(self) -> int | None:
        """The batch size a static-batch artifact requires (None when any batch size runs)."""
        dim = self.backend.inputs[0].shape[0] if self.backend.inputs and self.backend.inputs[0].shape else None
        return dim if isinstance(dim, int) and dim > 0 else None

    def run_raw(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """One forward pass -> canonical raw outputs (boxes, scores, mask_coeffs, protos)."""
        need = self.fixed_batch
        n = len(batch)
        if need and n < need:  # a fixed-batch artifact: pad with copies, drop their outputs afterwards
            batch = np.concatenate([batch, np.repeat(batch[-1:], need - n, axis=0)])
        raw = canonical_outputs(self.backend.run({self.input_name: batch}), self.metadata)
        return {k: v[:n] for k, v in raw.items()} if need and n < need else raw

    def predict_frames(self, frames: list[Frame], imgsz: tuple[int, int], cfg: PostprocessConfig) -> list[Results]:
        if cfg.nms is None:  # the model decides: an end-to-end model's outputs are final detections
            cfg = replace(cfg, nms=not self.metadata.end2end)
        t0 = time.perf_counter()
        batch, infos = self.preprocess([f.image for f in frames], imgsz)
        t1 = time.perf_counter()
        raw = self.run_raw(batch)
        t2 = time.perf_counter()
        results = postprocess(raw, infos, self.names, cfg)
        n = len(frames)
        engine = self.backend.describe()
        for frame, result in zip(frames, results):
            result.path, result.orig_img = frame.path, frame.image
            result.frame_index, result.fps, result.engine = frame.index, frame.fps, engine
            result.speed.update(preprocess=(t1 - t0) * 1000 / n, inference=(t2 - t1) * 1000 / n)
        return results

    def _batch_size(self, requested: int) -> int:
        if requested < 1:
            raise UsageError(f"batch must be >= 1, got {requested}")
        fixed = self.fixed_batch
        if fixed:
            return min(requested, fixed) if fixed > 1 else 1
        return requested if (self.metadata.dynamic or self.metadata.batch > 1) else 1

    def stream(
        self,
        source,
        imgsz: int | tuple[int, int] | None = None,
        batch: int = 1,
        warn=None,
        post: PostprocessConfig | None = None,
        **postprocess_options,
    ) -> Iterator[Results]:
        """Results one frame at a time (memory stays flat for videos, streams and long directories).

        `post` (or keyword overrides such as conf=0.3) sets the thresholds; batch > 1 groups frames into one forward
        pass where the artifact has a batch dimension; otherwise loops.
        """
        size = self.resolve_imgsz(imgsz)
        cfg = configure(post, **postprocess_options)
        group = self._batch_size(batch)
        pending: list[Frame] = []
        for frame in iter_source(source, warn=warn):
            pending.append(frame)
            if len(pending) == group:
                yield from self.predict_frames(pending, size, cfg)
                pending = []
        if pending:
            yield from self.predict_frames(pending, size, cfg)

    def predict(self, source, imgsz=None, batch: int = 1, warn=None, post: PostprocessConfig | None = None,
                **postprocess_options) -> list[Results]:
        return list(self.stream(source, imgsz, batch=batch, warn=warn, post=post, **postprocess_options))

    def __call__(self, source, **kwargs) -> list[Results]:
        return self.predict(source, **kwargs)


class SpeedTotals:
    """Running per-stage sums (preprocess / inference / postprocess ms): a mean speed without keeping results."""

    STAGES = ("preprocess", "inference", "postprocess")

    def __init__(self):
        self.count, self.sums = 0, dict.fromkeys(self.STAGES, 0.0)

    def add(self, speed: dict[str, float]) -> None:
        self.count += 1
        for key in self.sums:
            self.sums[key] += speed.get(key, 0.0)

    def mean(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


def mean_speed(results: Iterable[Results]) -> dict[str, float]:
    """Mean per-stage milliseconds over results (preprocess / inference / postprocess); {} when there are none."""
    totals = SpeedTotals()
    for result in results:
        totals.add(result.speed)
    return totals.mean() if totals.count else {}
