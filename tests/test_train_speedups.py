"""What the speed changes must not change: the decoded-image cache returns what a fresh load does
and never hands out writable arrays; the vectorised perspective keeps and moves exactly the instances the
per-polygon rule does; CPU training loads data in-line unless --workers says otherwise; checkpoints are stored
in the standard layout whatever memory format trained them; OpenVINO INT8 picks the faster of two equally accurate
quantisation routes, never a less accurate one."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeseg.trainer.data.augment import AugmentConfig, Sample, _affine_matrix, random_perspective  # noqa: E402
from edgeseg.trainer.data.dataset import LoadedCache, SegDataset, scan  # noqa: E402


def _per_polygon_rule(sample: Sample, out_size: int, seed: int, min_area_ratio: float = 0.01, **hyp) -> Sample:
    """The rule written one polygon at a time (the reference's statement of it: the box of the points inside the
    frame, the polygon clamped into that box), for comparison."""
    m, s = _affine_matrix(np.random.default_rng(seed), sample.image.shape[:2], (out_size, out_size), **hyp)
    kept, classes = [], []
    for poly, cls in zip(sample.polygons, sample.classes):
        pts = np.concatenate([poly, np.ones((len(poly), 1))], 1) @ m.T
        pts = pts[:, :2] / pts[:, 2:3] if hyp["perspective"] else pts[:, :2]
        before = (poly.max(0) - poly.min(0)) * s
        x, y = pts[:, 0], pts[:, 1]
        if sum([x.min() < 0, y.min() < 0, x.max() > out_size, y.max() > out_size]) >= 3:
            x, y = x.clip(0, out_size), y.clip(0, out_size)
        inside = (x >= 0) & (y >= 0) & (x <= out_size) & (y <= out_size)
        box = [x[inside].min(), y[inside].min(), x[inside].max(), y[inside].max()] if inside.any() else [0, 0, 0, 0]
        clipped = np.stack([x.clip(box[0], box[2]), y.clip(box[1], box[3])], 1) if inside.any() else 0 * pts
        w, h = box[2] - box[0], box[3] - box[1]
        if w > 2 and h > 2 and w * h / (before.prod() + 1e-16) > min_area_ratio and max(w / (h + 1e-16), h / (w + 1e-16)) < 100:
            kept.append(clipped.astype(np.float32))
            classes.append(cls)
    return Sample(sample.image, kept, np.asarray(classes, np.int64))


@pytest.mark.parametrize("perspective", [0.0, 0.0008])
def test_vectorised_perspective_keeps_the_same_instances(perspective):
    rng = np.random.default_rng(3)
    polygons = []
    for _ in range(40):  # small and large, inside and near the border of a 2x canvas, as after mosaic
        centre, radius = rng.uniform(0, 640, 2), rng.uniform(1, 120)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
        polygons.append((centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)).astype(np.float32))
    sample = Sample(np.zeros((640, 640, 3), np.uint8), polygons, np.arange(40))
    hyp = dict(degrees=10.0, translate=0.1, scale=0.5, shear=2.0, perspective=perspective)
    kept = []
    for seed in range(8):
        got = random_perspective(sample, 320, np.random.default_rng(seed), **hyp)
        want = _per_polygon_rule(sample, 320, seed, **hyp)
        assert got.classes.tolist() == want.classes.tolist()
        for a, b in zip(got.polygons, want.polygons):
            np.testing.assert_allclose(a, b, atol=1e-3)
        kept.append(len(got.classes))
    assert 0 < min(kept) < 40  # the rule was exercised: instances were dropped, others kept


def test_an_instance_cut_at_the_border_gets_the_box_of_its_visible_part():
    """An L-shaped instance mostly outside the frame, only a 5x15 tab inside: clamping its points to the frame gave
    it the box of its whole run along the border (y 5..100); its box and mask are the visible tab's."""
    import cv2

    from edgeseg.trainer.data.augment import clip_to_visible, resample

    l_shape = np.array([[-60, 5], [5, 5], [5, 20], [-50, 20], [-50, 100], [-60, 100]], np.float32)
    clipped = clip_to_visible(resample(l_shape).astype(np.float64), 320)
    np.testing.assert_allclose([*clipped.min(0), *clipped.max(0)], [0, 5, 5, 20], atol=0.5)
    assert abs(cv2.contourArea(clipped) - 5 * 15) < 5  # the tab's area; the parts outside add none
    covering = np.array([[-10, -10], [400, -10], [400, 400], [-10, 400]], np.float32)  # no point inside the frame
    np.testing.assert_allclose([*clip_to_visible(resample(covering), 320).min(0)], [0, 0])
    np.testing.assert_allclose([*clip_to_visible(resample(covering), 320).max(0)], [320, 320])


