"""The training loop: data, loss, optimiser with warmup and accumulation, EMA, per-epoch validation through the
runtime's own metric code, atomic checkpoints every epoch, exact resume, early stopping, DDP."""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from edgeseg.runtime.datasets.problems import write_problems_csv
from edgeseg.runtime.datasets.yolo import load_data_yaml
from edgeseg.runtime.errors import EdgesegError, UsageError

from edgeseg.runtime.predictor import Predictor
from edgeseg.runtime.validate import validate

from .args import TrainArgs
from .data.augment import AugmentConfig
from .data.dataset import SegDataset, collate, scan
from .data.sampler import EpochSampler
from .distributed import DistContext
from .loss import PARTS, LossGains, SegmentationLoss, build_loss
from .model_init import build_for_training
from .optim import ModelEMA, build_optimizer, lr_lambda, warmup_iterations, warmup_step
from .progress import EpochProgress, print_skip_report
from .run_io import (append_results, load_training_state, lock_run_dir, new_run_dir, results_row,
                     save_training_state, truncate_results, write_args)
from .torch_backend import TorchBackend
from .val_loss import ValLoss


class TrainingDiverged(EdgesegError):
    """The loss became NaN or Inf; nothing of the diverged state is saved."""


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    best_fitness: float
    epochs_run: int
    metrics: object | None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    # built by setup(): the model and its training machinery
    model: torch.nn.Module
    dataset: SegDataset
    loader: torch.utils.data.DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: SegmentationLoss
    scaler: torch.amp.GradScaler

    def __init__(self, args: TrainArgs, log=print):
        self.args, self.log = args, log
        self.ema: ModelEMA | None = None
        self.run_dir: Path | None = None
        self.skip_report: list = []
        self.generator: torch.Generator | None = None
        self.nb, self.accumulate, self.lr0, self.momentum, self.lf = 0, 1, args.lr0, args.momentum, None
        self.warmup_bias_lr, self.epoch_lrs, self.val_loss, self.val_losses = args.warmup_bias_lr, [], None, None
        self.batch_callbacks: list = []  # called with the trainer after every batch (benchmarks, parity records)
        self.timing = {"data_s": 0.0, "step_s": 0.0, "images": 0}  # dataloader wait vs compute, for benchmarks
        self.dist = DistContext.from_env(args.device)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if args.device.startswith("cuda") and self.dist.enabled
                                   else args.device if args.device.startswith("cuda") else "cpu")
        self.start_epoch, self.best_fitness, self.resume_state, self.lock = 0, -1.0, None, None
        if args.resume:
            self.resume_state = load_training_state(args.resume)
            saved = dict(self.resume_state["train_args"])
            saved.update(resume=str(args.resume), device=args.device, workers=args.workers)  # the run's own recipe
            self.args = args = TrainArgs.from_dict(saved)
        if args.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            # deterministic mode also fills every new tensor with NaN to expose reads of uninitialised memory: a
            # debugging aid that cost 40 ms of a 620 ms step (yolov8n-seg, 320, batch 8, 2 cores); results are the same
            torch.utils.deterministic.fill_uninitialized_memory = False
        self.data = load_data_yaml(args.data)
        self.names = self.data.names
        if "train" not in self.data.splits:
            raise UsageError(f"{args.data}: no 'train' split")

    # ---- setup -------------------------------------------------------------------------------------------------
    def _datasets(self):
        records, report = scan(self.data.splits["train"], self.data.nc, self.data.coco.get("train"))
        self.skip_report = report
        if self.dist.main:
            print_skip_report(report, self.log)
        a = self.args
        hyp = AugmentConfig(**{f.name: getattr(a, f.name) for f in fields(AugmentConfig)})
        return SegDataset(records, a.imgsz, True, hyp, seed=a.seed, mask_ratio=a.mask_ratio, overlap_mask=a.overlap_mask)

    def _loader(self, dataset):
        a = self.args
        workers = default_workers(self.device) if a.workers is None else a.workers
        batch = max(1, a.batch // self.dist.world_size)
        if self.dist.enabled:
            sampler = torch.utils.data.DistributedSampler(dataset, shuffle=True, seed=a.seed, drop_last=False)
        else:
            self.generator = torch.Generator()
            sampler = torch.utils.data.RandomSampler(dataset, generator=self.generator)
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch, sampler=EpochSampler(sampler), num_workers=workers, collate_fn=collate,
            persistent_workers=workers > 0, pin_memory=self.device.type == "cuda", worker_init_fn=_worker_init)

    def setup(self) -> None:
        a = self.args
        seed_everything(a.seed)
        self.model = build_for_training(a, self.data.nc, self.resume_state).to(self.device)
        # channels-last convolutions: faster on GPUs, and forward+backward 12% faster on a 2-core x86 CPU (oneDNN)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.dataset = self._datasets()
        self.loader = self._loader(self.dataset)
        self.nb = len(self.loader) if a.max_batches is None else min(len(self.loader), a.max_batches)
        self.accumulate = max(round(a.nbs / a.batch), 1)
        decay = a.weight_decay * a.batch * self.accumulate / a.nbs
        iterations = math.ceil(len(self.dataset) / max(a.batch, a.nbs)) * a.epochs
        self.optimizer, name, self.lr0, self.momentum, bias_warmup = build_optimizer(
            self.model, a.optimizer, a.lr0, a.momentum, decay, self.data.nc, iterations)
        self.warmup_bias_lr = a.warmup_bias_lr if bias_warmup else 0.0
        self.lf = lr_lambda("cosine" if a.cos_lr else "linear", a.epochs, a.lrf)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)
        self.ema = ModelEMA(self.model, decay=a.ema_decay) if self.dist.main else None
        self.criterion = build_loss(self.model, LossGains(a.box, a.cls, a.dfl), a.epochs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=a.amp and self.device.type == "cuda")
        if self.resume_state:
            self._restore(self.resume_state)
        if self.dist.enabled:
            if a.sync_bn:
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.model = torch.nn.parallel.DistributedDataParallel(self.model)
        self.run_dir = None
        if a.resume:
            self.run_dir = Path(a.resume).resolve().parent.parent
        elif self.dist.main:
            self.run_dir = new_run_dir(a.project, a.name, a.exist_ok)
        if self.dist.main:
            self.lock = lock_run_dir(self.run_dir)
            (self.run_dir / "weights").mkdir(parents=True, exist_ok=True)
            for stale in (self.run_dir / "weights").glob(".*.tmp"):  # a write interrupted by a kill: never a checkpoint
                stale.unlink()
            write_args(self.run_dir, a.to_dict())
            if self.skip_report:
                write_problems_csv(self.run_dir / "skipped_train.csv", self.skip_report)
            self.log(f"{name} lr0={self.lr0} momentum={self.momentum} weight_decay={decay:.2e}, batch {a.batch} "
                     f"(accumulate {self.accumulate} to {a.nbs}), {len(self.dataset)} train images")

    def _restore(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch = int(state["epoch"]) + 1
        self.best_fitness = float(state["best_fitness"])
        self.scheduler.last_epoch = self.start_epoch - 1
        self.scheduler.step()  # lr for the epoch about to run
        if self.ema is not None:
            self.ema.ema.load_state_dict(state["loaded"].model.state_dict())
            self.ema.updates = int(state["ema_updates"])
        if self.start_epoch >= self.args.epochs:
            raise UsageError(f"{self.args.resume}: training already finished ({self.args.epochs} epochs); "
                             f"pass a larger --epochs to continue")

    # ---- loop --------------------------------------------------------------------------------------------------
    @property
    def raw_model(self):
        return self.model.module if hasattr(self.model, "module") else self.model

    def train(self) -> TrainResult:
        self.setup()
        a, metrics, epoch = self.args, None, self.start_epoch - 1
        if self.dist.main:  # rows are 1-based: keep the completed epochs (none for a fresh run in a reused dir)
            truncate_results(self.run_dir, self.start_epoch)
        stale = 0
        for epoch in range(self.start_epoch, a.epochs):
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            self.scheduler.step()
            stop = False
            if self.dist.main:
                final = epoch == a.epochs - 1
                metrics = self.validate() if (a.val or final) else None
                fitness = metrics.fitness if metrics else -1.0
                improved = fitness > self.best_fitness
                self.best_fitness = max(self.best_fitness, fitness)
                if metrics is not None:  # patience counts validated epochs only (--no-val trains to the end)
                    stale = 0 if improved else stale + 1
                # the results row, best.pt, then last.pt: last.pt is the commit point, so a kill anywhere in between
                # resumes from the previous epoch and redoes this one exactly (the row is truncated on resume)
                self._log_epoch(epoch, losses, metrics, time.perf_counter() - t0)
                self._save(epoch, improved)
                stop = a.patience > 0 and stale >= a.patience
                if stop:
                    self.log(f"early stop: no improvement in box + mask mAP50-95 for {a.patience} epochs")
            if self.dist.broadcast_flag(stop):
                break
        self.dist.barrier()
        result = None
        if self.dist.main:
            from .plots import plot_run

            if a.plots:
                plot_run(self.run_dir, self, metrics)
            w = self.run_dir / "weights"
            result = TrainResult(self.run_dir, w / "best.pt", w / "last.pt", self.best_fitness, epoch + 1, metrics)
        self.dist.close()
        if self.lock is not None:
            self.lock.close()
        return result

    def _seed_epoch(self, epoch: int) -> None:
        seed_everything(self.args.seed + epoch)
        mosaic = epoch < self.args.epochs - self.args.close_mosaic
        self.dataset.set_epoch(epoch, mosaic)
        self.loader.sampler.set_epoch(epoch, mosaic)  # reaches the workers with every index (EpochSampler)
        if not self.dist.enabled:
            self.generator.manual_seed(self.args.seed + epoch)

    def train_epoch(self, epoch: int) -> np.ndarray:
        a = self.args
        self._seed_epoch(epoch)
        self.model.train()
        nw = warmup_iterations(a.warmup_epochs, a.epochs, self.nb)
        acc0 = max(round(a.nbs / a.batch), 1)
        mean = torch.zeros(len(PARTS))
        if hasattr(self.criterion, "set_epoch"):
            self.criterion.set_epoch(epoch)
        progress = EpochProgress(epoch, a.epochs, self.nb, enabled=self.dist.main)
        last_step = -1
        self.timing = {"data_s": 0.0, "step_s": 0.0, "images": 0}  # dataloader wait vs compute, for benchmarks
        t_ready = time.perf_counter()
        for i, batch in enumerate(self.loader):
            t_got = time.perf_counter()
            self.timing["data_s"] += t_got - t_ready
            if i >= self.nb:
                break
            ni = i + self.nb * epoch
            if nw and ni <= nw:
                self.accumulate = max(1, int(np.interp(ni, [0, nw], [1, acc0]).round()))
                warmup_step(self.optimizer, ni, nw, epoch, self.lf, self.lr0, self.momentum, self.warmup_bias_lr,
                            a.warmup_momentum)
            imgs = batch["img"].to(self.device, non_blocking=True).float() / 255
            imgs = imgs.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
                loss, parts = self.criterion(self.model(imgs), batch)
            if not bool(torch.isfinite(loss)):
                self._diverged(epoch, i, parts)
            self.scaler.scale(loss * self.dist.world_size).backward()
            if ni - last_step >= self.accumulate or i == self.nb - 1:
                self._optimizer_step()
                last_step = ni
            mean = (mean * i + parts.cpu()) / (i + 1)
            progress.update(mean, self.device)
            t_ready = time.perf_counter()
            self.timing["step_s"] += t_ready - t_got
            self.timing["images"] += len(imgs)
            for callback in self.batch_callbacks:
                callback(self, epoch, i)
        progress.close()
        self.epoch_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]  # what this epoch trained with
        return mean.numpy()

    def _diverged(self, epoch: int, batch: int, parts: torch.Tensor) -> None:
        """A non-finite loss ends the run before it can reach a checkpoint: the last good one stays."""
        values = ", ".join(f"{k} {float(v):.4g}" for k, v in zip(("box", "seg", "cls", "dfl"), parts.cpu()))
        kept = self.run_dir / "weights" / "last.pt" if self.run_dir else None
        where = f"the last good checkpoint is {kept}" if kept is not None and kept.exists() else "no checkpoint was written"
        raise TrainingDiverged(f"training stopped at epoch {epoch + 1}, batch {batch + 1}: the loss is not finite "
                               f"({values}); {where}. Lower --lr0, or check the labels and augmentation settings")

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.args.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.raw_model)

    def validate(self, model=None):
        """Scores the EMA model through the runtime (the same letterbox, post-processing and metrics as every
        exported format); square letterbox unless --rect."""
        model = model or self.ema.ema
        meta = model.metadata(self.names, imgsz=(self.args.imgsz, self.args.imgsz), dynamic=self.args.rect)
        metrics = validate(Predictor(TorchBackend.from_model(model, meta)), self.data, "val", imgsz=self.args.imgsz)
        if self.val_loss is None:
            a = self.args
            self.val_loss = ValLoss(self.data, a.imgsz, a.batch, a.mask_ratio, a.overlap_mask)
        self.val_losses = self.val_loss(model, self.criterion)
        if metrics.skipped and self.dist.main and not (self.run_dir / "skipped_val.csv").exists():
            print_skip_report(metrics.skipped, self.log)  # once per run: the val split does not change
            write_problems_csv(self.run_dir / "skipped_val.csv", metrics.skipped)
        return metrics

    def _save(self, epoch: int, improved: bool) -> None:
        w = self.run_dir / "weights"
        state = {"train_args": self.args.to_dict(), "epoch": epoch, "best_fitness": self.best_fitness,
                 "optimizer": self.optimizer.state_dict(), "ema_updates": self.ema.updates,
                 "train_model_state": {k: v.detach().cpu().clone() for k, v in self.raw_model.state_dict().items()}}
        if improved or not (w / "best.pt").exists():
            save_training_state(w / "best.pt", self.ema.ema, self.names, self.args.imgsz,
                                {"epoch": epoch, "best_fitness": self.best_fitness})
        save_training_state(w / "last.pt", self.ema.ema, self.names, self.args.imgsz, state)

    def _log_epoch(self, epoch: int, losses: np.ndarray, metrics, seconds: float) -> None:
        row = results_row(epoch, seconds, dict(zip(PARTS, losses)), self.epoch_lrs, metrics,
                          dict(zip(PARTS, self.val_losses)) if metrics is not None and self.val_losses is not None else None)
        append_results(self.run_dir, row)
        if metrics is not None:
            self.log(f"epoch {epoch + 1}/{self.args.epochs}: box mAP50-95 {metrics.box.map:.4f} mAP50 {metrics.box.map50:.4f}"
                     f" | mask mAP50-95 {metrics.seg.map:.4f} mAP50 {metrics.seg.map50:.4f} ({seconds:.1f}s)")


def default_workers(device: torch.device) -> int:
    """Loader processes when --workers is not given. On CPU none: a worker competes with the training threads for
    the same cores (yolov8n-seg at 320 on 2 cores: 14.2 images/s with 0 workers, 13.5 with 1, 12.0 with 2; decoded
    images are cached, so loading in-line costs ~5 ms per mosaic sample). On GPUs the reference's 8."""
    return 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)


def _worker_init(_worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(0)  # the loader's processes share the cores with training; no nested thread pools
