"""COCO-exact metrics: identical to pycocotools on the same ground truth, and within 0.002 of pycocotools with
the datasets' own COCO json on coco8-seg / coco200-seg."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from edgeseg.runtime import rle
from edgeseg.runtime.datasets.yolo import label_path, load_data_yaml, read_labels
from edgeseg.runtime.instance_masks import InstanceMasks
from edgeseg.runtime.metrics import Evaluator, GroundTruth
from edgeseg.runtime.datasets.coco import coco_ground_truth, load_coco
from edgeseg.runtime.validate import ground_truth

pytest.importorskip("pycocotools", reason="pycocotools not installed (pip install 'edgeseg[dev]')")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def mask_from_polygon(poly: np.ndarray, shape) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 1)
    return canvas.astype(bool)


def bounds(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32) if len(xs) else np.zeros(4, np.float32)


def oracle_predictions(rng, gt_polys, gt_classes, shape, nc):
    """A noisy 'model': most objects found with jittered polygons, some class confusions, some false positives."""
    h, w = shape
    masks, classes, scores = [], [], []
    for poly, cls in zip(gt_polys, gt_classes):
        if rng.random() < 0.15:
            continue
        center = poly.mean(0)
        jitter = (poly - center) * rng.uniform(0.8, 1.2) + center + rng.normal(0, 3, 2)
        m = mask_from_polygon(jitter, shape)
        if m.any():
            masks.append(m)
            classes.append(cls if rng.random() > 0.1 else int(rng.integers(0, nc)))
            scores.append(rng.uniform(0.05, 1.0))
    for _ in range(int(rng.integers(0, 4))):
        x, y = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
        s = rng.uniform(5, 120)
        m = mask_from_polygon(np.array([[x, y], [x + s, y], [x + s, y + s * 0.7]]), shape)
        if m.any():
            masks.append(m)
            classes.append(int(rng.integers(0, nc)))
            scores.append(rng.uniform(0.01, 0.6))
    if not masks:
        return np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, int), np.zeros((0, h, w), bool)
    masks = np.array(masks)
    return np.array([bounds(m) for m in masks]), np.array(scores), np.array(classes), masks


def coco_results(image_id, boxes, scores, classes, masks):
    return [{"image_id": image_id, "category_id": int(c) + 1, "score": float(s),
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])], "segmentation": rle.encode(m)}
            for b, s, c, m in zip(boxes, scores, classes, masks)]


def pycocotools_stats(gt_coco: COCO, results: list) -> dict[str, np.ndarray]:
    dt = gt_coco.loadRes(results)
    out = {}
    for kind in ("bbox", "segm"):
        ev = COCOeval(gt_coco, dt, kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        out[kind] = ev.stats
    return out


def ours_vs(stats, metrics, tol):
    for kind, ours in (("bbox", metrics.box), ("segm", metrics.seg)):
        theirs = stats[kind]
        assert ours.map == pytest.approx(theirs[0], abs=tol), kind
        assert ours.map50 == pytest.approx(theirs[1], abs=tol), kind
        assert ours.map75 == pytest.approx(theirs[2], abs=tol), kind
        for value, ref in zip((ours.map_small, ours.map_medium, ours.map_large), theirs[3:6]):
            assert value == pytest.approx(ref, abs=tol), kind


@pytest.mark.parametrize("seed", range(3))
def test_identical_to_pycocotools_on_the_same_ground_truth(seed):
    """Random shapes (incl. crowd regions and all area ranges) scored by both: equal to 1e-9."""
    rng = np.random.default_rng(seed)
    nc, shape = 4, (240, 320)
    names = {i: str(i) for i in range(nc)}
    evaluator = Evaluator(names)
    images, anns, results = [], [], []
    for image_id in range(1, 9):
        polys, classes = [], []
        for _ in range(int(rng.integers(1, 8))):
            c, s = rng.uniform([20, 20], [300, 220]), rng.uniform(3, 90)
            t = rng.uniform(0, 2 * np.pi) + np.arange(5) * 2 * np.pi / 5
            polys.append(np.stack([c[0] + s * np.cos(t), c[1] + s * np.sin(t)], 1).clip(0, [319, 239]))
            classes.append(int(rng.integers(0, nc)))
        gt_masks = np.array([mask_from_polygon(p, shape) for p in polys])
        crowd = rng.random(len(polys)) < 0.15
        gt = GroundTruth(np.array([bounds(m) for m in gt_masks]), np.array(classes), InstanceMasks.from_full(gt_masks),
                         gt_masks.reshape(len(gt_masks), -1).sum(1).astype(float), crowd)
        boxes, scores, pred_cls, masks = oracle_predictions(rng, polys, classes, shape, nc)
        evaluator.add(gt, boxes, scores, pred_cls, InstanceMasks.from_full(masks))
        images.append({"id": image_id, "height": shape[0], "width": shape[1]})
        for k, (m, c, b, a, cr) in enumerate(zip(gt_masks, classes, gt.boxes, gt.areas, crowd)):
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": c + 1, "iscrowd": int(cr), "area": float(a),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])], "segmentation": rle.encode(m)})
        results += coco_results(image_id, boxes, scores, pred_cls, masks)
    gt_coco = COCO()
    gt_coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": i + 1, "name": str(i)} for i in range(nc)]}
    gt_coco.createIndex()
    ours_vs(pycocotools_stats(gt_coco, results), evaluator.result(), 1e-9)


@pytest.mark.parametrize("dataset", ["coco8", "coco200"])
def test_within_0002_of_pycocotools_with_the_dataset_json(dataset, request):
    root = request.getfixturevalue(dataset)
    cfg = load_data_yaml(root / "data.yaml")
    gt_coco = COCO(str(root / "annotations" / "instances_val.json"))
    ids = {img["file_name"]: img["id"] for img in gt_coco.dataset["images"]}
    rng = np.random.default_rng(0)
    evaluator, results = Evaluator(cfg.names), []
    coco = load_coco(root / "annotations" / "instances_val.json")
    for image_path in cfg.splits["val"]:
        h, w = cv2.imread(str(image_path)).shape[:2]
        labels = read_labels(label_path(image_path), cfg.nc)
        gt = coco_ground_truth(coco, image_path.name, (h, w))  # what `val` uses when a dataset ships its COCO json
        polys = [inst.polygon * [w, h] for inst in labels.instances]
        boxes, scores, classes, masks = oracle_predictions(rng, polys, [i.class_id for i in labels.instances], (h, w), cfg.nc)
        evaluator.add(gt, boxes, scores, classes, InstanceMasks.from_full(masks))
        results += coco_results(ids[image_path.name], boxes, scores, classes, masks)
    metrics = evaluator.result()
    assert metrics.seg.map > 0.2 and metrics.box.map > 0.2  # a non-trivial comparison
    stats = pycocotools_stats(gt_coco, results)
    ours_vs(stats, metrics, 0.002)
    print(dataset, {"ours": (metrics.box.map, metrics.seg.map), "pycocotools": (stats["bbox"][0], stats["segm"][0])})


def test_label_ground_truth_is_close_to_the_coco_json(coco8):
    """YOLO-seg labels rasterised our way vs the dataset's COCO json: same instances, boxes within 0.25 px."""
    cfg = load_data_yaml(coco8 / "data.yaml")
    coco = load_coco(coco8 / "annotations" / "instances_val.json")
    compared = 0
    for image_path in cfg.splits["val"]:
        h, w = cv2.imread(str(image_path)).shape[:2]
        ours = ground_truth(read_labels(label_path(image_path), cfg.nc), (h, w))
        theirs = coco_ground_truth(coco, image_path.name, (h, w))
        np.testing.assert_array_equal(ours.class_ids, theirs.class_ids)
        assert np.abs(ours.boxes - theirs.boxes).max() <= 0.25
        for k in range(len(ours.class_ids)):
            a, b = ours.masks.one(k), theirs.masks.one(k)
            assert (a & b).sum() / (a | b).sum() >= 0.95
            compared += 1
    assert compared == 17
