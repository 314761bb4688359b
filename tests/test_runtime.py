"""The torch-free runtime on exported artifacts: reference-layout models, metadata checks, threads, engines,
precision, sources, and clear errors for bad artifacts."""
from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'edgeseg[onnx]')")

import edgeseg.runtime as rt  # noqa: E402
from conftest import IMGSZ, LOW_CONF, MAX_DET, NAMES  # noqa: E402
from edgeseg.runtime.errors import ModelFormatError, NotAvailableError, UsageError  # noqa: E402
from edgeseg.runtime.metadata import sidecar_path  # noqa: E402
from helpers.parity import compare  # noqa: E402


def ultralytics_style_onnx(src, dst):
    """Our ultralytics-layout export, re-labelled exactly as the reference labels its ONNX files: python-repr
    metadata_props (names dict, imgsz list, stride, task, ...), no edgeseg key and no sidecar."""
    import onnx

    model = onnx.load(str(src))
    del model.metadata_props[:]
    props = {"description": "Ultralytics YOLOv8n-seg model", "author": "Ultralytics", "version": "8.4.190",
             "license": "AGPL-3.0 License", "stride": "32", "task": "segment", "batch": "1",
             "imgsz": f"[{IMGSZ}, {IMGSZ}]", "names": repr(NAMES), "channels": "3", "end2end": "False",
             "args": "{'batch': 1, 'fraction': 1.0, 'half': False, 'int8': False, 'dynamic': False, 'nms': None}"}
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(dst))
    return dst


def test_reference_layout_onnx_runs_like_pytorch(artifacts, coco8, tmp_path):
    src = artifacts("onnx", layout="ultralytics").path
    path = ultralytics_style_onnx(src, tmp_path / "yolov8n-seg.onnx")
    predictor = rt.load(path)
    assert predictor.metadata.layout == "ultralytics" and predictor.metadata.names == NAMES
    assert [o.name for o in predictor.backend.outputs] == ["output0", "output1"]
    ours = rt.load(artifacts("onnx").path)
    src_images = coco8 / "images" / "val"
    compare(ours.predict(src_images, conf=LOW_CONF, max_det=MAX_DET),
            predictor.predict(src_images, conf=LOW_CONF, max_det=MAX_DET), 1e-3, 0.999)


def test_reference_layout_openvino_dir_with_metadata_yaml(artifacts, tmp_path, coco8):
    """An IR without our rt_info or sidecar, described only by the reference's metadata.yaml."""
    import openvino as ov
    import yaml

    src = ov.Core().read_model(str(artifacts("openvino", layout="ultralytics").path / "model.xml"))
    plain = ov.Model(src.outputs, src.get_parameters(), "plain")  # a new model: none of our rt_info
    dst = tmp_path / "yolov8n-seg_openvino_model"
    dst.mkdir()
    ov.save_model(plain, str(dst / "yolov8n-seg.xml"), compress_to_fp16=False)
    assert not ov.Core().read_model(str(dst / "yolov8n-seg.xml")).has_rt_info("edgeseg_metadata")
    (dst / "metadata.yaml").write_text(yaml.safe_dump({"task": "segment", "stride": 32, "batch": 1, "imgsz": [IMGSZ, IMGSZ],
                                                        "names": NAMES, "args": {"dynamic": False}}))
    predictor = rt.load(dst)
    assert predictor.metadata.layout == "ultralytics"
    assert sum(len(r) for r in predictor.predict(coco8 / "images" / "val", conf=LOW_CONF, max_det=MAX_DET)) > 0


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_one_model_serves_many_threads(artifacts, coco8, engine):
    predictor = rt.load(artifacts("onnx").path, backend=engine)
    images = [f for f in sorted((coco8 / "images" / "val").iterdir())] * 5  # 20 images per thread
    serial = [predictor.predict(str(p), conf=LOW_CONF, max_det=MAX_DET)[0] for p in images]
    outputs: dict[int, list] = {}

    def worker(k: int) -> None:
        outputs[k] = [predictor.predict(str(p), conf=LOW_CONF, max_det=MAX_DET)[0] for p in images]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(outputs) == [0, 1, 2, 3]
    for results in outputs.values():
        for a, b in zip(serial, results):
            np.testing.assert_array_equal(a.boxes, b.boxes)
            np.testing.assert_array_equal(a.masks, b.masks)
    assert sum(len(r) for r in serial) > 0


