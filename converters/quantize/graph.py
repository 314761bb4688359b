"""Graph facts the INT8 recipe needs, read off the FP32 ONNX graph (every INT8 path starts from it):
which nodes form the decode tail and the final head convs (kept in float), and which layers are the most
sensitive to quantisation (measured, not guessed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.runtime.decode import RAW_KEYS

# Nodes a walk back from an output passes through freely; a learned Conv ends the walk (it is kept, its inputs
# are not), except the fixed DFL expectation conv that sits right behind the softmax.
_DFL_LOOKBACK = 3


def _producers(graph) -> dict[str, object]:
    return {out: node for node in graph.node for out in node.output}


def _is_dfl_conv(node, producers: dict[str, object]) -> bool:
    """The DFL expectation conv: a Softmax within a few Reshape/Transpose hops of its input."""
    tensor = node.input[0]
    for _ in range(_DFL_LOOKBACK):
        src = producers.get(tensor)
        if src is None:
            return False
        if src.op_type == "Softmax":
            return True
        tensor = src.input[0] if src.input else ""
    return False


def float_tail_nodes(onnx_model, outputs: tuple[str, ...] = RAW_KEYS, head_convs: bool = True) -> list[str]:
    """Names of the decode-tail nodes (anchor/stride arithmetic, DFL softmax, sigmoid), plus, with `head_convs`,
    the last learned conv in front of each output (box/score/coefficient convs, the proto output conv)."""
    producers = _producers(onnx_model.graph)
    keep: list[str] = []
    seen: set[str] = set()
    stack = [o for o in outputs if o in producers]
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        learned = node.op_type in ("Conv", "ConvTranspose") and not _is_dfl_conv(node, producers)
        if learned and not head_convs:
            continue
        keep.append(node.name)
        if learned:
            continue
        stack.extend(i for i in node.input if i)
    return sorted(keep)


ACTIVATION_OPS = ("Sigmoid", "Mul", "Relu", "HardSwish", "HardSigmoid")


def conv_blocks(onnx_model) -> dict[str, tuple[list[str], str]]:
    """Conv name -> (the block's node names, the block's output tensor): a conv plus the activation ops (SiLU =
    Sigmoid + Mul) fed only by it. Returning a layer to float means the whole block, or its activations would
    still be rounded to 8 bits between the float conv and the next layer."""
    nodes = list(onnx_model.graph.node)
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    blocks = {}
    for conv in (n for n in nodes if n.op_type in ("Conv", "ConvTranspose")):
        members, out = [conv.name], conv.output[0]
        acts = [c for c in consumers.get(out, []) if c.op_type in ACTIVATION_OPS]
        sig = next((c for c in acts if c.op_type == "Sigmoid"), None)
        mul = next((c for c in acts if c.op_type == "Mul" and sig is not None and sig.output[0] in c.input), None)
        if sig is not None and mul is not None:
            members += [sig.name, mul.name]
            out = mul.output[0]
        blocks[conv.name] = (members, out)
    return blocks


def with_outputs(model_path: Path, tensors: list[str], out_path: Path) -> Path:
    import onnx

    model = onnx.load(str(model_path))
    have = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    onnx.save(model, str(out_path))
    return out_path


def probe_session(model_path: Path):
    """An ONNX Runtime session with graph optimisation off, so every named tensor is still there to read."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])


def _run_all(model_path: Path, feeds: list[np.ndarray], tensors: list[str]) -> list[dict[str, np.ndarray]]:
    session = probe_session(model_path)
    name = session.get_inputs()[0].name
    return [dict(zip(tensors, session.run(tensors, {name: x}))) for x in feeds]


def layer_sensitivity(fp32_onnx: Path, qdq_onnx: Path, feeds: list[np.ndarray], workdir: Path) -> list[tuple[str, float]]:
    """Conv blocks ranked by the quantisation error they add themselves: the noise-to-signal ratio of the block's
    output in the fully quantised model minus that of its input (so errors inherited from earlier layers are not
    blamed on it), averaged over calibration images. Most sensitive first."""
    import onnx

    model = onnx.load(str(fp32_onnx))
    convs = {name: out for name, (_, out) in conv_blocks(model).items()}
    producers = _producers(model.graph)
    inputs = {name: next(n for n in model.graph.node if n.name == name).input[0] for name in convs}
    tensors = sorted(set(convs.values()) | {t for t in inputs.values() if t in producers})
    ref = _run_all(with_outputs(fp32_onnx, tensors, workdir / "sens_fp32.onnx"), feeds, tensors)
    got = _run_all(with_outputs(qdq_onnx, tensors, workdir / "sens_int8.onnx"), feeds, tensors)

    def nsr(tensor: str) -> float:
        vals = [float(np.sum((g[tensor] - r[tensor]) ** 2) / max(np.sum(r[tensor] ** 2), 1e-12)) for r, g in zip(ref, got)]
        return float(np.mean(vals))

    added = {name: nsr(out) - (nsr(inputs[name]) if inputs[name] in producers else 0.0) for name, out in convs.items()}
    return sorted(added.items(), key=lambda kv: -kv[1])
