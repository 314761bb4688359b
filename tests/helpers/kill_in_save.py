"""Run `edgeseg <args>` with a fault injected into checkpoint writes: the Nth torch.save call writes half of its
bytes to the temp file, flushes them to disk, and the process SIGKILLs itself (a power cut in mid-write).

usage: python kill_in_save.py N edgeseg-args...   (test helper only; the product has no fault hooks)
"""
import io
import os
import signal
import sys

import torch

import edgeseg.trainer.checkpoint as checkpoint

TARGET = int(sys.argv[1])
calls = {"n": 0}
real_save = torch.save


def dying_save(obj, fh, *args, **kwargs):
    calls["n"] += 1
    if calls["n"] < TARGET:
        return real_save(obj, fh, *args, **kwargs)
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    fh.write(buf.getvalue()[: buf.tell() // 2])
    fh.flush()
    os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


checkpoint.torch.save = dying_save
from edgeseg.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
