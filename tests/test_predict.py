"""PyTorch predict through the shared pipeline, on real images (coco8-seg) and synthetic ones."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgeseg  # noqa: E402
from conftest import LOW_CONF, MAX_DET  # noqa: E402
from edgeseg.cli import main  # noqa: E402
from edgeseg.runtime.letterbox import letterbox, to_input_tensor  # noqa: E402
from edgeseg.runtime.metadata import ModelMetadata  # noqa: E402
from edgeseg.runtime.postprocess import PostprocessConfig, postprocess  # noqa: E402
from edgeseg.runtime.predictor import Predictor  # noqa: E402
from edgeseg.runtime.sources import read_image  # noqa: E402
from edgeseg.trainer.checkpoint import save_checkpoint  # noqa: E402
from edgeseg.trainer.torch_backend import TorchBackend  # noqa: E402
from helpers.ultralytics_layout import write_ultralytics_checkpoint  # noqa: E402

NAMES = {i: f"class{i}" for i in range(80)}


@pytest.fixture(scope="module")
def predictor(seeded_model):
    meta = ModelMetadata(names=NAMES, imgsz=(640, 640), dynamic=True)
    return Predictor(TorchBackend.from_model(seeded_model, meta))


def test_predict_on_coco8_is_non_empty_and_well_formed(predictor, coco8):
    results = predictor.predict(coco8 / "images" / "val", conf=LOW_CONF, max_det=MAX_DET)
    assert len(results) == 4
    assert sum(len(r) for r in results) > 0
    for r in results:
        h, w = r.orig_shape
        assert r.masks.shape == (len(r), h, w)
        assert (r.boxes[:, 2] >= r.boxes[:, 0]).all() and (r.boxes[:, [0, 2]] <= w).all()
        assert set(r.speed) == {"preprocess", "inference", "postprocess"}
        assert all(name.startswith("class") for name in r.class_names)


def test_pipeline_equals_manual_composition(predictor, seeded_model, coco8):
    """Predictor = shared letterbox (rect) -> model -> shared postprocess, nothing else."""
    path = sorted((coco8 / "images" / "val").iterdir())[0]
    (res,) = predictor.predict(str(path), conf=LOW_CONF, max_det=MAX_DET)
    image = read_image(path)
    boxed, info = letterbox(image, 640, rect=True)
    fused = type(seeded_model)(seeded_model.cfg)
    fused.load_state_dict(seeded_model.state_dict())
    with torch.no_grad():
        raw = {k: v.numpy() for k, v in fused.eval().fuse()(torch.from_numpy(to_input_tensor([boxed]))).items()}
    (ref,) = postprocess(raw, [info], NAMES, PostprocessConfig(conf=LOW_CONF, max_det=MAX_DET))
    assert len(res) == len(ref) > 0
    np.testing.assert_allclose(res.boxes, ref.boxes, atol=1e-3)
    np.testing.assert_array_equal(res.class_ids, ref.class_ids)


def test_imported_checkpoint_predicts_like_the_source_model(seeded_model, coco8, tmp_path):
    path = write_ultralytics_checkpoint(seeded_model, tmp_path / "yolov8n-seg.pt", NAMES)
    rounded = type(seeded_model)(seeded_model.cfg)
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in seeded_model.state_dict().items()})
    ref_pred = Predictor(TorchBackend.from_model(rounded, ModelMetadata(names=NAMES, dynamic=True)))
    model = edgeseg.Model(path)
    src = coco8 / "images" / "val"
    got, ref = model.predict(src, conf=LOW_CONF, max_det=MAX_DET), ref_pred.predict(src, conf=LOW_CONF, max_det=MAX_DET)
    compared = 0
    for a, b in zip(got, ref):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.01)
        for ma, mb in zip(a.masks, b.masks):
            union = (ma | mb).sum()
            assert union == 0 or (ma & mb).sum() / union >= 0.99
            compared += 1
    assert compared > 0


def test_edgeseg_checkpoint_via_facade_and_load(seeded_model, tmp_path, coco8):
    path = save_checkpoint(tmp_path / "m.pt", seeded_model, NAMES, imgsz=640)
    model = edgeseg.load(path)
    assert model.names == NAMES and model.predictor.backend.engine == "torch"
    results = model(coco8 / "images" / "val" / "000000000036.jpg", conf=LOW_CONF, max_det=MAX_DET)
    assert len(results) == 1 and len(results[0]) > 0
    stream = model.predict(coco8 / "images" / "val", stream=True, conf=LOW_CONF, max_det=MAX_DET)
    assert sum(1 for _ in stream) == 4


def test_cli_predict_writes_overlays_and_coco_json(seeded_model, tmp_path, coco8, capsys):
    pycocotools = pytest.importorskip("pycocotools.coco")
    ckpt = save_checkpoint(tmp_path / "m.pt", seeded_model, NAMES)
    code = main(["predict", f"model={ckpt}", f"source={coco8 / 'images' / 'val'}", f"conf={LOW_CONF}", f"max_det={MAX_DET}",
                 f"project={tmp_path / 'runs'}", "name=exp", "save_txt=True"])
    assert code == 0
    out = tmp_path / "runs" / "exp"
    assert len(list(out.glob("*.jpg"))) == 4 and len(list((out / "labels").glob("*.txt"))) == 4
    entries = json.loads((out / "predictions.json").read_text())
    assert entries and {e["image_id"] for e in entries} <= {36, 42, 49, 61}
    gt = pycocotools.COCO(str(coco8 / "annotations" / "instances_val.json"))
    dets = gt.loadRes(entries)  # pycocotools accepts our RLE + bbox layout as-is
    assert len(dets.getAnnIds()) == len(entries)
    err = capsys.readouterr().err
    assert "ms inference" in err and "results saved to" in err
    # a second run does not overwrite the first
    assert main(["predict", "--model", str(ckpt), "--source", str(coco8 / "images" / "val"), "--project",
                 str(tmp_path / "runs"), "--name", "exp", "--no-save"]) == 0
    assert (tmp_path / "runs" / "exp2" / "predictions.json").exists()


def test_random_init_model_by_name_runs_on_real_images(coco8):
    results = edgeseg.Model("yolov8n-seg").predict(coco8 / "images" / "val", conf=1e-4)  # at the class prior
    assert len(results) == 4 and sum(len(r) for r in results) > 0


def test_static_imgsz_mismatch_is_an_error_not_silent(seeded_model):
    meta = ModelMetadata(names=NAMES, imgsz=(320, 320), dynamic=False)
    pred = Predictor(TorchBackend.from_model(seeded_model, meta))
    with pytest.raises(edgeseg.runtime.UsageError, match="static input"):
        pred.predict(np.zeros((100, 100, 3), np.uint8), imgsz=640)


def test_video_source_streams_every_frame(seeded_model, tmp_path):
    import cv2

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 128))
    for i in range(12):
        writer.write(np.full((128, 160, 3), i * 20, np.uint8))
    writer.release()
    pred = Predictor(TorchBackend.from_model(seeded_model, ModelMetadata(names=NAMES, dynamic=True)))
    frames = [r.frame_index for r in pred.stream(video, imgsz=160, conf=LOW_CONF, max_det=MAX_DET)]
    assert frames == list(range(12))


def test_cli_predict_on_a_video_writes_a_video_with_the_same_fps(seeded_model, tmp_path):
    import cv2

    ckpt = save_checkpoint(tmp_path / "m.pt", seeded_model, NAMES)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (160, 128))
    for i in range(10):
        writer.write(np.full((128, 160, 3), 20 * i, np.uint8))
    writer.release()
    assert main(["predict", "--model", str(ckpt), "--source", str(video), "--imgsz", "160", "--conf", str(LOW_CONF),
                 "--project", str(tmp_path / "runs"), "--save-txt"]) == 0
    out = tmp_path / "runs" / "exp" / "clip.mp4"
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10 and round(cap.get(cv2.CAP_PROP_FPS)) == 15
    cap.release()
    assert len(list((tmp_path / "runs" / "exp" / "labels").glob("*.txt"))) == 10
