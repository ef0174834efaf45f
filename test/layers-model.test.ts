// TF.js LayersModels (Keras-converted model.json) as bendable modules.
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tfl from "@tensorflow/tfjs-layers";
import * as tb from "tfbend";
import { identical } from "./helpers.js";

const { tf } = tb;

function functionalModel(): tfl.LayersModel {
  const inner = tfl.sequential({
    name: "block",
    layers: [tfl.layers.dense({ units: 6, inputShape: [6], activation: "relu", name: "conv" }), tfl.layers.dense({ units: 6, name: "proj" })],
  });
  const input = tfl.input({ shape: [4], name: "x" });
  const a = tfl.layers.dense({ units: 6, activation: "tanh", name: "enc" }).apply(input) as tfl.SymbolicTensor;
  const shared = tfl.layers.dense({ units: 6, name: "shared" });
  const b = shared.apply(a) as tfl.SymbolicTensor;
  const c = shared.apply(b) as tfl.SymbolicTensor; // the shared layer called twice
  const residual = tfl.layers.add({ name: "residual" }).apply([a, c]) as tfl.SymbolicTensor;
  const nested = inner.apply(residual) as tfl.SymbolicTensor;
  const both = tfl.layers.concatenate({ name: "both" }).apply([nested, b]) as tfl.SymbolicTensor;
  const head = tfl.layers.dense({ units: 3, name: "head" }).apply(both) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: [head, residual], name: "func" });
}

async function saved(model: tfl.LayersModel): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "tfbend-layers-"));
  await model.save(tb.io.fileHandler(dir));
  return join(dir, "model.json");
}

describe("LayersModel", () => {
  it("loads a functional model (residual, concat, shared layer, nested model, two outputs) from disk", async () => {
    const model = functionalModel();
    const bended = await tb.load(await saved(model));
    const x = tf.randomNormal([5, 4]);
    const expected = model.predict(x) as tb.Tensor[];
    const out = bended.forward(x) as unknown as tb.Tensor[];
    expect(out.length).toBe(2);
    expect(identical(out[0], expected[0])).toBe(true);
    expect(identical(out[1], expected[1])).toBe(true);

    expect(bended.weightNames).toEqual([
      "enc.kernel", "enc.bias", "shared.kernel", "shared.bias", "block.conv.kernel", "block.conv.bias",
      "block.proj.kernel", "block.proj.bias", "head.kernel", "head.bias",
    ]);
    bended.trace(); // the model's declared input shape
    expect(bended.activationNames()).toEqual(["x", "enc", "shared", "shared_1", "residual", "block_conv", "block_proj", "both", "head"]);
    expect(bended.activationShape("both")).toEqual([1, 12]);
    expect(bended.graph().find("residual")!.inputNodes().map((n) => n.name)).toEqual(["enc", "shared_1"]);
  });

  it("bends weights without touching the variables, bends activations, and resets exactly", async () => {
    const model = functionalModel();
    const bended = await tb.load(await saved(model));
    const x = tf.randomNormal([3, 4]);
    bended.trace({ x });
    const kernelBefore = (bended.module as tb.io.KerasModel).model.getLayer("enc").getWeights()[0].dataSync().slice();
    const plain = bended.forward(x) as unknown as tb.Tensor[];
    bended.bend(new tb.Mask(0, { seed: 1 }), "enc.kernel");
    const bent = bended.forward(x) as unknown as tb.Tensor[];
    expect(identical(bent[0], plain[0])).toBe(false);
    const kernelAfter = (bended.module as tb.io.KerasModel).model.getLayer("enc").getWeights()[0].dataSync();
    expect(Array.from(kernelAfter)).toEqual(Array.from(kernelBefore));
    // the layer's variable is read normally again after the pass
    const predicted = model.predict(x) as tb.Tensor[];
    expect(identical(predicted[0], plain[0])).toBe(true);
    bended.reset();
    bended.bend(new tb.Mask(0), "shared_1");
    const acts = bended.getActivations(["shared_1_bended", "residual"], { x });
    expect(Array.from(acts.shared_1_bended.dataSync()).every((v) => v === 0)).toBe(true);
    bended.reset();
    const again = bended.forward(x) as unknown as tb.Tensor[];
    expect(identical(again[0], plain[0]) && identical(again[1], plain[1])).toBe(true);
  });

  it("tb.save / tb.load round-trips weights, versions, bendings and traces", async () => {
    const bended = await tb.load(await saved(functionalModel()));
    const x = tf.randomNormal([2, 4]);
    bended.trace({ x });
    bended.bend(new tb.Mask(0.5, { seed: 4 }), "head.kernel");
    bended.write("masked");
    bended.bend(new tb.Mask(0.5, { dim: -1, seed: 5 }), "enc");
    const before = bended.forward(x) as unknown as tb.Tensor[];
    const dir = mkdtempSync(join(tmpdir(), "tfbend-save-"));
    await tb.save(bended, dir);
    const loaded = await tb.load(dir);
    expect(loaded.version).toBe("masked");
    expect(loaded.versionNames()).toEqual(["_default", "masked"]);
    expect(String(loaded.bendingConfig()).split("\n").slice(2)).toEqual(String(bended.bendingConfig()).split("\n").slice(2));
    const after = loaded.forward(x) as unknown as tb.Tensor[];
    expect(identical(after[0], before[0]) && identical(after[1], before[1])).toBe(true);
  });

  it("a real model no one here wrote: nsfwjs's MobileNetV2 traces, bends and resets", async () => {
    const require = createRequire(import.meta.url);
    const dir = join(import.meta.dirname, "../node_modules/nsfwjs/dist/models/mobilenet_v2");
    const topology = require(join(dir, "model.min.js")) as { modelTopology: object; weightsManifest: tb.tf.io.WeightsManifestConfig };
    const shard = require(join(dir, "group1-shard1of1.min.js")) as string;
    const weightData = new Uint8Array(Buffer.from(shard, "base64")).buffer;
    const model = await tfl.loadLayersModel(tf.io.fromMemory({
      modelTopology: topology.modelTopology,
      weightSpecs: topology.weightsManifest.flatMap((g) => g.weights),
      weightData,
    }));
    const module = new tb.io.KerasModel(model);
    const bended = new tb.BendedModule(module);
    const x = tf.randomUniform([1, 224, 224, 3]);
    const graph = bended.trace({ input_1: x });
    expect(graph.nodes.length).toBeGreaterThan(150);
    const expected = model.predict(x) as tb.Tensor;
    const plain = bended.forward(x);
    expect(identical(plain, expected)).toBe(true);
    expect(plain.shape).toEqual([1, 5]);

    const kernel = bended.weightNames.find((n) => n.startsWith("Conv1.") && n.endsWith("kernel"))!;
    expect(kernel).toBeDefined();
    const relu = bended.activationNames().find((n) => /relu/i.test(n))!;
    bended.bend(new tb.Mask(0.5, { seed: 1 }), kernel);
    bended.bend(new tb.Mask(0.5, { seed: 2, dim: -1 }), relu);
    const bent = bended.forward(x);
    expect(identical(bent, plain)).toBe(false);
    bended.reset();
    expect(identical(bended.forward(x), plain)).toBe(true);
  });
});
