"""One engine running in a child process, spoken to through pipe_protocol frames; one request at a time."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError
from .base import Backend
from .pipe_protocol import WorkerError, read_array, read_header, write_frame


class ChildEngine:
    def __init__(self, command: list[str], env: dict, origin: Path, what: str):
        self.origin, self.what = origin, what
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()  # the pipe carries one request/response pair at a time
        try:
            self.ready = read_header(self.proc.stdout)
        except WorkerError:
            self.close()
            raise ModelFormatError(f"{origin}: {what} exited while loading this model") from None
        if "error" in self.ready:
            self.close()
            raise ModelFormatError(f"{origin}: {what} cannot load this model ({self.ready['error'][:200]})")

    def request(self, image: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            write_frame(self.proc.stdin, {"shape": list(image.shape)}, [image])
            header = read_header(self.proc.stdout)
            if "error" in header:
                raise WorkerError(f"{self.origin}: {self.what} failed to run ({header['error'][:200]})")
            return {spec["name"]: read_array(self.proc.stdout, spec["shape"]) for spec in header["outputs"]}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


class ChildProcessBackend(Backend):
    """A backend whose engine lives in a ChildEngine: the child is closed with the backend."""

    child: ChildEngine | None = None

    def close(self) -> None:
        if self.child is not None:
            self.child.close()

    def __del__(self) -> None:
        if sys is not None and not sys.is_finalizing():
            self.close()
