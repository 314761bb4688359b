"""The exact FP32 graph rewrites the ONNX Runtime INT8 path applies before calibration (converters/quantize/rewrite):
on the reference's real trained checkpoints of every family, exported by edgeseg with a dynamic input size, the
rewritten graph gives the same outputs at square and rectangular shapes, and the ops it replaces are gone."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from helpers.reference import FIXTURES, require_fixtures  # noqa: E402

from edgeseg.converters.quantize.rewrite import (REWRITE_TOLERANCE, conv_transpose_as_pixel_shuffle,  # noqa: E402
                                                 dfl_without_transpose, rewritten_graph)

REWRITES = (dfl_without_transpose, conv_transpose_as_pixel_shuffle)
# family checkpoint -> (DFL softmaxes, ConvTransposes) in its graph: YOLO26 regresses boxes directly (no DFL)
EXPECTED = {"yolov8n-seg-user3-best": (1, 1), "yolo11n-seg-user3-best": (1, 1), "yolo26n-seg-user3-best": (0, 1)}


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


CASES = [(stem, None) for stem in sorted(EXPECTED)] + [("yolov8n-seg-user3-best", 17)]  # 17: the oldest --opset,
# where ReduceMax still takes its axes as an attribute


@pytest.mark.parametrize("stem,opset", CASES)
def test_rewrites_keep_every_output_and_remove_what_they_replace(stem, opset, tmp_path):
    import onnx

    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions

    require_fixtures()
    fp32 = tmp_path / "fp32.onnx"
    export(str(FIXTURES / f"{stem}.pt"), ExportOptions(format="onnx", imgsz=(320, 320), dynamic=True, output=fp32,
                                                       opset=opset))
    model = onnx.load(str(fp32))
    if opset is not None:
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == opset
    counts = (dfl_without_transpose(model), conv_transpose_as_pixel_shuffle(model))
    assert counts == EXPECTED[stem]
    assert not [n for n in model.graph.node if n.op_type == "ConvTranspose"]
    # the DFL's softmax is gone; YOLO11's attention keeps its own (over the last axis)
    assert all(a.i == -1 for n in model.graph.node if n.op_type == "Softmax" for a in n.attribute if a.name == "axis")
    assert not [n for n in model.graph.node if n.op_type == "Transpose" and list(n.attribute[0].ints) == [0, 2, 1, 3]]

    rng = np.random.default_rng(0)
    feed = rng.random((1, 3, 320, 320), dtype=np.float32)
    out = rewritten_graph(fp32, REWRITES, feed, tmp_path / "rewritten.onnx")
    assert out != fp32
    for shape in ((1, 3, 320, 320), (1, 3, 256, 320), (2, 3, 192, 416)):
        x = rng.random(shape, dtype=np.float32)
        for before, after in zip(_run(fp32, x), _run(out, x)):
            assert before.shape == after.shape
            assert np.abs(before - after).max() <= REWRITE_TOLERANCE * max(np.abs(before).max(), 1e-6), (stem, shape)


def test_a_graph_without_rewritable_ops_is_used_as_it_is(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    feed = np.zeros((1, 3, 4, 4), np.float32)
    assert rewritten_graph(path, REWRITES, feed, tmp_path / "out.onnx") == path
    assert not (tmp_path / "out.onnx").exists()