def test_sidecar_that_disagrees_with_the_graph_is_an_error(artifacts, tmp_path):
    src = artifacts("onnx").path
    dst = tmp_path / "m.onnx"
    shutil.copy(src, dst)
    import onnx

    model = onnx.load(str(dst))
    del model.metadata_props[:]
    onnx.save(model, str(dst))
    meta = json.loads(sidecar_path(src).read_text())
    meta["names"] = {"0": "a", "1": "b", "2": "c"}
    sidecar_path(dst).write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="80 class scores but its metadata names 3"):
        rt.load(dst)
    sidecar_path(dst).write_text(json.dumps({**meta, "names": NAMES, "imgsz": "big"}))
    with pytest.raises(ModelFormatError, match="imgsz"):
        rt.load(dst)


def test_embedded_and_sidecar_metadata_must_agree(artifacts, tmp_path):
    src = artifacts("onnx").path
    dst = tmp_path / "m.onnx"
    shutil.copy(src, dst)
    meta = json.loads(sidecar_path(src).read_text())
    sidecar_path(dst).write_text(json.dumps({**meta, "imgsz": [640, 640]}))
    with pytest.raises(ModelFormatError, match="disagrees"):
        rt.load(dst)


def test_truncated_and_foreign_files_fail_clearly(artifacts, tmp_path):
    src = artifacts("onnx").path
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(src.read_bytes()[:4000])
    with pytest.raises(ModelFormatError, match="cut.onnx"):
        rt.load(cut)
    ir = tmp_path / "broken_openvino_model"
    shutil.copytree(artifacts("openvino").path, ir)
    (ir / "model.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ModelFormatError, match="broken_openvino_model"):
        rt.load(ir).predict(np.zeros((64, 64, 3), np.uint8))
    plain = tmp_path / "nometa.onnx"
    import onnx

    model = onnx.load(str(src))
    del model.metadata_props[:]
    onnx.save(model, str(plain))
    with pytest.raises(ModelFormatError, match="no edgeseg metadata"):
        rt.load(plain)


def test_engine_and_device_errors(artifacts):
    path = artifacts("onnx").path
    with pytest.raises(UsageError, match="unknown backend"):
        rt.load(path, backend="mxnet")
    with pytest.raises(UsageError, match="does not run 'onnx'"):
        rt.load(path, backend="torch")
    with pytest.raises(NotAvailableError, match="not present"):
        rt.load(path, backend="openvino", options=rt.BackendOptions(device="GPU"))
    with pytest.raises(NotAvailableError, match="CUDAExecutionProvider"):
        rt.load(path, backend="onnxruntime", options=rt.BackendOptions(device="cuda:0"))


def test_static_model_refuses_other_sizes(artifacts):
    predictor = rt.load(artifacts("onnx").path)
    with pytest.raises(UsageError, match="static input of 320x320"):
        predictor.predict(np.zeros((64, 64, 3), np.uint8), imgsz=640)


def test_exec_precision_is_explicit_and_recorded(artifacts, coco8):
    path = artifacts("openvino").path
    default = rt.load(path).predict(coco8 / "images" / "val", conf=LOW_CONF, max_det=MAX_DET)
    assert {r.engine for r in default} == {"openvino/fp32"}
    bf16 = rt.load(path, options=rt.BackendOptions(exec_precision="bf16"))
    results = bf16.predict(coco8 / "images" / "val", conf=LOW_CONF, max_det=MAX_DET)
    assert {r.engine for r in results} == {"openvino/bf16"}
    with pytest.raises(UsageError, match="exec-precision"):
        rt.load(artifacts("onnx").path, backend="onnxruntime", options=rt.BackendOptions(exec_precision="bf16"))


def test_sources_pil_list_and_video_stream(artifacts, coco8, tmp_path):
    import cv2
    from PIL import Image

    predictor = rt.load(artifacts("onnx").path)
    path = sorted((coco8 / "images" / "val").iterdir())[0]
    from_path = predictor.predict(str(path), conf=LOW_CONF)[0]
    from_pil = predictor.predict(Image.open(path), conf=LOW_CONF)[0]
    np.testing.assert_array_equal(from_path.boxes, from_pil.boxes)
    assert len(predictor.predict([str(path), cv2.imread(str(path))], conf=LOW_CONF)) == 2
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12, (160, 120))
    for i in range(30):
        writer.write(cv2.resize(cv2.imread(str(path)), (160, 120)))
    writer.release()
    stream = predictor.stream(video, conf=LOW_CONF)
    frames = [r.frame_index for r in stream]
    assert frames == list(range(30))


