// Serves one TF.js graph model to edgeseg's "tfjs" backend over stdin/stdout, with @tensorflow/tfjs-core,
// -converter and the wasm backend (cpu when wasm cannot start); no native addon, so it installs offline-free
// from the npm registry.
// Frames, both ways: uint32 LE header length, a JSON header, then raw little-endian float32 data.
//   startup  -> {"ready": true, "backend": "wasm"} | {"error": "..."}
//   request  <- {"shape": [n, h, w, 3]} + data
//   response -> {"outputs": [{"name", "shape"}, ...]} + data of each output in order | {"error": "..."}
"use strict";
const fs = require("fs");
const path = require("path");

function send(header, buffers = []) {
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length, 0);
  fs.writeSync(1, Buffer.concat([len, head, ...buffers]));
}

function loadModelArtifacts(dir) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const specs = [];
  const shards = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(dir, p)));
  }
  const data = Buffer.concat(shards);
  return {
    modelTopology: model.modelTopology, weightSpecs: specs, format: model.format,
    generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature,
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
  };
}

async function start(dir, threads) {
  const tf = require("@tensorflow/tfjs-core");
  const converter = require("@tensorflow/tfjs-converter");
  require("@tensorflow/tfjs-backend-cpu");
  let backend = "cpu";
  try {
    const wasm = require("@tensorflow/tfjs-backend-wasm");
    if (threads > 0 && wasm.setThreadsCount) wasm.setThreadsCount(threads);
    if (await tf.setBackend("wasm")) backend = "wasm";
  } catch (err) {
    await tf.setBackend("cpu");
  }
  await tf.ready();
  const model = await converter.loadGraphModel(tf.io.fromMemory(loadModelArtifacts(dir)));
  const names = Object.keys(model.signature.outputs);
  const nodes = names.map((n) => model.signature.outputs[n].name);
  const input = model.signature.inputs.images.name;
  return { tf, model, names, nodes, input, backend };
}

function readExactly(n) {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    let read;
    try {
      read = fs.readSync(0, buf, got, n - got, null);
    } catch (err) {
      if (err.code === "EAGAIN") continue;
      throw err;
    }
    if (read === 0) return null;
    got += read;
  }
  return buf;
}

function serve(ctx) {
  for (;;) {
    const len = readExactly(4);
    if (len === null) return;
    const header = JSON.parse(readExactly(len.readUInt32LE(0)).toString("utf8"));
    const count = header.shape.reduce((a, b) => a * b, 1);
    const raw = readExactly(count * 4);
    try {
      const x = ctx.tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, count), header.shape, "float32");
      const feeds = {};
      feeds[ctx.input] = x;
      const outs = ctx.model.execute(feeds, ctx.nodes);
      const list = Array.isArray(outs) ? outs : [outs];
      const data = list.map((t) => Buffer.from(t.dataSync().buffer));
      send({ outputs: list.map((t, i) => ({ name: ctx.names[i], shape: t.shape })) }, data);
      ctx.tf.dispose([x, ...list]);
    } catch (err) {
      send({ error: String(err && err.message ? err.message : err) });
    }
  }
}

start(process.argv[2], parseInt(process.argv[3] || "0", 10))
  .then((ctx) => {
    send({ ready: true, backend: ctx.backend });
    serve(ctx);
  })
  .catch((err) => send({ error: String(err && err.message ? err.message : err) }));
