"""Property-based tests (hypothesis) of the shared pre/post-processing: letterbox and its inverse, NMS against a
brute-force reference and under input permutation, mask assembly against a straightforward per-pixel reference,
metrics against pycocotools on random predictions, label parsing and metadata parsing on arbitrary input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeseg.runtime.datasets.yolo import read_labels
from edgeseg.runtime.errors import ModelFormatError
from edgeseg.runtime.instance_masks import InstanceMasks
from edgeseg.runtime.letterbox import PAD_VALUE, letterbox, letterbox_geometry
from edgeseg.runtime.masks import assemble_masks
from helpers.mask_reference import reference_mask
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.metrics import Evaluator, GroundTruth
from edgeseg.runtime.nms import batched_nms, pairwise_iou

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
shapes = st.tuples(st.integers(1, 3000), st.integers(1, 3000))
sizes = st.one_of(st.integers(32, 1280), st.tuples(st.integers(32, 1280), st.integers(32, 1280)))


@FAST
@given(shape=shapes, imgsz=sizes, rect=st.booleans(), data=st.data())
def test_letterbox_inverse_maps_boxes_back(shape, imgsz, rect, data):
    info = letterbox_geometry(shape, imgsz, 32, rect)
    h, w = shape
    th, tw = info.input_shape
    new_w, new_h = round(info.scale[0] * w), round(info.scale[1] * h)
    assert 0 <= info.pad[0] and info.pad[0] + new_w <= tw and 0 <= info.pad[1] and info.pad[1] + new_h <= th
    if rect:
        assert th % 32 == 0 and tw % 32 == 0
    x0, x1 = sorted(data.draw(st.tuples(st.floats(0, w), st.floats(0, w))))
    y0, y1 = sorted(data.draw(st.tuples(st.floats(0, h), st.floats(0, h))))
    box = np.array([[x0, y0, x1, y1]], np.float32)
    back = info.to_original(info.to_input(box))
    np.testing.assert_allclose(back, box, rtol=1e-5, atol=1e-3 * max(h, w) / min(new_h, new_w) + 1e-3)


@settings(max_examples=100, deadline=None)
@given(shape=st.tuples(st.integers(1, 200), st.integers(1, 200)), imgsz=st.integers(32, 256), seed=st.integers(0, 2**16))
def test_letterbox_places_the_image_and_pads_with_grey(shape, imgsz, seed):
    image = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    canvas, info = letterbox(image, imgsz)
    assert canvas.shape == (*info.input_shape, 3) and canvas.dtype == np.uint8
    left, top = info.pad
    new_w, new_h = round(info.scale[0] * shape[1]), round(info.scale[1] * shape[0])
    mask = np.ones(canvas.shape[:2], bool)
    mask[top:top + new_h, left:left + new_w] = False
    assert (canvas[mask] == PAD_VALUE).all()


def brute_force_nms(boxes, scores, classes, thr, max_det):
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])  # Python's sort is stable, like the product's
    kept = []
    for i in order:
        if all(classes[i] != classes[k] or pairwise_iou(boxes[i:i + 1], boxes[k:k + 1])[0, 0] <= thr for k in kept):
            kept.append(i)
        if len(kept) == max_det:
            break
    return kept


@st.composite
def detections(draw, max_n=80):
    n = draw(st.integers(0, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(1, 80, (n, 2)) * (rng.random((n, 1)) < 0.95)  # a few zero-size boxes
    boxes = np.concatenate([xy, xy + wh], 1)
    scores = np.round(rng.random(n), draw(st.integers(1, 6)))  # coarse rounding makes ties
    classes = rng.integers(0, draw(st.integers(1, 4)), n)
    return boxes, scores, classes


@FAST
@given(det=detections(), thr=st.floats(0.05, 0.95), max_det=st.integers(1, 100), agnostic=st.booleans())
def test_nms_matches_a_brute_force_reference(det, thr, max_det, agnostic):
    boxes, scores, classes = det
    kept = batched_nms(boxes, scores, classes, thr, max_det, agnostic=agnostic)
    ref = brute_force_nms(boxes, scores, np.zeros_like(classes) if agnostic else classes, thr, max_det)
    assert kept.tolist() == ref


@FAST
@given(det=detections(), thr=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_nms_is_invariant_to_input_order(det, thr, seed):
    boxes, scores, classes = det
    _, first = np.unique(scores, return_index=True)  # distinct scores: the order of ties is the only free choice
    boxes, scores, classes = boxes[first], scores[first], classes[first]
    perm = np.random.default_rng(seed).permutation(len(boxes))
    kept = batched_nms(boxes, scores, classes, thr, 300)
    kept_perm = batched_nms(boxes[perm], scores[perm], classes[perm], thr, 300)
    assert sorted(kept.tolist()) == sorted(perm[kept_perm].tolist())


@settings(max_examples=100, deadline=None)
@given(shape=st.tuples(st.integers(8, 300), st.integers(8, 300)), imgsz=st.sampled_from([64, 96, 128, 160]),
       seed=st.integers(0, 2**16), threshold=st.floats(0.2, 0.8))
def test_mask_assembly_matches_a_per_pixel_reference(shape, imgsz, seed, threshold):
    rng = np.random.default_rng(seed)
    info = letterbox_geometry(shape, imgsz)
    ph, pw = info.input_shape[0] // 4, info.input_shape[1] // 4
    protos = rng.normal(0, 1, (8, ph, pw)).astype(np.float32)
    coeffs = rng.normal(0, 1, (3, 8)).astype(np.float32)
    h, w = shape
    corners = rng.uniform([-10, -10], [w, h], (3, 2))
    boxes = np.concatenate([corners, corners + rng.uniform([0, 0], [w, h], (3, 2))], 1).astype(np.float32)
    masks, _ = assemble_masks(protos, coeffs, boxes, info, threshold)
    full = masks.full()
    for k in range(3):
        ref, margin = reference_mask(protos, coeffs[k], boxes[k], info, threshold)
        differ = full[k] != ref
        # float32 against float64 arithmetic: only pixels within rounding of the threshold may differ
        assert (margin[differ] <= 1e-4).all(), (differ.sum(), margin[differ].max(initial=0))


pycocotools = pytest.importorskip("pycocotools", reason="pycocotools not installed (pip install 'edgeseg[dev]')")


@st.composite
def scenes(draw):
    """Random GT rectangles (some crowd) and random predicted rectangles on a few small images."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nc, h, w = draw(st.integers(1, 3)), 60, 80
    scene = []
    for _ in range(draw(st.integers(1, 4))):
        def rects(n):
            xy = rng.integers(0, [w - 2, h - 2], (n, 2))
            wh = rng.integers(1, 40, (n, 2))
            return np.concatenate([xy, np.minimum(xy + wh, [w, h])], 1).astype(np.float32)
        gt, dt = rects(int(rng.integers(0, 6))), rects(int(rng.integers(0, 8)))
        scene.append((gt, rng.integers(0, nc, len(gt)), rng.random(len(gt)) < 0.2,
                      dt, np.round(rng.random(len(dt)), 3), rng.integers(0, nc, len(dt))))
    return nc, (h, w), scene


