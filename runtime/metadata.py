"""Model metadata that travels with every model and artifact, so a file alone is enough to run it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ModelFormatError

SIDECAR_NAME = "edgeseg.json"
PREPROCESSING_DEFAULT = {"letterbox_color": 114, "scale": 1 / 255, "channel_order": "RGB", "resize": "bilinear"}


def edgeseg_version() -> str:
    try:
        from importlib.metadata import version

        return version("edgeseg")
    except Exception:  # not installed (running from a source tree): still record something honest
        return "0+unknown"


@dataclass(frozen=True)
class ModelMetadata:
    """Everything needed to pre- and post-process a model's inputs and outputs correctly."""

    names: dict[int, str]
    imgsz: tuple[int, int] = (640, 640)
    stride: int = 32
    task: str = "segment"
    dynamic: bool = False  # accepts any stride-aligned input size (enables the rectangular letterbox)
    batch: int = 1
    channels: int = 3
    num_masks: int = 32
    # output layout: "edgeseg" (boxes/scores/mask_coeffs/protos), "edgeseg-raw", "ultralytics" (output0 4+nc+nm x N,
    # output1 protos) or "end2end" (output0 N x (6+nm): final detections, no NMS; output1 protos)
    layout: str = "edgeseg"
    end2end: bool = False  # outputs are final detections: post-processing runs no NMS unless asked to
    input_layout: str = "NCHW"
    precision: str = "fp32"
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(PREPROCESSING_DEFAULT))
    quantization: dict[str, Any] = field(default_factory=dict)
    calibration_manifest_sha256: str | None = None
    source_sha256: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    edgeseg_version: str = field(default_factory=edgeseg_version)
    extra: dict[str, str] = field(default_factory=dict)  # keys no version of edgeseg reads: kept as information

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["names"] = {str(k): v for k, v in self.names.items()}
        data["imgsz"] = list(self.imgsz)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "metadata") -> "ModelMetadata":
        """Parse and type-check metadata; wrong types are errors naming `origin`. Keys this version does not know
        (a later edgeseg's) are kept in `extra` as plain text, so newer files still load."""
        if not isinstance(data, dict):
            raise ModelFormatError(f"{origin}: metadata must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        if "names" not in data:
            raise ModelFormatError(f"{origin}: metadata has no 'names'")
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = data.get("extra", {})
        if not isinstance(extra, dict):
            raise ModelFormatError(f"{origin}: metadata 'extra' must be an object, got {str(extra)[:80]!r}")
        kwargs["extra"] = {str(k)[:200]: str(v)[:200] for k, v in
                           {**extra, **{k: v for k, v in data.items() if k not in known}}.items()}
        kwargs["names"] = parse_names(data["names"], origin)
        kwargs["imgsz"] = _parse_imgsz(data.get("imgsz", (640, 640)), origin)
        for key in ("stride", "batch", "channels", "num_masks"):
            if key in data:
                parse_positive_int(data[key], key, origin, strict=True)
        for key in ("task", "layout", "input_layout", "precision", "edgeseg_version"):
            if key in data and not isinstance(data[key], str):
                raise ModelFormatError(f"{origin}: metadata '{key}' must be a string, got {data[key]!r:.80}")
        for key in ("dynamic", "end2end"):
            if key in data and not isinstance(data[key], bool):
                raise ModelFormatError(f"{origin}: metadata '{key}' must be true/false, got {data[key]!r:.80}")
        for key in ("preprocessing", "quantization", "architecture"):
            if key in data and not isinstance(data[key], dict):
                raise ModelFormatError(f"{origin}: metadata '{key}' must be an object, got {data[key]!r:.80}")
        if "preprocessing" in data:
            check_preprocessing(data["preprocessing"], origin)
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "ModelMetadata":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelFormatError(f"{path}: unreadable metadata sidecar ({err})") from None
        return cls.from_dict(data, str(path))

    def write_sidecar(self, artifact: str | Path) -> Path:
        path = sidecar_path(artifact)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    def same_model_as(self, other: "ModelMetadata") -> list[str]:
        """Fields on which two descriptions of one artifact disagree (empty when consistent)."""
        keys = ("names", "imgsz", "layout", "dynamic", "batch", "num_masks", "stride")
        return [k for k in keys if getattr(self, k) != getattr(other, k)]


def check_preprocessing(declared: dict[str, Any], origin: str) -> None:
    """The runtime has one preprocessing (PREPROCESSING_DEFAULT); a model that declares another is refused rather
    than run with inputs it was not trained on."""
    import math

    for key, value in declared.items():
        want = PREPROCESSING_DEFAULT.get(key)
        same = key in PREPROCESSING_DEFAULT and (
            math.isclose(value, want, rel_tol=1e-6) if isinstance(want, float) and isinstance(value, (int, float))
            and not isinstance(value, bool) else value == want)
        if not same:
            expected = ", ".join(f"{k} {v!r}" for k, v in PREPROCESSING_DEFAULT.items())
            raise ModelFormatError(f"{origin}: metadata 'preprocessing' declares {str(key)[:40]!r}: {str(value)[:40]!r}, "
                                   f"which this runtime does not apply (it feeds {expected}); re-export the model")


def metadata_from_json(text: str, origin: str) -> "ModelMetadata":
    """Embedded metadata (a JSON string inside a model file) -> ModelMetadata, with a clear error when broken."""
    try:
        return ModelMetadata.from_dict(json.loads(text), origin)
    except json.JSONDecodeError as err:
        raise ModelFormatError(f"{origin}: embedded edgeseg metadata is not valid JSON ({err})") from None


def sidecar_path(artifact: str | Path) -> Path:
    """`<dir>/edgeseg.json` inside directory artifacts, `<file>.edgeseg.json` beside single-file ones."""
    artifact = Path(artifact)
    return artifact / SIDECAR_NAME if artifact.is_dir() else artifact.with_name(artifact.name + "." + SIDECAR_NAME)


def find_sidecar(artifact: str | Path) -> Path | None:
    """The sidecar for an artifact, also when given a file inside a directory artifact (model.xml)."""
    artifact = Path(artifact)
    for candidate in (sidecar_path(artifact), artifact.parent / SIDECAR_NAME):
        if candidate.is_file():
            return candidate
    return None


def resolve_metadata(sidecar: "ModelMetadata | None", embedded: "ModelMetadata | None", origin: str) -> "ModelMetadata":
    """The artifact's metadata: embedded and sidecar must agree when both exist; one of them must exist."""
    if sidecar is None and embedded is None:
        raise ModelFormatError(
            f"{origin}: no edgeseg metadata (embedded or {SIDECAR_NAME} sidecar) and no Ultralytics metadata; "
            f"export it with `edgeseg export` or place its {SIDECAR_NAME} next to it"
        )
    if sidecar is not None and embedded is not None:
        diff = sidecar.same_model_as(embedded)
        if diff:
            raise ModelFormatError(f"{origin}: the sidecar metadata disagrees with the model's embedded metadata on {diff}")
    return sidecar or embedded


def parse_names(names: Any, origin: str = "metadata") -> dict[int, str]:
    """Class names from a list or a {index: name} mapping with contiguous indices 0..nc-1."""
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise ModelFormatError(f"{origin}: 'names' must be a non-empty list or mapping, got {names!r:.80}")
    out: dict[int, str] = {}
    for key, value in names.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ModelFormatError(f"{origin}: class index {key!r} in 'names' is not an integer") from None
        if not isinstance(value, (str, int, float)):
            raise ModelFormatError(f"{origin}: class name for {index} must be a string, got {value!r}")
        out[index] = str(value)
    if sorted(out) != list(range(len(out))):
        raise ModelFormatError(f"{origin}: class indices in 'names' must be 0..{len(out) - 1} without gaps")
    return dict(sorted(out.items()))


def parse_positive_int(value: Any, key: str, origin: str, strict: bool = False) -> int:
    """A metadata count or size: a positive integer (an integral float like 32.0 too, unless `strict`)."""
    if isinstance(value, float) and value.is_integer() and not strict:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelFormatError(f"{origin}: metadata '{key}' must be a positive integer, got {str(value)[:80]!r}")
    return value


def _parse_imgsz(value: Any, origin: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ModelFormatError(f"{origin}: 'imgsz' must be a positive integer or [h, w], got {value!r}")
    return int(value[0]), int(value[1])
