"""Print file x engine x parity for every reference export in the cache made by bench/reference_fixtures.py.

For each export the reference wrote (three families trained on synth3, every variant it produced): edgeseg
predicts the same images with no extra flag and is compared with the reference's own recorded predictions on
that file (boxes px, scores, mask IoU), and edgeseg's val is put beside the reference's val of the same file.
Usage (in edgeseg's venv):  python bench/reference_parity.py
"""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.reference import CACHE, compare_image, parity_images, records, synth3_yaml  # noqa: E402

from edgeseg.runtime import load  # noqa: E402
from edgeseg.runtime.sources import read_image  # noqa: E402
from edgeseg.runtime.validate import validate  # noqa: E402


def variant_of(path: Path, family: str) -> str:
    """`yolo11n-seg-synth3-openvino-int8_int8_openvino_model` -> `openvino-int8` (variants use '-', the tool '_')."""
    return re.split(r"[_.]", path.name[len(f"{family}-synth3-"):])[0]


def parity(predictor, predictions: dict, prefix: str) -> dict | None:
    if f"{prefix}/synth3/0/boxes" not in predictions:
        return None
    worst = {"box_px": 0.0, "score": 0.0, "mask_iou": 1.0, "n": 0}
    for image in parity_images():
        key = f"{prefix}/{image.parent.parent.parent.name}/{image.stem}"
        ref = {k: predictions[f"{key}/{k}"] for k in ("boxes", "scores", "classes", "masks", "shape")}
        (res,) = predictor.predict(read_image(image), imgsz=320)
        try:
            got = compare_image(ref, res)
        except AssertionError as err:
            return {"error": str(err).splitlines()[0]}
        worst = {"box_px": max(worst["box_px"], got["box_px"]), "score": max(worst["score"], got["score"]),
                 "mask_iou": min(worst["mask_iou"], got["mask_iou"]), "n": worst["n"] + got["n"]}
    return worst


def main() -> None:
    predictions, vals = records("predictions.npz"), records("val.json")
    data = synth3_yaml(Path(tempfile.mkdtemp()))
    print("| family | file (variant) | edgeseg engine | layout | vs reference on | n | box px | score | mask IoU min "
          "| edgeseg mask mAP50-95 | reference mask mAP50-95 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for family in ("yolov8n-seg", "yolo11n-seg", "yolo26n-seg"):
        for path in sorted((CACHE / "exports").glob(f"{family}-synth3-*")):
            variant = variant_of(path, family)
            try:
                predictor = load(path)
            except Exception as err:  # a file edgeseg cannot run is itself a row of the table
                print(f"| {family} | {variant} | – | – | – | – | – | – | – | error: {str(err)[:80]} | – |")
                continue
            theirs = "onnx" if variant == "openvino" else variant  # the reference's OpenVINO runs bf16 here
            got = parity(predictor, predictions, f"{family}/{theirs}") or {}
            metrics = validate(predictor, data, "val")
            ref_val = vals.get(f"{family}/{variant}", {}).get("mask_map50_95")
            cells = [f"{got[k]:.3g}" if k in got else "–" for k in ("n", "box_px", "score", "mask_iou")]
            if "error" in got:
                cells = ["–", "–", "–", got["error"][:60]]
            print(f"| {family} | {variant} | {predictor.backend.describe()} | {predictor.metadata.layout} | {theirs} | "
                  f"{' | '.join(cells)} | {metrics.seg.map:.4f} | {ref_val if ref_val is None else f'{ref_val:.4f}'} |")


if __name__ == "__main__":
    main()
