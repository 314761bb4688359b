"""Run plots (PNG): loss and metric curves, PR curves, confusion matrix, a training-batch mosaic with labels,
and validation images with labels beside predictions."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeseg.runtime.coco_eval import RECALL_THRESHOLDS
from edgeseg.runtime.datasets.yolo import label_path, read_labels
from edgeseg.runtime.results import color_for
from edgeseg.runtime.sources import read_image
from edgeseg.runtime.validate import ground_truth

from .run_io import read_results


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_results(run_dir: Path) -> Path | None:
    rows = read_results(run_dir)
    if not rows:
        return None
    plt = _plt()
    keys = ["train/box_loss", "train/seg_loss", "train/cls_loss", "train/dfl_loss",
            "metrics/mAP50(B)", "metrics/mAP50-95(B)", "metrics/mAP50(M)", "metrics/mAP50-95(M)"]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6), tight_layout=True)
    epochs = [r["epoch"] for r in rows]
    for ax, key in zip(axes.ravel(), keys):
        ax.plot(epochs, [r.get(key, np.nan) for r in rows], marker=".")
        ax.set_title(key)
        ax.set_xlabel("epoch")
    path = run_dir / "results.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_pr(run_dir: Path, metrics) -> None:
    plt = _plt()
    for tag, det in (("Box", metrics.box), ("Mask", metrics.seg)):
        fig, ax = plt.subplots(figsize=(6, 5), tight_layout=True)
        if len(det.pr_curve):
            ax.plot(RECALL_THRESHOLDS, det.pr_curve, label=f"all classes mAP50 {det.map50:.3f}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title=f"{tag} PR curve (IoU 0.5)")
        ax.legend(loc="lower left")
        fig.savefig(run_dir / f"{tag}PR_curve.png", dpi=120)
        plt.close(fig)


def confusion_matrix(pairs, nc: int, iou_thr: float = 0.45) -> np.ndarray:
    """(nc+1)x(nc+1) counts [predicted, true]; the last row/column is background."""
    from edgeseg.runtime.coco_eval import box_iou

    cm = np.zeros((nc + 1, nc + 1), np.int64)
    for gt, res in pairs:
        ious = box_iou(res.boxes, gt.boxes, np.zeros(len(gt.boxes), bool))
        used_p, used_g = set(), set()
        for p, g in sorted(zip(*np.nonzero(ious > iou_thr)), key=lambda pg: -ious[pg]):
            if p not in used_p and g not in used_g:
                cm[res.class_ids[p], gt.class_ids[g]] += 1
                used_p.add(p)
                used_g.add(g)
        for g in set(range(len(gt.boxes))) - used_g:
            cm[nc, gt.class_ids[g]] += 1
        for p in set(range(len(res.boxes))) - used_p:
            cm[res.class_ids[p], nc] += 1
    return cm


def plot_confusion(run_dir: Path, cm: np.ndarray, names: dict[int, str]) -> None:
    plt = _plt()
    present = [i for i in range(len(cm)) if cm[i].sum() or cm[:, i].sum()]
    labels = [names.get(i, "background") for i in present]
    sub = cm[np.ix_(present, present)]
    fig, ax = plt.subplots(figsize=(max(6, len(present) * 0.4), max(5, len(present) * 0.35)), tight_layout=True)
    ax.imshow(sub, cmap="Blues")
    ax.set_xticks(range(len(present)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(present)), labels, fontsize=7)
    ax.set(xlabel="true", ylabel="predicted", title="Confusion matrix (conf 0.25, box IoU 0.45)")
    fig.savefig(run_dir / "confusion_matrix.png", dpi=120)
    plt.close(fig)


def draw_labels(image: np.ndarray, gt, alpha: float = 0.45) -> np.ndarray:
    canvas = image.copy()
    for k, cls in enumerate(gt.class_ids):
        mask = gt.masks.one(k)
        canvas[mask] = (canvas[mask] * (1 - alpha) + np.array(color_for(cls)) * alpha).astype(np.uint8)
        x1, y1, x2, y2 = (int(v) for v in gt.boxes[k])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color_for(cls), 2)
    return canvas


def _grid(images: list[np.ndarray], cell: int = 320) -> np.ndarray:
    tiles = [cv2.resize(img, (cell, int(cell * img.shape[0] / img.shape[1]))) for img in images]
    h = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)) for t in tiles]
    return np.concatenate(tiles, axis=1)


def plot_train_batch(run_dir: Path, dataset) -> None:
    from .data.dataset import collate

    batch = collate([dataset[i] for i in range(min(4, len(dataset)))])
    tiles = []
    for i in range(len(batch["img"])):
        img = np.ascontiguousarray(batch["img"][i].numpy().transpose(1, 2, 0)[..., ::-1])
        sel = batch["batch_idx"] == i
        for box, cls, mask in zip(batch["boxes"][sel].numpy(), batch["cls"][sel].numpy(), batch["masks"][sel].numpy()):
            big = cv2.resize(mask, img.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
            img[big] = (img[big] * 0.55 + np.array(color_for(cls)) * 0.45).astype(np.uint8)
            cv2.rectangle(img, tuple(int(v) for v in box[:2]), tuple(int(v) for v in box[2:]), color_for(cls), 1)
        tiles.append(img)
    cv2.imwrite(str(run_dir / "train_batch0.jpg"), _grid(tiles))


def plot_run(run_dir: Path, trainer, metrics) -> None:
    """Everything at the end of a run; val predictions come from the final EMA model at conf 0.25."""
    from edgeseg.runtime.predictor import Predictor

    from .torch_backend import TorchBackend

    plot_results(run_dir)
    plot_train_batch(run_dir, trainer.dataset)
    if metrics is not None:
        plot_pr(run_dir, metrics)
    meta = trainer.raw_model.metadata(trainer.names, imgsz=(trainer.args.imgsz,) * 2, dynamic=False)
    predictor = Predictor(TorchBackend.from_model(trainer.ema.ema, meta))
    pairs, labels_tiles, pred_tiles = [], [], []
    for i, path in enumerate(trainer.data.splits.get("val", [])[:50]):
        image = read_image(path)
        gt = ground_truth(read_labels(label_path(path), trainer.data.nc), image.shape[:2])
        (res,) = predictor.predict(image, conf=0.25)
        pairs.append((gt, res))
        if i < 4:
            labels_tiles.append(draw_labels(image, gt))
            pred_tiles.append(res.plot(image))
    if pairs:
        plot_confusion(run_dir, confusion_matrix(pairs, trainer.data.nc), trainer.names)
        cv2.imwrite(str(run_dir / "val_batch0_labels.jpg"), _grid(labels_tiles))
        cv2.imwrite(str(run_dir / "val_batch0_pred.jpg"), _grid(pred_tiles))