def _full(rects, shape):
    masks = np.zeros((len(rects), *shape), bool)
    for m, (x0, y0, x1, y1) in zip(masks, rects.astype(int)):
        m[y0:y1, x0:x1] = True
    return masks


@settings(max_examples=60, deadline=None)
@given(scene=scenes())
def test_metrics_equal_pycocotools_on_random_predictions(scene):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from edgeseg.runtime import rle

    nc, shape, images = scene
    evaluator = Evaluator({i: str(i) for i in range(nc)})
    coco_images, anns, results = [], [], []
    for image_id, (gt, gcls, crowd, dt, scores, dcls) in enumerate(images, 1):
        gmasks, dmasks = _full(gt, shape), _full(dt, shape)
        areas = gmasks.sum((1, 2)).astype(float)
        evaluator.add(GroundTruth(gt, gcls, InstanceMasks.from_full(gmasks), areas, crowd), dt, scores, dcls,
                      InstanceMasks.from_full(dmasks))
        coco_images.append({"id": image_id, "height": shape[0], "width": shape[1]})
        for b, c, cr, m, a in zip(gt, gcls, crowd, gmasks, areas):
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(c) + 1, "iscrowd": int(cr),
                         "area": float(a), "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                         "segmentation": rle.encode(m)})
        results += [{"image_id": image_id, "category_id": int(c) + 1, "score": float(s), "segmentation": rle.encode(m),
                     "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
                    for b, s, c, m in zip(dt, scores, dcls, dmasks)]
    ours = evaluator.result()
    if not results or not anns:
        return  # pycocotools cannot load empty results; the evaluator's own tests cover empty inputs
    gt_coco = COCO()
    gt_coco.dataset = {"images": coco_images, "annotations": anns, "categories": [{"id": i + 1} for i in range(nc)]}
    gt_coco.createIndex()
    dt_coco = gt_coco.loadRes(results)
    for kind, mine in (("bbox", ours.box), ("segm", ours.seg)):
        ev = COCOeval(gt_coco, dt_coco, kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        theirs = max(ev.stats[0], 0.0), max(ev.stats[1], 0.0)  # pycocotools writes -1 where nothing is scored
        assert (mine.map, mine.map50) == pytest.approx(theirs, abs=1e-9), kind


label_tokens = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-3, 90).map(str),
                         st.text(max_size=4), st.sampled_from(["0", "1", "0.5", "1e-3", "-0", "nan", "+1", "0x1"]))


@FAST
@given(lines=st.lists(st.lists(label_tokens, max_size=12).map(" ".join), max_size=8), nc=st.integers(1, 90),
       ending=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_label_parsing_never_raises_and_keeps_only_valid_instances(tmp_path_factory, lines, nc, ending, bom):
    path = tmp_path_factory.mktemp("labels") / "x.txt"
    path.write_text(("\ufeff" if bom else "") + ending.join(lines), encoding="utf-8")
    parsed = read_labels(path, nc)
    for inst in parsed.instances:
        assert 0 <= inst.class_id < nc and inst.polygon.shape[0] >= 3 and inst.polygon.shape[1] == 2
        assert np.isfinite(inst.polygon).all() and (inst.polygon >= 0).all() and (inst.polygon <= 1).all()
    content = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.split()]
    dropped = [p for p in parsed.problems if "clipped" not in p]
    assert len(parsed.instances) + len(dropped) == len(content)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 700) | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=8)
meta_keys = st.sampled_from(["names", "imgsz", "stride", "batch", "dynamic", "layout", "task", "num_masks", "channels",
                             "precision", "input_layout", "quantization", "bogus"])


@FAST
@given(fields=st.dictionaries(meta_keys, json_values, max_size=6))
def test_metadata_parsing_raises_only_clear_errors_and_round_trips(fields):
    base = {"names": {"0": "a", "1": "b"}, "imgsz": [320, 320]}
    data = {**base, **fields}
    try:
        meta = ModelMetadata.from_dict(json.loads(json.dumps(data)), "m.json")
    except ModelFormatError as err:
        assert str(err).startswith("m.json: ")
        return
    again = ModelMetadata.from_dict(json.loads(meta.to_json()), "again")
    assert again == meta
