"""INT8 vs FP32 latency per engine, through the runtime, on one real photo (medians of N after warm-up).

    python bench/int8_latency.py --fp32 m.onnx --int8 m_int8.onnx --fp32 m_openvino_model --int8 m_int8_openvino_model \
        --image ../shared/datasets/coco200-seg/images/val/000000000139.jpg

Pairs are matched in the order given. Prints pre/inference/post medians and the INT8/FP32 ratios (inference and
end to end), all from one process so the machine's noise hits both sides alike.
"""
from __future__ import annotations

import argparse
import statistics
import time

from edgeseg.runtime.loader import load
from edgeseg.runtime.sources import read_image


def measure(path: str, image, runs: int, warmup: int = 5) -> dict[str, float]:
    predictor = load(path)
    rows = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        (res,) = predictor.predict(image, conf=0.25)
        wall = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            rows.append({**res.speed, "wall": wall})
    out = {k: statistics.median(r[k] for r in rows) for k in ("preprocess", "inference", "postprocess", "wall")}
    out["engine"] = predictor.backend.describe()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fp32", action="append", required=True)
    parser.add_argument("--int8", action="append", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if len(args.fp32) != len(args.int8):
        parser.error("give one --int8 per --fp32")
    image = read_image(args.image)
    print("| engine | precision | pre ms | infer ms | post ms | wall ms | INT8/FP32 infer | INT8/FP32 wall |")
    print("|---|---|---|---|---|---|---|---|")
    for fp32, int8 in zip(args.fp32, args.int8):
        a, b = measure(fp32, image, args.runs), measure(int8, image, args.runs)
        for label, m in (("fp32", a), ("int8", b)):
            ratio = (f"{b['inference'] / a['inference']:.2f}", f"{b['wall'] / a['wall']:.2f}") if label == "int8" else ("", "")
            print(f"| {m['engine']} | {label} | {m['preprocess']:.2f} | {m['inference']:.2f} | {m['postprocess']:.2f} "
                  f"| {m['wall']:.2f} | {ratio[0]} | {ratio[1]} |")


if __name__ == "__main__":
    main()
