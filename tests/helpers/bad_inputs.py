"""A generator of bad dataset inputs (no binary blobs are checked in): each kind writes its files into a
YOLO-seg split and says what train/val must do with it: use it as is, adjust it, or skip it with a reason.

`write_corpus(images_dir, labels_dir, template)` writes every kind into one split and returns the expectations;
`BAD_YAMLS` and `BAD_COCO` are the dataset-description kinds, checked separately because they concern a whole file.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .hostile_inputs import yaml_alias_bomb

GOOD_LINE = "0 0.2 0.2 0.6 0.2 0.6 0.6 0.2 0.6"


@dataclass(frozen=True)
class Expect:
    kind: str
    outcome: str  # "used" (no report row), "adjusted" (a label line dropped or fixed) or "skipped" (the image)
    reported: str | None = None  # the file the report row names (relative to the split's images or labels dir)
    reason: str | None = None  # a substring of the reported reason


@dataclass(frozen=True)
class Split:
    images: Path
    labels: Path
    template: np.ndarray  # a good BGR image

    def image(self, name: str, array: np.ndarray | None = None, label: str | None = GOOD_LINE) -> Path:
        path = self.images / name
        cv2.imwrite(str(path), self.template if array is None else array)
        if label is not None:
            self.label(Path(name).stem, label)
        return path

    def label(self, stem: str, text: str | bytes) -> Path:
        path = self.labels / f"{stem}.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path


def _encoded(array: np.ndarray, suffix: str) -> bytes:
    ok, buf = cv2.imencode(suffix, array)
    assert ok
    return buf.tobytes()


def _pil_bytes(mode: str, size: tuple[int, int], fmt: str, **save) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "I;16") else (90, 40, 10, 30)[: len(mode)]).save(buf, fmt, **save)
    return buf.getvalue()


def _exif_rotated(split: Split, name: str) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW on display
    Image.fromarray(split.template[..., ::-1]).save(split.images / name, "JPEG", exif=exif.tobytes())
    split.label(Path(name).stem, GOOD_LINE)


def _raw(split: Split, name: str, data: bytes, label: str | None = GOOD_LINE) -> None:
    (split.images / name).write_bytes(data)
    if label is not None:
        split.label(Path(name).stem, label)


def _image_kinds(s: Split) -> list[tuple[str, Callable[[], None], Expect]]:
    t, jpg, png = s.template, _encoded(s.template, ".jpg"), _encoded(s.template, ".png")
    gray, rgba = cv2.cvtColor(t, cv2.COLOR_BGR2GRAY), cv2.cvtColor(t, cv2.COLOR_BGR2BGRA)
    return [
        ("truncated_jpeg", lambda: _raw(s, "trunc.jpg", jpg[: len(jpg) // 2]), Expect("", "skipped", "trunc.jpg", "truncated JPEG")),
        ("truncated_png", lambda: _raw(s, "trunc.png", png[: len(png) // 2]), Expect("", "skipped", "trunc.png", "cannot decode")),
        ("zero_byte", lambda: _raw(s, "empty.jpg", b""), Expect("", "skipped", "empty.jpg", "empty (0 bytes)")),
        ("text_named_jpg", lambda: _raw(s, "text.jpg", b"hello, I am not a picture\n"), Expect("", "skipped", "text.jpg", "cannot decode")),
        ("html_named_png", lambda: _raw(s, "page.png", b"<html><body>404</body></html>"), Expect("", "skipped", "page.png", "cannot decode")),
        ("one_by_one", lambda: s.image("tiny.png", t[:1, :1]), Expect("", "used")),
        ("huge_10000x8000", lambda: s.image("huge.png", np.full((8000, 10000, 3), 127, np.uint8)), Expect("", "used")),
        ("grayscale", lambda: s.image("gray.png", gray), Expect("", "used")),
        ("rgba", lambda: s.image("rgba.png", rgba), Expect("", "used")),
        ("png_16_bit", lambda: s.image("deep.png", t.astype(np.uint16) * 257), Expect("", "used")),
        ("cmyk_jpeg", lambda: _raw(s, "cmyk.jpg", _pil_bytes("CMYK", (64, 48), "JPEG")), Expect("", "used")),
        ("exif_rotated", lambda: _exif_rotated(s, "rotated.jpg"), Expect("", "used")),
        ("gray_16_bit", lambda: _raw(s, "gray16.png", _pil_bytes("I;16", (50, 40), "PNG")), Expect("", "used")),
        ("upper_case_suffix", lambda: s.image("upper.PNG"), Expect("", "used")),
        ("image_without_label", lambda: s.image("nolabel.png", label=None), Expect("", "used")),
        ("empty_label_file", lambda: s.image("emptylabel.png", label=""), Expect("", "used")),
        ("label_without_image", lambda: s.label("orphan", GOOD_LINE), Expect("", "skipped", "orphan.txt", "without an image")),
        ("broken_symlink_image", lambda: os.symlink(s.images / "gone.png", s.images / "dangling.png"),
         Expect("", "skipped", "dangling.png", "no such image file")),
        ("symlink_loop_file", lambda: os.symlink("loop.jpg", s.images / "loop.jpg"), Expect("", "skipped", "loop.jpg", "no such image file")),
        ("symlink_loop_dir", lambda: os.symlink("..", s.images / "cycle"), Expect("", "used")),
        ("directory_named_jpg", lambda: (s.images / "folder.jpg").mkdir(), Expect("", "used")),
        ("label_is_a_directory", lambda: (s.image("labeldir.png", label=None), (s.labels / "labeldir.txt").mkdir()),
         Expect("", "adjusted", "labeldir.txt", "not a regular file")),
        *_hostile_kinds(s),
    ]


def _hostile_kinds(s: Split) -> list[tuple[str, Callable[[], None], Expect]]:
    """Decompression bombs (a few hundred bytes whose header claims tens of thousands of pixels a side) are skipped
    before decoding; file names that would rewrite a terminal or look like markup or globs are used as they are."""
    from .hostile_inputs import HOSTILE_FILE_NAMES, IMAGE_BOMBS

    kinds = [(f"image_{b.name.split('.')[0]}", (lambda b=b: _raw(s, b.name, b.data)),
              Expect("", "skipped", b.name, b.reason)) for b in IMAGE_BOMBS]
    kinds += [(f"file_name_{i}", (lambda n=n: s.image(n)), Expect("", "used")) for i, n in enumerate(HOSTILE_FILE_NAMES)]
    return kinds


def _label_kinds(s: Split) -> list[tuple[str, str | bytes, str | None]]:
    """(kind, label text with one good line first, reason substring or None when the file is fine)."""
    g = GOOD_LINE
    return [
        ("one_point", f"{g}\n0 0.5 0.5\n", "fewer than 3 points"),
        ("two_points", f"{g}\n0 0.1 0.1 0.5 0.5\n", "fewer than 3 points"),
        ("detection_box_line", f"{g}\n0 0.5 0.5 0.2 0.2\n", "fewer than 3 points"),
        ("odd_coordinates", f"{g}\n0 0.1 0.1 0.5 0.5 0.9\n", "odd number"),
        ("nan_coordinate", f"{g}\n0 0.1 nan 0.5 0.5 0.9 0.9\n", "NaN or infinite"),
        ("inf_coordinate", f"{g}\n0 0.1 0.1 inf 0.5 0.9 0.9\n", "NaN or infinite"),
        ("negative_coordinate", f"{g}\n0 -0.5 0.1 0.5 0.5 0.9 0.9\n", "far outside"),
        ("coordinate_above_one", f"{g}\n0 0.1 0.1 1.7 0.5 0.9 0.9\n", "far outside"),
        ("slightly_outside", f"{g}\n0 -0.004 0.1 0.5 0.1 1.004 0.9\n", "slightly outside"),
        ("class_equals_nc", f"{g}\n{{nc}} 0.1 0.1 0.5 0.1 0.5 0.5\n", "outside 0.."),
        ("class_minus_one", f"{g}\n-1 0.1 0.1 0.5 0.1 0.5 0.5\n", "outside 0.."),
        ("fractional_class", f"{g}\n1.5 0.1 0.1 0.5 0.1 0.5 0.5\n", "outside 0.."),
        ("nan_class", f"{g}\nnan 0.1 0.1 0.5 0.1 0.5 0.5\n", "outside 0.."),
        ("non_numeric_token", f"{g}\n0 0.1 abc 0.5 0.1 0.5 0.5\n", "non-numeric"),
        ("class_name_token", f"{g}\ncircle 0.1 0.1 0.5 0.1 0.5 0.5\n", "non-numeric"),
        ("duplicate_lines", f"{g}\n{g}\n", "duplicate line"),
        ("zero_area_polygon", f"{g}\n0 0.3 0.3 0.3 0.3 0.3 0.3\n", "zero-area"),
        ("collinear_polygon", f"{g}\n0 0.1 0.1 0.2 0.2 0.3 0.3\n", "zero-area"),
        ("not_utf8", b"\xff\xfe\x00\x81 0 0.1\n", "unreadable label file"),
        ("crlf_line_endings", f"{g}\r\n1 0.1 0.1 0.4 0.1 0.4 0.4\r\n", None),
        ("utf8_bom", "\ufeff" + f"{g}\n", None),
        ("blank_and_padded_lines", f"\n   \n  {g}  \n\t\n", None),
        ("escape_sequence_token", f"{g}\n0 0.1 \x1b[2J 0.5 0.1 0.5 0.5\n", "non-numeric"),
        ("token_of_100kb", f"{g}\n0 0.1 {'9' * 100_000}x 0.5 0.1 0.5 0.5\n", "non-numeric"),
        ("class_1e30", f"{g}\n1e30 0.1 0.1 0.5 0.1 0.5 0.5\n", "outside 0.."),
        ("coordinate_overflows_to_inf", f"{g}\n0 0.1 1e309 0.5 0.1 0.5 0.5\n", "NaN or infinite"),
        ("hex_float_token", f"{g}\n0 0x1p-2 0.1 0.5 0.1 0.5 0.5\n", "non-numeric"),
        ("long_polygon_1000_points", "0 " + " ".join(f"{0.5 + 0.3 * np.cos(a):.5f} {0.5 + 0.3 * np.sin(a):.5f}"
                                                      for a in np.linspace(0, 2 * np.pi, 1000, endpoint=False)) + "\n", None),
    ]


def write_corpus(split: Split, nc: int) -> list[Expect]:
    """Write every kind into `split`; the expectations name files relative to the split's directories."""
    expects = []
    for kind, make, expect in _image_kinds(split):
        make()
        expects.append(Expect(kind, expect.outcome, expect.reported, expect.reason))
    for kind, text, reason in _label_kinds(split):
        stem = f"lbl_{kind}"
        split.image(f"{stem}.png", label=None)
        split.label(stem, text.replace("{nc}", str(nc)) if isinstance(text, str) else text)
        expects.append(Expect(kind, "adjusted" if reason else "used", f"{stem}.txt" if reason else None, reason))
    return expects