def test_mosaic_instances_end_at_the_canvas_edge():
    """The part of an image beyond the mosaic canvas is not pasted, so no instance may reach past the canvas."""
    from edgeseg.trainer.data.augment import mosaic4

    whole = np.array([[0, 0], [319, 0], [319, 239], [0, 239]], np.float32)  # an instance covering its image
    samples = [Sample(np.zeros((240, 320, 3), np.uint8), [whole], np.array([0])) for _ in range(4)]
    for seed in range(10):
        out = mosaic4(samples, 320, np.random.default_rng(seed))
        points = np.concatenate(out.polygons)
        assert points.min() >= 0 and points.max() <= 640, seed


def test_loaded_cache_evicts_the_least_recently_used_and_freezes_arrays():
    def sample(value: int) -> Sample:
        return Sample(np.full((10, 10, 3), value, np.uint8), [np.zeros((4, 2), np.float32)], np.array([value]))

    each = 300 + 32
    cache = LoadedCache(max_bytes=2 * each)
    first = cache.put(0, sample(0))
    cache.put(1, sample(1))
    assert cache.get(0) is first  # 0 is now the most recently used
    cache.put(2, sample(2))
    assert cache.get(1) is None and cache.get(0) is first and cache.get(2) is not None and cache.used == 2 * each
    with pytest.raises(ValueError, match="read-only"):
        first.image[0, 0, 0] = 7
    big = Sample(np.zeros((100, 100, 3), np.uint8), [], np.zeros(0, np.int64))
    assert cache.put(9, big) is big and cache.get(9) is None  # larger than the budget: used, not kept


def test_dataset_samples_are_the_same_with_a_warm_cache(synthetic_data):
    from edgeseg.runtime.datasets.yolo import load_data_yaml

    cfg = load_data_yaml(synthetic_data)
    records, _ = scan(cfg.splits["train"], cfg.nc)
    cold = SegDataset(records, 160, True, AugmentConfig())
    cold.loaded = LoadedCache(0)  # never keeps anything: every load decodes the file
    warm = SegDataset(records, 160, True, AugmentConfig())
    for epoch in range(2):
        for index in range(min(len(records), 6)):
            a, b = cold[(index, epoch, True)], warm[(index, epoch, True)]
            assert all(torch.equal(a[k], b[k]) for k in a)
    assert warm.loaded.used > 0 and len(warm.loaded.items) == min(len(records), len(warm.loaded.items))


def test_cpu_training_loads_in_line_unless_told():
    from edgeseg.trainer.args import TrainArgs
    from edgeseg.trainer.engine import default_workers

    from types import SimpleNamespace

    from edgeseg.trainer.engine import Trainer

    assert TrainArgs().workers is None
    assert default_workers(torch.device("cpu")) == 0
    for workers, loader_workers in ((None, 0), (3, 3)):  # the loader the trainer builds, not just the argument
        trainer = Trainer.__new__(Trainer)
        trainer.args, trainer.device = TrainArgs(workers=workers), torch.device("cpu")
        trainer.dist = SimpleNamespace(enabled=False, world_size=1)
        assert trainer._loader(list(range(4))).num_workers == loader_workers


def test_checkpoint_weights_are_stored_contiguous():
    from edgeseg.trainer.checkpoint import checkpoint_dict
    from edgeseg.trainer.config import config_from_name
    from edgeseg.trainer.model import build_model

    model = build_model(config_from_name("yolov8n-seg")).to(memory_format=torch.channels_last)
    assert any(not v.is_contiguous() for v in model.state_dict().values())
    state = checkpoint_dict(model, {0: "a"}, 320)["state_dict"]
    assert all(v.is_contiguous() for v in state.values())


def test_openvino_route_prefers_the_faster_of_equally_accurate_candidates():
    from edgeseg.converters.quantize.openvino import choose_route

    latency = {"nncf-mixed": 8.1, "qdq-percentile": 9.9}
    tied = {"nncf-mixed": (0.0, 0.0, -0.004), "qdq-percentile": (0.0, 0.0, -0.001)}  # no detection to agree on
    assert choose_route(tied, latency) == "nncf-mixed"
    near = {"nncf-mixed": (0.912, 0.93, -0.004), "qdq-percentile": (0.918, 0.93, -0.001)}
    assert choose_route(near, latency) == "nncf-mixed"
    better = {"nncf-mixed": (0.85, 0.93, -0.004), "qdq-percentile": (0.92, 0.93, -0.001)}
    assert choose_route(better, latency) == "qdq-percentile"  # accuracy first