def test_unreachable_stream_fails_fast():
    from edgeseg.runtime.sources import iter_source

    with pytest.raises(UsageError, match="cannot open stream"):
        list(iter_source("rtsp://127.0.0.1:9/x"))


def test_backends_command_lists_engines(capsys):
    from edgeseg.cli import main

    assert main(["backends", "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "openvino" in out


def test_val_any_artifact_cli_and_api(artifacts, coco8, tmp_path, capsys):
    """`edgeseg val` / Model.val on an exported artifact go through validate(); the saved JSON re-scores the same
    under pycocotools (the seeded model is untrained, so the figures are ~0: this checks plumbing and ids;
    tests/test_metrics.py checks the numbers on non-trivial predictions)."""
    import edgeseg
    from edgeseg.cli import main

    path = artifacts("onnx").path
    metrics = edgeseg.Model(path).val(data=coco8 / "data.yaml", save_json=tmp_path / "p.json")
    assert metrics.images == 4 and metrics.instances == 17
    assert set(metrics.results_dict) >= {"metrics/box/mAP50-95", "metrics/seg/mAP50-95", "fitness"}
    entries = json.loads((tmp_path / "p.json").read_text())
    assert entries and {e["image_id"] for e in entries} <= {36, 42, 49, 61}
    assert main(["val", f"model={path}", f"data={coco8 / 'data.yaml'}", f"project={tmp_path / 'runs'}"]) == 0
    saved = json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
    assert saved["engine"] == "onnxruntime/fp32" and "metrics/seg/mAP50-95" in saved


def test_http_stream_source(artifacts, tmp_path, coco8):
    """A network stream through OpenCV (served from a local HTTP server; nothing leaves the machine)."""
    import functools
    import http.server

    import cv2

    frame = cv2.resize(cv2.imread(str(sorted((coco8 / "images" / "val").iterdir())[0])), (160, 120))
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(12):
        writer.write(frame)
    writer.release()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        results = list(rt.load(artifacts("onnx").path).stream(url, conf=LOW_CONF))
    finally:
        server.shutdown()
    assert [r.frame_index for r in results] == list(range(12)) and results[0].path == url


def test_openvino_compiles_a_shape_once_it_has_earned_it(artifacts, monkeypatch):
    """A dynamic graph runs a shape on the symbolic compile until LOSS_SHARE of the time spent there reaches the
    compile's cost, then on its own static compile (same outputs); past STATIC_SHAPES shapes the symbolic compile
    serves the rest; a static graph has nothing to specialise."""
    pytest.importorskip("openvino")
    from edgeseg.runtime.backends import openvino_backend

    backend = rt.load(artifacts("openvino", dynamic=True).path, backend="openvino").backend
    shapes = backend._per_shape
    assert shapes is not None and shapes.compile_ms > 0
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 256, 320), dtype=np.float32)
    symbolic = backend.compiled.create_infer_request().infer({0: x})
    backend.run({"images": x})
    assert shapes.compiled == {} and shapes.spent[(1, 3, 256, 320)] > 0  # one run earns no compile
    shapes.spent[(1, 3, 256, 320)] = shapes.compile_ms / openvino_backend.LOSS_SHARE  # as after many runs
    got = backend.run({"images": x})
    assert set(shapes.compiled) == {(1, 3, 256, 320)}
    for spec, port in zip(backend.outputs, backend.compiled.outputs):
        np.testing.assert_allclose(got[spec.name], symbolic[port], rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(openvino_backend, "STATIC_SHAPES", 1)
    shapes.spent[(1, 3, 128, 128)] = 1e9
    assert shapes.get((1, 3, 128, 128)) is None  # full: the symbolic compile runs it
    backend.run({"images": np.zeros((1, 3, 128, 128), np.float32)})
    assert len(shapes.compiled) == 1
    assert rt.load(artifacts("openvino").path, backend="openvino").backend._per_shape is None
