"""numpy head decoding (for graphs that end before the DFL) and the reference's two-output layout."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.decode import dfl_decode, from_ultralytics_layout, to_ultralytics_layout


def test_layout_round_trip():
    rng = np.random.default_rng(0)
    raw = {"boxes": np.sort(rng.uniform(0, 320, (2, 2100, 2, 2)), axis=2).transpose(0, 1, 3, 2).reshape(2, 2100, 4)
           .astype(np.float32),
           "scores": rng.random((2, 2100, 80), dtype=np.float32), "mask_coeffs": rng.normal(size=(2, 2100, 32)).astype(np.float32),
           "protos": rng.normal(size=(2, 32, 80, 80)).astype(np.float32)}
    out0, out1 = to_ultralytics_layout(raw)
    assert out0.shape == (2, 116, 2100) and out1.shape == (2, 32, 80, 80)
    back = from_ultralytics_layout(out0, out1)
    for key in raw:
        np.testing.assert_allclose(back[key], raw[key], atol=1e-4)
    with pytest.raises(ValueError, match="too few"):
        from_ultralytics_layout(out0[:, :30], out1)


def test_numpy_dfl_decode_matches_the_torch_head(torch_or_skip, seeded_model):
    import torch

    x = torch.rand(1, 3, 256, 320)
    with torch.no_grad():
        decoded = seeded_model(x)
        seeded_model.head.decode = False
        try:
            undecoded = seeded_model(x)
        finally:
            seeded_model.head.decode = True
    boxes = dfl_decode(undecoded["box_logits"].numpy(), (256, 320))
    np.testing.assert_allclose(boxes, decoded["boxes"].numpy(), atol=1e-3)
    np.testing.assert_allclose(undecoded["scores"].numpy(), decoded["scores"].numpy())
