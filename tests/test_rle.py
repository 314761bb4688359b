"""COCO RLE: our encoder/decoder agree with pycocotools byte for byte."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime import rle

mask_util = pytest.importorskip("pycocotools.mask", reason="pycocotools not installed (pip install 'edgeseg[dev]')")


@pytest.mark.parametrize("seed", range(6))
def test_encode_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 90, 2)
    mask = rng.random((h, w)) > rng.uniform(0.1, 0.9)
    if seed == 0:
        mask[:] = True
    if seed == 1:
        mask[:] = False
    ours = rle.encode(mask)
    theirs = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["counts"] == theirs["counts"].decode() and ours["size"] == list(theirs["size"])
    np.testing.assert_array_equal(rle.decode(ours), mask)
    np.testing.assert_array_equal(rle.decode(theirs), mask)


def test_decode_rejects_wrong_size():
    with pytest.raises(ValueError, match="sum"):
        rle.decode({"size": [4, 4], "counts": [3, 2]})
