"""Image decoding: EXIF orientation honoured; grayscale, RGBA and 16-bit images become 8-bit BGR."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeseg.runtime.sources import read_image


def test_exif_orientation_is_applied(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    img = pil.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "exif.jpg", exif=exif)
    assert read_image(tmp_path / "exif.jpg").shape == (20, 10, 3)


@pytest.mark.parametrize("array", [
    np.full((30, 40), 200, np.uint8),  # grayscale
    (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16),  # 16-bit
    np.zeros((30, 40, 4), np.uint8),  # RGBA
])
def test_other_pixel_formats_become_bgr_uint8(tmp_path, array):
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), array)
    out = read_image(path)
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
