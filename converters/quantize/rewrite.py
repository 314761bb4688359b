"""Exact rewrites of the FP32 ONNX graph that let an INT8 engine keep more of it in integer kernels.

ONNX Runtime has no integer ConvTranspose kernel, moves single bytes in its uint8 DepthToSpace, and transposes the
DFL logits for a softmax over a middle axis. On the YOLOv8-seg person model at 320 (Zen 4, 2 threads, quiet
machine, alternating rounds) the two rewrites below take its INT8 graph from 9.84 ms (0.585x FP32's 16.8 ms) to
8.1-8.3 ms (0.48x). Each rewrite computes the same function (checked on a real input before it is used), so the
FP32 reference, the sensitivity ranking and the quantiser all see one graph.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

# Largest difference, relative to an output's scale, a rewrite may introduce (float summation order only)
REWRITE_TOLERANCE = 1e-4


def _attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            import onnx

            return onnx.helper.get_attribute_value(a)
    return default


def _initializer(graph, name: str):
    return next((i for i in graph.initializer if i.name == name), None)


def _drop_value_info(graph, names: set[str]) -> None:
    keep = [v for v in graph.value_info if v.name not in names]
    del graph.value_info[:]
    graph.value_info.extend(keep)


def _axes_node(graph, opset: int, op: str, data: str, out: str, axis: int, name: str):
    """A Reduce* node over one axis, keeping it; opset 18 moved ReduceMax's axes from an attribute to an input
    (ReduceSum moved at 13)."""
    from onnx import helper, numpy_helper

    if opset >= {"ReduceMax": 18, "ReduceSum": 13}[op]:
        axes = f"{name}_axes"
        graph.initializer.append(numpy_helper.from_array(np.array([axis], dtype=np.int64), axes))
        return helper.make_node(op, [data, axes], [out], name=name, keepdims=1)
    return helper.make_node(op, [data], [out], name=name, axes=[axis], keepdims=1)


def _dfl_pattern(graph, softmax):
    """(transpose, conv, projection) when `softmax` is the DFL's Transpose(0,2,1,3) + Softmax(axis=1) + 1x1 Conv."""
    from onnx import numpy_helper

    producers = {o: n for n in graph.node for o in n.output}
    transpose = producers.get(softmax.input[0])
    conv = next((n for n in graph.node if n.op_type == "Conv" and n.input and n.input[0] == softmax.output[0]), None)
    if transpose is None or transpose.op_type != "Transpose" or conv is None or len(conv.input) > 2:
        return None
    weight = _initializer(graph, conv.input[1])
    if (list(_attr(transpose, "perm", [])) != [0, 2, 1, 3] or _attr(softmax, "axis") != 1 or weight is None
            or tuple(weight.dims[2:]) != (1, 1) or weight.dims[0] != 1):
        return None
    return transpose, conv, numpy_helper.to_array(weight).reshape(1, -1).astype(np.float32)


def dfl_without_transpose(model) -> int:
    """DFL: Transpose(0,2,1,3) + Softmax(axis=1) + 1x1 Conv on the (N, 4, bins, anchors) logits becomes the same
    expectation computed in place over the bins axis: exp(x - max) projected by MatMul and divided by its sum.
    (A softmax over the innermost axis after Transpose(0,1,3,2) computes the same, but ONNX Runtime spent 0.34 ms
    of the INT8 graph's 8.6 on that transpose; the reductions over the bins axis here take a few microseconds.)"""
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
    rewritten = 0
    for softmax in [n for n in graph.node if n.op_type == "Softmax"]:
        found = _dfl_pattern(graph, softmax)
        if found is None:
            continue
        transpose, conv, projection = found
        logits, name = transpose.input[0], conv.name
        names = {k: f"{name}_{k}" for k in ("max", "shifted", "exp", "weighted", "sum", "proj")}
        graph.initializer.append(numpy_helper.from_array(projection, names["proj"]))
        nodes = [
            _axes_node(graph, opset, "ReduceMax", logits, names["max"], 2, f"{name}_reduce_max"),
            helper.make_node("Sub", [logits, names["max"]], [names["shifted"]], name=f"{name}_sub"),
            helper.make_node("Exp", [names["shifted"]], [names["exp"]], name=f"{name}_exp"),
            helper.make_node("MatMul", [names["proj"], names["exp"]], [names["weighted"]], name=f"{name}_matmul"),
            _axes_node(graph, opset, "ReduceSum", names["exp"], names["sum"], 2, f"{name}_reduce_sum"),
            helper.make_node("Div", [names["weighted"], names["sum"]], [conv.output[0]], name=f"{name}_div"),
        ]
        index = list(graph.node).index(transpose)
        for node in (transpose, softmax, conv):
            graph.node.remove(node)
        for offset, node in enumerate(nodes):
            graph.node.insert(index + offset, node)
        _drop_value_info(graph, {transpose.output[0], softmax.output[0], conv.output[0]})
        rewritten += 1
    return rewritten


