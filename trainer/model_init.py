"""The model a training run starts from: a fresh one, a checkpoint (edgeseg or Ultralytics), or a resumed run."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .config import config_from_file, config_from_name
from .model import SegmentationModel, build_model


def _transfer(model: SegmentationModel, state: dict[str, torch.Tensor]) -> int:
    """Copy every tensor whose name and shape match; class-count changes leave the class convs freshly initialised."""
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict({**own, **matched})
    return len(matched)


def build_for_training(args, nc: int, resume_state: dict | None = None) -> SegmentationModel:
    from .checkpoint import load_checkpoint

    if resume_state is not None:
        cfg = resume_state["loaded"].model.cfg
        model = SegmentationModel(cfg)
        model.load_state_dict(resume_state["train_model_state"])
        return model
    source = args.pretrained or args.model
    path = Path(source)
    if path.suffix.lower() in (".pt", ".pth"):
        loaded = load_checkpoint(path)
        model = build_model(replace(loaded.model.cfg, nc=nc), seed=args.seed)
        _transfer(model, loaded.model.state_dict())
        return model
    cfg = config_from_file(path) if path.is_file() else config_from_name(source)
    return build_model(replace(cfg, nc=nc), seed=args.seed)
