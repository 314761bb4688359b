"""`edgeseg train`: every TrainArgs field is an option (--epochs 30 or epochs=30); unknown names are errors."""
from __future__ import annotations

import os
import subprocess
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from edgeseg.runtime.errors import NotAvailableError, UsageError


def _train_args_cls():
    try:
        from edgeseg.trainer.args import TrainArgs
    except ImportError as err:
        raise NotAvailableError(f"`edgeseg train` needs torch: pip install 'edgeseg[train]' ({err})") from None
    return TrainArgs


def _kind(annotation: str) -> str:
    return "bool" if annotation == "bool" else "int" if annotation.startswith("int") else \
        "float" if annotation.startswith("float") else "str"


def options_help() -> str:
    """Generated from TrainArgs so the help never drifts from the code."""
    from edgeseg.trainer.args import TrainArgs

    parts = []
    for f in fields(TrainArgs):
        default = f.default if f.default is not MISSING else None
        parts.append(f"--{f.name.replace('_', '-')} ({_kind(str(f.type))}, default {default!r})")
    return "Options: " + "; ".join(parts)


def latest_last_pt(project: str = "runs/train") -> str:
    """`--resume` without a path: the most recently written last.pt under the project directory."""
    candidates = sorted(Path(project).glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UsageError(f"--resume: no {project}/*/weights/last.pt to resume (pass the checkpoint path)")
    return str(candidates[-1])


def parse_train_options(tokens: list[str]) -> dict[str, typing.Any]:
    TrainArgs = _train_args_cls()
    kinds = {f.name: _kind(str(f.type)) for f in fields(TrainArgs)}
    out, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--resume" and (i + 1 >= len(tokens) or tokens[i + 1].startswith("--")):
            out["resume"] = ""  # resolved to the latest run once --project is known
            i += 1
            continue
        if not token.startswith("--"):
            raise UsageError(f"unexpected argument '{token}' (options look like --epochs 30 or epochs=30)")
        key = token[2:].replace("-", "_")
        negated = key.startswith("no_") and key[3:] in kinds and kinds[key[3:]] == "bool"
        name = key[3:] if negated else key
        if name not in kinds:
            raise UsageError(f"unknown training option '{token}' (see `edgeseg train --help`)")
        if kinds[name] == "bool":
            out[name] = not negated
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise UsageError(f"option {token} needs a value")
        out[name] = _convert(tokens[i + 1], kinds[name], token)
        i += 2
    return out


def _convert(value: str, kind: str, token: str):
    if value.lower() in ("none", "null"):
        return None
    try:
        return int(value) if kind == "int" else float(value) if kind == "float" else value
    except ValueError:
        raise UsageError(f"option {token} expects a{'n' if kind == 'int' else ''} {kind}, got '{value}'") from None


def launch_ddp(tokens: list[str], devices: list[str]) -> None:
    """--device 0,1 outside torchrun: re-run this command under torchrun, one process per GPU."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(devices)}
    rest = [t for t in tokens]
    i = rest.index("--device")
    rest[i + 1] = "cuda"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(len(devices)), "-m", "edgeseg", "train", *rest]
    code = subprocess.call(cmd, env=env)
    if code:
        raise UsageError(f"distributed training exited with code {code}")


def run_train(tokens: list[str]) -> None:
    from edgeseg.trainer.engine import Trainer

    TrainArgs = _train_args_cls()
    options = parse_train_options(tokens)
    devices = str(options.get("device", "cpu")).split(",")
    if len(devices) > 1 and "WORLD_SIZE" not in os.environ:
        return launch_ddp(tokens, devices)
    if options.get("resume") == "":
        options["resume"] = latest_last_pt(options.get("project", "runs/train"))
    if not options.get("data") and not options.get("resume"):
        raise UsageError("edgeseg train needs --data path/to/data.yaml (or --resume path/to/last.pt)")
    if options.get("resume") and not options.get("data"):
        options["data"] = ""  # the checkpoint's own arguments are used
    result = Trainer(TrainArgs(**options)).train()
    if result is not None:
        print(f"trained {result.epochs_run} epochs; best mask mAP50-95 {result.best_fitness:.4f}; "
              f"weights in {result.run_dir / 'weights'}")
