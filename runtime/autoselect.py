"""backend="auto": every engine x execution precision that runs the artifact here is measured once on fixed probe
images, those whose outputs agree with the artifact's own FP32 reference (its first engine at its own precision)
within the export tolerances are kept, and the fastest of them is chosen. The measurement is cached per machine
and artifact hash in the user's cache directory (never beside the model), so it costs a few seconds once.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from .backends import Artifact, BackendOptions
from .backends.registry import get_backend_class, probe_all
from .datasets.synthetic import make_image
from .errors import NotAvailableError
from .letterbox import letterbox, to_input_tensor
from .metadata import ModelMetadata
from .paths import cache_dir

COSINE_MIN = {"native": 0.9999, "reduced": 0.999, "int8": 0.99}  # the export tolerances (FP32, FP16) and INT8's
WARMUP, TIMED = 3, 10
CACHE_VERSION = 1


@dataclass
class Candidate:
    engine: str
    exec_precision: str | None  # None: the artifact's own
    ms: float | None = None  # median inference on the probe input
    cosine: float | None = None  # worst output cosine vs the reference
    agrees: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.engine}/{self.exec_precision or 'native'}"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else float(np.array_equal(a, b))


def probe_input(meta: ModelMetadata) -> np.ndarray:
    """A fixed synthetic 640x480 photo, letterboxed the way predict feeds it (rectangular for dynamic models)."""
    image = make_image(np.random.default_rng(2024), 480, 640)[0]
    return to_input_tensor([letterbox(image, tuple(meta.imgsz), meta.stride, rect=meta.dynamic)[0]])


def _machine() -> dict:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for dist in ("onnxruntime", "openvino", "ai-edge-litert", "ncnn", "tensorflow", "paddlepaddle", "torch"):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {"machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def artifact_hash(path: Path) -> str:
    from .paths import sha256_file

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + sha256_file(f).encode())
    return digest.hexdigest()


def _cache_file(path: Path, options: BackendOptions) -> Path:
    key = json.dumps({"v": CACHE_VERSION, "artifact": artifact_hash(path), "machine": _machine(),
                      "device": options.device, "threads": options.threads}, sort_keys=True)
    return cache_dir("autoselect") / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _run(backend, meta: ModelMetadata, x: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    from .predictor import Predictor

    predictor = Predictor(backend, meta)
    for _ in range(WARMUP):
        predictor.run_raw(x)
    times = []
    for _ in range(TIMED):
        t0 = time.perf_counter()
        raw = predictor.run_raw(x)
        times.append((time.perf_counter() - t0) * 1000)
    return raw, statistics.median(times)


def candidates(fmt: str, options: BackendOptions) -> list[Candidate]:
    """Every engine that runs `fmt` here, at its own precision and at each reduced precision it offers."""
    found = []
    for probe in probe_all(fmt):
        if probe.runs_format and probe.available:
            cls = get_backend_class(probe.engine)
            found += [Candidate(probe.engine, p) for p in (None, *cls.reduced_precisions(options))]
    return found


def measure(path: Path, fmt: str, meta: ModelMetadata, sidecar, options: BackendOptions) -> list[Candidate]:
    """Load each candidate, time it on the probe input and compare its outputs with the first (the reference)."""
    table, reference, x = candidates(fmt, options), None, probe_input(meta)
    kind = "int8" if meta.precision == "int8" else None
    for cand in table:
        try:
            cls = get_backend_class(cand.engine)
            engine = cls.load(Artifact(path, fmt, sidecar), BackendOptions(options.device, options.threads,
                                                                            cand.exec_precision))
            raw, cand.ms = _run(engine, meta, x)
        except Exception as err:  # an engine that fails on this artifact is simply not a candidate
            cand.note = f"failed: {str(err).splitlines()[0][:120]}"
            continue
        if reference is None:
            reference = raw
        cand.cosine = min(_cosine(raw[k], reference[k]) for k in reference)
        bound = COSINE_MIN[kind or ("native" if cand.exec_precision is None else "reduced")]
        cand.agrees = cand.cosine >= bound
        cand.note = cand.note or ("reference" if raw is reference else f"cosine bound {bound}")
    return table


def choose(path: Path, fmt: str, meta: ModelMetadata, sidecar, options: BackendOptions) -> tuple[Candidate, list[Candidate], bool]:
    """(the fastest agreeing candidate, the whole table, whether it came from the cache)."""
    only = candidates(fmt, options)
    if len(only) == 1:  # nothing to choose between: no measurement, no cache
        only[0].agrees, only[0].note = True, "the only engine here"
        return only[0], only, False
    cache = _cache_file(path, options)
    if cache.is_file():
        try:
            data = json.loads(cache.read_text())
            table = [Candidate(**row) for row in data["table"]]
            return next(c for c in table if c.label == data["choice"]), table, True
        except (ValueError, KeyError, TypeError, StopIteration):
            pass  # a damaged cache entry is measured again
    table = measure(path, fmt, meta, sidecar, options)
    agreeing = [c for c in table if c.agrees and c.ms is not None]
    if not agreeing:
        raise NotAvailableError(f"{path}: no engine could run it here: "
                                + "; ".join(f"{c.label}: {c.note}" for c in table))
    best = min(agreeing, key=lambda c: c.ms)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"choice": best.label, "table": [asdict(c) for c in table]}, indent=1))
    os.replace(tmp, cache)
    return best, table, False


def describe(table: list[Candidate], best: Candidate) -> list[str]:
    lines = [f"{'engine/precision':22s} {'ms':>8s} {'cosine':>9s}  agrees"]
    for c in table:
        ms = f"{c.ms:8.2f}" if c.ms is not None else "       -"
        cos = f"{c.cosine:9.6f}" if c.cosine is not None else "        -"
        mark = " <- chosen" if c is best else ""
        lines.append(f"{c.label:22s} {ms} {cos}  {'yes' if c.agrees else 'no '} {c.note}{mark}")
    return lines