# data.yaml kinds: nothing usable can be read from them, so each is one clear error naming the file.
BAD_YAMLS = {
    "missing_names": ("path: .\ntrain: images/train\nval: images/val\n", "missing required keys ['names']"),
    "missing_val": ("path: .\ntrain: images/train\nnames: [a]\n", "missing required keys ['val']"),
    "names_wrong_type": ("path: .\ntrain: images/train\nval: images/val\nnames: 5\n", "names"),
    "nc_disagrees": ("path: .\ntrain: images/train\nval: images/val\nnc: 7\nnames: [a, b]\n", "nc is 7 but 'names' lists 2"),
    "nc_not_int": ("path: .\ntrain: images/train\nval: images/val\nnc: two\nnames: [a, b]\n", "nc is 'two'"),
    "path_not_string": ("path: [1, 2]\ntrain: images/train\nval: images/val\nnames: [a]\n", "'path' must be a string"),
    "split_not_path": ("path: .\ntrain: 42\nval: images/val\nnames: [a]\n", "image sources must be paths"),
    "split_missing_dir": ("path: .\ntrain: nowhere/train\nval: images/val\nnames: [a]\n", "neither an image directory"),
    "not_a_mapping": ("- just\n- a list\n", "must be a mapping"),
    "invalid_yaml": ("names: [a, b\nval: :\n", "not valid YAML"),
    "binary_garbage": (b"\xff\xfe\x00\x81garbage", "not valid YAML"),
    "alias_bomb": (yaml_alias_bomb(), "YAML aliases"),
    "names_with_gap": ("path: .\ntrain: images/train\nval: images/val\nnames: {0: a, 2: b}\n", "without gaps"),
    "download_not_a_string": ("path: nowhere\ntrain: images/train\nval: images/val\nnames: [a]\ndownload: 5\n",
                              "'download' must be a URL string"),
    "escape_in_nc": ("path: .\ntrain: images/train\nval: images/val\nnc: \"\\e[2J\"\nnames: [a]\n", "nc is '\\x1b[2J'"),
    "huge_yaml": ("names: [a]\nval: images/val\n# " + "x" * (5 << 20) + "\n", "too large"),
}


