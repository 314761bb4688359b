"""Letterbox geometry and its exact inverse."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.letterbox import PAD_VALUE, letterbox, letterbox_geometry, to_input_tensor


def test_square_letterbox_of_landscape_photo():
    img = np.full((480, 640, 3), 7, np.uint8)
    out, info = letterbox(img, 640)
    assert out.shape == (640, 640, 3) and info.pad == (0, 80) and info.scale == (1.0, 1.0)
    assert (out[:80] == PAD_VALUE).all() and (out[80:560] == 7).all() and (out[560:] == PAD_VALUE).all()


def test_rect_letterbox_pads_only_to_stride():
    info = letterbox_geometry((480, 640), 640, rect=True)
    assert info.input_shape == (480, 640) and info.pad == (0, 0)
    info = letterbox_geometry((480, 640), 320, rect=True)
    assert info.input_shape == (256, 320) and info.pad == (0, 8)
    info = letterbox_geometry((500, 375), 640, rect=True)
    assert info.input_shape[0] == 640 and info.input_shape[1] % 32 == 0


@pytest.mark.parametrize("shape,imgsz,rect", [((480, 640), 640, False), ((427, 640), 320, True), ((333, 517), 640, False),
                                              ((1, 1), 64, False), ((1000, 37), 320, True), ((200, 300), (320, 640), False)])
def test_inverse_is_exact(shape, imgsz, rect):
    info = letterbox_geometry(shape, imgsz, rect=rect)
    rng = np.random.default_rng(0)
    pts = np.sort(rng.uniform(0, 1, (50, 2, 2)), axis=1) * np.array([shape[1], shape[0]])  # (50, corner, xy)
    boxes = pts.reshape(50, 4)
    back = info.to_original(info.to_input(boxes), clip=False)
    np.testing.assert_allclose(back, boxes, rtol=0, atol=1e-3)
    # the image content lands exactly where the geometry says
    h, w = shape
    assert info.pad[0] + round(info.scale[0] * w) <= info.input_shape[1]
    assert info.pad[1] + round(info.scale[1] * h) <= info.input_shape[0]


def test_padding_is_centred_and_image_corners_map_to_input_corners():
    img = np.zeros((300, 500, 3), np.uint8)
    out, info = letterbox(img, 640)
    corners = info.to_input(np.array([[0, 0, 500, 300]], np.float32))[0]
    assert corners[0] == pytest.approx(info.pad[0]) and corners[2] == pytest.approx(640 - info.pad[0])
    top, bottom = corners[1], 640 - corners[3]
    assert abs(top - bottom) <= 1


def test_input_tensor_is_rgb_nchw_unit_range():
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    x = to_input_tensor([img])
    assert x.shape == (1, 3, 32, 32) and x.dtype == np.float32
    assert x[0, 2].max() == 1.0 and x[0, 0].max() == 0.0  # blue ends up in the last (B of RGB) channel


def test_empty_image_is_an_error():
    with pytest.raises(ValueError):
        letterbox_geometry((0, 10), 640)
