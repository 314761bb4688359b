"""TensorFlow.js graph model (`<stem>_web_model/`: model.json + 4 MB weight shards + edgeseg.json), written from
the frozen GraphDef of the onnx2tf route (NHWC input, outputs Identity, Identity_1, ... in the layout's order).

Why edgeseg writes the graph-model files itself instead of calling the `tensorflowjs` converter: tensorflowjs
4.22.0 pins tensorflow 2.19 and imports tensorflow-decision-forests, which does not import beside the tensorflow
2.21 / protobuf the onnx2tf toolchain needs here ("VersionError: Detected incompatible Protobuf Gencode/Runtime
versions ... gencode 6.31.1 runtime 5.29.6"). The format is small and documented: the GraphDef as JSON with each
Const's data moved to the weights manifest (int64 constants narrowed to int32, which TF.js computes in)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeseg.runtime.layouts import OUTPUT_NAMES

from .base import ExportContext
from .saved_model_export import GraphDefExporter

SHARD_BYTES = 4 * 1024 * 1024
TFJS_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(bool): "bool"}


class TfjsExporter(GraphDefExporter):
    format = "tfjs"

    def export(self, ctx: ExportContext) -> Path:
        import tensorflow as tf

        frozen = super().export(ctx)  # the GraphDef exporter names its file after this class's suffix
        graph_def = tf.compat.v1.GraphDef.FromString(frozen.read_bytes())
        frozen.unlink()
        out_dir = ctx.workdir / f"model{self.artifact_suffix}"
        out_dir.mkdir()
        write_graph_model(graph_def, out_dir, OUTPUT_NAMES[ctx.metadata.layout], tf.__version__)
        return out_dir


def _narrow(value: np.ndarray, node: str) -> np.ndarray:
    if value.dtype == np.int64:
        if value.size and (value.min() < np.iinfo(np.int32).min or value.max() > np.iinfo(np.int32).max):
            raise ValueError(f"constant {node} does not fit int32, which TF.js computes in")
        return value.astype(np.int32)
    if value.dtype not in TFJS_DTYPES:
        raise ValueError(f"constant {node} has dtype {value.dtype}, which TF.js graph models cannot hold")
    return value


def _extract_weights(graph_def) -> tuple[list[dict], bytes]:
    """Move every Const's data out of the graph: (manifest entries, concatenated little-endian bytes)."""
    import tensorflow as tf

    entries, chunks = [], []
    for node in graph_def.node:
        if node.op != "Const":
            continue
        value = _narrow(tf.make_ndarray(node.attr["value"].tensor), node.name)
        dtype_enum = tf.as_dtype(value.dtype).as_datatype_enum
        node.attr["dtype"].type = dtype_enum
        tensor = node.attr["value"].tensor
        tensor.Clear()
        tensor.dtype = dtype_enum
        tensor.tensor_shape.CopyFrom(tf.TensorShape(value.shape).as_proto())
        entries.append({"name": node.name, "shape": list(value.shape), "dtype": TFJS_DTYPES[value.dtype]})
        chunks.append(np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False).tobytes())
    return entries, b"".join(chunks)


def _narrow_type_attrs(graph_def) -> None:
    """Ops whose type attributes say int64 (shapes, indices) compute in int32 in TF.js, like their inputs now do."""
    import tensorflow as tf

    int64, int32 = tf.int64.as_datatype_enum, tf.int32.as_datatype_enum
    for node in graph_def.node:
        for attr in node.attr.values():
            if attr.WhichOneof("value") == "type" and attr.type == int64:
                attr.type = int32


def _signature(graph_def, output_names: tuple[str, ...]) -> dict:
    placeholder = next(n for n in graph_def.node if n.op == "Placeholder")
    dims = [{"size": str(d.size)} for d in placeholder.attr["shape"].shape.dim]
    identities = sorted((n.name for n in graph_def.node if n.name.startswith("Identity")),
                        key=lambda name: int(name.rsplit("_", 1)[1]) if "_" in name else 0)
    if len(identities) != len(output_names):
        raise ValueError(f"the frozen graph has {len(identities)} outputs, the layout {len(output_names)}")
    return {"inputs": {"images": {"name": f"{placeholder.name}:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": dims}}},
            "outputs": {name: {"name": f"{node}:0", "dtype": "DT_FLOAT"} for name, node in zip(output_names, identities)}}


def write_graph_model(graph_def, out_dir: Path, output_names: tuple[str, ...], tf_version: str) -> Path:
    from google.protobuf import json_format

    from edgeseg.runtime.metadata import edgeseg_version

    signature = _signature(graph_def, output_names)
    entries, data = _extract_weights(graph_def)
    _narrow_type_attrs(graph_def)
    shards = [data[i:i + SHARD_BYTES] for i in range(0, len(data), SHARD_BYTES)] or [b""]
    paths = [f"group1-shard{i + 1}of{len(shards)}.bin" for i in range(len(shards))]
    for path, shard in zip(paths, shards):
        (out_dir / path).write_bytes(shard)
    model = {"format": "graph-model", "generatedBy": tf_version, "convertedBy": f"edgeseg {edgeseg_version()}",
             "signature": signature, "modelTopology": json_format.MessageToDict(graph_def),
             "weightsManifest": [{"paths": paths, "weights": entries}]}
    path = out_dir / "model.json"
    path.write_text(json.dumps(model))
    return path