def bad_coco_records(good: dict) -> tuple[dict, list[str]]:
    """A COCO json with bad records appended to a good one, and the reasons val must report (one each)."""
    img = good["images"][0]
    cat = good["categories"][0]["id"]
    poly = [[1, 1, 8, 1, 8, 8, 1, 8]]
    bad_anns = [
        {"id": 9001, "image_id": img["id"], "bbox": [1, 1, 7, 7], "segmentation": poly},  # no category_id
        {"id": 9002, "image_id": img["id"], "category_id": 12345, "bbox": [1, 1, 7, 7], "segmentation": poly},
        {"id": 9003, "image_id": img["id"], "category_id": cat, "bbox": [1, 1, 7, 7],
         "segmentation": {"size": [3, 3], "counts": [9]}},
        {"id": 9004, "image_id": img["id"], "category_id": cat, "bbox": [1, 1, 7, 7],
         "segmentation": {"size": [img["height"], img["width"]], "counts": [5]}},
        {"id": 9005, "image_id": 777777, "category_id": cat, "bbox": [1, 1, 7, 7], "segmentation": poly},
        {"id": 9006, "image_id": img["id"], "category_id": cat, "bbox": "wide", "segmentation": poly},
        {"id": 9007, "image_id": img["id"], "category_id": cat, "bbox": [1, 1, 7, 7], "segmentation": [[1, 2]]},
    ]
    reasons = ["missing fields ['category_id']", "unknown category id 12345", "RLE size [3, 3]", "RLE counts cover 5",
               "has no image record", "bbox must be 4 numbers", "polygon segmentation needs"]
    bad_images = [{"id": 424242, "file_name": "ghost.jpg"}]  # no height/width
    reasons.append("image record missing or invalid ['height', 'width']")
    data = {**good, "images": good["images"] + bad_images, "annotations": good["annotations"] + bad_anns}
    return data, reasons
