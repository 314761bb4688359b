"""COCO run-length encoding (column-major, starting with a run of zeros) and its compressed string form."""
from __future__ import annotations

import numpy as np


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a 2-D boolean mask."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return counts


def compress_counts(counts: list[int]) -> str:
    """COCO's compact string encoding of RLE counts (what pycocotools writes into `counts`)."""
    out = []
    for i, value in enumerate(counts):
        x = int(value) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decompress_counts(text: str) -> list[int]:
    """Inverse of compress_counts."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask: np.ndarray) -> dict:
    """Mask -> COCO RLE dict {'size': [h, w], 'counts': str}."""
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": compress_counts(rle_counts(mask))}


def decode(rle: dict) -> np.ndarray:
    """COCO RLE dict (compressed string or list counts) -> boolean mask."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, (bytes, str)):
        counts = decompress_counts(counts.decode() if isinstance(counts, bytes) else counts)
    if sum(counts) != h * w:
        raise ValueError(f"RLE counts sum to {sum(counts)} but size is {h}x{w}={h * w}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape((h, w), order="F")
