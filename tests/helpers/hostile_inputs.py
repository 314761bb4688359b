"""Careless and hostile inputs beyond the dataset corpus (bad_inputs.py): numbers out of range in every command's
options, metadata and checkpoint fields; decompression bombs (image headers, checkpoint members, YAML aliases);
strings that would rewrite a terminal (escapes, newlines, console markup, 100 KB names); paths with [ ] = and
spaces. Each kind says what must happen: a one-line usage error naming the option or file (exit 2), or the input
used with its text printed plainly."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

# ---- numbers in options: (command tail, the option the one-line error must name) ----------------------------------
PREDICT_OPTIONS = [
    (["--conf", "nan"], "conf"), (["--conf", "-0.1"], "conf"), (["--conf", "2"], "conf"), (["--iou", "1.5"], "iou"),
    (["--max-det", "0"], "max_det"), (["--max-det", "-5"], "max_det"), (["--imgsz", "0"], "imgsz"),
    (["--imgsz", "33"], "imgsz"), (["--imgsz", "100000"], "imgsz"), (["--batch", "0"], "batch"),
    (["--threads", "0"], "--threads"), (["--classes", "-1"], "classes"), (["--exec-precision", "int4"], "--exec-precision"),
]
TRAIN_OPTIONS = [
    (["--epochs", "0"], "--epochs"), (["--batch", "-3"], "--batch"), (["--imgsz", "31"], "--imgsz"),
    (["--imgsz", "100000"], "--imgsz"), (["--workers", "-1"], "--workers"), (["--lr0", "nan"], "--lr0"),
    (["--lr0", "inf"], "--lr0"), (["--lr0", "-0.01"], "--lr0"), (["--lrf", "0"], "--lrf"),
    (["--momentum", "1.5"], "--momentum"), (["--mosaic", "1.5"], "--mosaic"), (["--fliplr", "-0.1"], "--fliplr"),
    (["--hsv-h", "2"], "--hsv-h"), (["--mask-ratio", "0"], "--mask-ratio"), (["--nbs", "0"], "--nbs"),
    (["--warmup-epochs", "-1"], "--warmup-epochs"), (["--patience", "-1"], "--patience"),
    (["--close-mosaic", "-1"], "--close-mosaic"), (["--translate", "2"], "--translate"), (["--scale", "1.5"], "--scale"),
    (["--degrees", "720"], "--degrees"), (["--perspective", "0.1"], "--perspective"), (["--clip-grad", "0"], "--clip-grad"),
    (["--ema-decay", "1"], "--ema-decay"), (["--box", "nan"], "--box"), (["--max-batches", "0"], "--max-batches"),
]
EXPORT_OPTIONS = [
    (["--imgsz", "abc"], "--imgsz"), (["--imgsz", "0"], "--imgsz"), (["--imgsz", "31,32"], "--imgsz"),
    (["--batch", "0"], "--batch"), (["--opset", "5"], "--opset"), (["--calib-n", "0"], "--calib-n"),
    (["--max-drop", "-1"], "--max-drop"), (["--max-drop", "nan"], "--max-drop"),
]
VAL_OPTIONS = [(["--conf", "2"], "conf"), (["--iou", "-1"], "iou"), (["--max-det", "0"], "max_det"),
               (["--imgsz", "-32"], "imgsz")]
CALIB_OPTIONS = [(["--n", "0"], "--n"), (["--imgsz", "-32"], "--imgsz")]

# ---- values in a model's metadata sidecar: (key, value, substring of the error) -----------------------------------
BAD_SIDECAR_VALUES = [
    ("stride", 0, "stride"), ("stride", [8, 16], "stride"), ("batch", -3, "batch"), ("imgsz", "abc", "imgsz"),
    ("imgsz", [0, 320], "imgsz"), ("names", {"0": "a", "2": "b"}, "without gaps"), ("num_masks", 0, "num_masks"),
    ("preprocessing", {"channel_order": "BGR"}, "channel_order"), ("preprocessing", {"scale": 1.0}, "scale"),
    ("preprocessing", {"letterbox_color": 0}, "letterbox_color"),
]

# ---- strings that must reach the terminal as plain text -----------------------------------------------------------
HOSTILE_NAMES = {
    "escape_sequence": "\x1b[2J\x1b[31mred",
    "forged_error_line": "person\nerror: your disk is full",
    "rich_markup_close": "person[/]",
    "rich_markup_bold": "shots[/b]",
    "bidi_override": "\u202egnp.exe",
    "carriage_return": "cat\rdog",
    "null_byte_like": "a\x00b",
    "long_100kb": "x" * 100_000,
}
HOSTILE_FILE_NAMES = ["esc\x1b[31mred.png", "new\nline.png", "shots[b].png", "x[red]y.png", "a b=c.png",
                      "[1].png", "n" * 200 + ".png", "tab\tname.png"]


@dataclass(frozen=True)
class Bomb:
    name: str
    data: bytes
    reason: str


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + \
        b"\x00" * 32 + b"\xff\xd9"


def bmp_claiming(width: int, height: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 54 + 12, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 12,
                                                                          0, 0, 0, 0) + b"\x00" * 12


def webp_claiming(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + \
        (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd


TOO_LARGE = "image too large to decode"
IMAGE_BOMBS = [
    Bomb("bomb_png_50000.png", png_claiming(50000, 50000), TOO_LARGE),
    Bomb("bomb_jpeg_60000.jpg", jpeg_claiming(60000, 60000), TOO_LARGE),
    Bomb("bomb_bmp_40000.bmp", bmp_claiming(40000, 40000), TOO_LARGE),
    Bomb("bomb_webp_16000.webp", webp_claiming(16000, 16000), TOO_LARGE),
    Bomb("bomb_tiff_65000.tiff", tiff_claiming(65000, 65000), TOO_LARGE),
    Bomb("bomb_ppm_30000.ppm", b"P6\n30000 30000\n255\n" + b"\x00" * 64, TOO_LARGE),
]


def yaml_alias_bomb(levels: int = 9) -> str:
    """The classic 'billion laughs' in YAML: each level references the previous one nine times (~433 bytes)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines += ["path: .", "train: images/train", "val: images/val", f"names: *a{levels - 1}"]
    return "\n".join(lines) + "\n"
