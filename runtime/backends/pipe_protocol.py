"""Frames for engines that run in a child process (TF.js under Node.js, Paddle Inference in its own Python):
a uint32 little-endian header length, a JSON header, then raw little-endian float32 arrays.

Why child processes: Node.js is another runtime, and Paddle 3.3.1 crashes (SIGSEGV on import) in a process
that has already imported tensorflow, so neither can share the caller's process safely."""
from __future__ import annotations

import json
import struct
from typing import BinaryIO

import numpy as np

from ..errors import EdgesegError


class WorkerError(EdgesegError):
    """The engine's child process died or answered with an error."""


def write_frame(stream: BinaryIO, header: dict, arrays: list[np.ndarray] = ()) -> None:
    head = json.dumps(header).encode()
    stream.write(struct.pack("<I", len(head)) + head + b"".join(np.ascontiguousarray(a, "<f4").tobytes() for a in arrays))
    stream.flush()


def _exactly(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) < n:
        raise WorkerError("the engine's worker process exited")
    return data


def read_header(stream: BinaryIO) -> dict:
    (length,) = struct.unpack("<I", _exactly(stream, 4))
    return json.loads(_exactly(stream, length))


def read_array(stream: BinaryIO, shape: list[int]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(_exactly(stream, count * 4), "<f4").reshape(shape)