def _plain_upsample_kernel(graph, node) -> int | None:
    """k when `node` is a ConvTranspose whose kernel equals its stride (k x k, no padding, groups or dilation)."""
    kernel, strides = list(_attr(node, "kernel_shape", [])), list(_attr(node, "strides", []))
    plain = (_attr(node, "group", 1) == 1 and not any(_attr(node, "pads", [0])) and not _attr(node, "output_shape")
             and not any(_attr(node, "output_padding", [0])) and set(_attr(node, "dilations", [1])) == {1})
    if _initializer(graph, node.input[1]) is None or len(kernel) != 2 or kernel != strides or kernel[0] != kernel[1]:
        return None
    return kernel[0] if plain else None


def _pixel_shuffle_nodes(packed: str, out: str, k: int, channels: int, name: str, graph) -> list:
    """(N, k*k*C, H, W) with channels ordered (row, column, C) -> (N, C, k*H, k*W), written as NHWC moves: an engine
    that runs the neighbouring integer convs in NHWC cancels the outer transposes, leaving one copy of k*C-wide rows."""
    from onnx import helper, numpy_helper

    n = {key: f"{name}_{key}" for key in ("nhwc", "split", "rows", "batch", "hw", "hwk", "shape", "image", "s6", "c1", "k")}
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0, 0, 0, k, k, channels], dtype=np.int64), n["s6"]),
        numpy_helper.from_array(np.array([channels], dtype=np.int64), n["c1"]),
        numpy_helper.from_array(np.array([k], dtype=np.int64), n["k"]),
    ])
    return [
        helper.make_node("Transpose", [packed], [n["nhwc"]], name=f"{name}_to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [n["nhwc"], n["s6"]], [n["split"]], name=f"{name}_split"),
        helper.make_node("Transpose", [n["split"]], [n["rows"]], name=f"{name}_interleave", perm=[0, 1, 3, 2, 4, 5]),
        helper.make_node("Shape", [packed], [n["batch"]], name=f"{name}_batch", start=0, end=1),
        helper.make_node("Shape", [packed], [n["hw"]], name=f"{name}_size", start=2, end=4),
        helper.make_node("Mul", [n["hw"], n["k"]], [n["hwk"]], name=f"{name}_scaled"),
        helper.make_node("Concat", [n["batch"], n["hwk"], n["c1"]], [n["shape"]], name=f"{name}_shape", axis=0),
        helper.make_node("Reshape", [n["rows"], n["shape"]], [n["image"]], name=f"{name}_merge"),
        helper.make_node("Transpose", [n["image"]], [out], name=f"{name}_to_nchw", perm=[0, 3, 1, 2]),
    ]


def conv_transpose_as_pixel_shuffle(model) -> int:
    """A ConvTranspose whose kernel equals its stride (the proto upsample) becomes a 1x1 Conv to k*k times the
    channels plus a pixel shuffle: the same sums, but a conv the engine runs in integer arithmetic (ONNX Runtime has
    no integer ConvTranspose), and a shuffle that moves whole channel rows (its uint8 DepthToSpace moved single
    bytes: 0.55 ms of the person model's 8.2 at 320)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    rewritten = 0
    for node in [n for n in graph.node if n.op_type == "ConvTranspose"]:
        k = _plain_upsample_kernel(graph, node)
        if k is None:
            continue
        w = numpy_helper.to_array(_initializer(graph, node.input[1]))  # (Cin, Cout, k, k)
        conv_w = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(k * k * w.shape[1], w.shape[0], 1, 1))
        inputs = [node.input[0], f"{node.name}_as_conv_weight"]
        graph.initializer.append(numpy_helper.from_array(conv_w.astype(w.dtype), inputs[1]))
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(_initializer(graph, node.input[2]))
            inputs.append(f"{node.name}_as_conv_bias")
            graph.initializer.append(numpy_helper.from_array(np.tile(bias, k * k).astype(bias.dtype), inputs[2]))
        packed = f"{node.name}_packed"
        nodes = [helper.make_node("Conv", inputs, [packed], name=f"{node.name}_as_conv", kernel_shape=[1, 1])]
        nodes += _pixel_shuffle_nodes(packed, node.output[0], k, w.shape[1], node.name, graph)
        index = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(nodes):
            graph.node.insert(index + offset, new)
        _drop_value_info(graph, {node.output[0]})
        rewritten += 1
    return rewritten


def _max_relative_difference(a_path: Path, b_path: Path, feed: np.ndarray) -> float:
    import onnxruntime as ort

    runs = []
    for path in (a_path, b_path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        runs.append(session.run(None, {session.get_inputs()[0].name: feed}))
    return max(float(np.abs(x - y).max() / max(float(np.abs(x).max()), 1e-6)) for x, y in zip(*runs))


def rewritten_graph(fp32_onnx: Path, rewrites: tuple[Callable, ...], feed: np.ndarray, out: Path) -> Path:
    """fp32_onnx with `rewrites` applied, written to `out` (the input itself when none applies); refuses a rewrite
    whose outputs differ from the original on `feed`, which would make the INT8 artifact a different model."""
    import onnx

    if not rewrites:
        return fp32_onnx
    model = onnx.load(str(fp32_onnx))
    if not sum(rewrite(model) for rewrite in rewrites):
        return fp32_onnx
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    diff = _max_relative_difference(fp32_onnx, out, feed)
    if diff > REWRITE_TOLERANCE:
        raise RuntimeError(f"INT8 graph rewrite of {fp32_onnx.name} changed its outputs (max relative difference "
                           f"{diff:.2e} > {REWRITE_TOLERANCE}); this is a bug in edgeseg")
    return out
