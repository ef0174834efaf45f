// TF.js GraphModels (tfjs-converter) as bendable modules: a real converted model (nsfwjs's
// MobileNetV2 "mid", fused convolutions) and a small hand-written graph with a Split.
import { createRequire } from "node:module";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tfc from "@tensorflow/tfjs-converter";
import * as tb from "tfbend";
import { identical } from "./helpers.js";

const { tf } = tb;

const MODEL_DIR = join(import.meta.dirname, "../node_modules/nsfwjs/dist/models/mobilenet_v2_mid");
const SHARDS = ["group1-shard1of2", "group1-shard2of2"];
const SCOPE = "sequential.keras_layer.predict.MobilenetV2";
const CONV_WEIGHT = `${SCOPE}.expanded_conv_3.expand.Conv2D_weights`;
const EXPAND = "sequential_keras_layer_predict_MobilenetV2_expanded_conv_3_expand_Relu6";
const ADD = "sequential_keras_layer_predict_MobilenetV2_expanded_conv_4_add";

interface ModelFiles {
  json: { format: string; modelTopology: object; weightsManifest: tb.tf.io.WeightsManifestConfig; [k: string]: unknown };
  shards: Buffer[];
}

function modelFiles(): ModelFiles {
  const require = createRequire(import.meta.url);
  const json = require(join(MODEL_DIR, "model.min.js")) as ModelFiles["json"];
  const shards = SHARDS.map((name) => Buffer.from(require(join(MODEL_DIR, `${name}.min.js`)) as string, "base64"));
  return { json, shards };
}

async function loadModel(files: ModelFiles): Promise<tfc.GraphModel> {
  return tfc.loadGraphModel(tf.io.fromMemory({
    modelTopology: files.json.modelTopology,
    weightSpecs: files.json.weightsManifest.flatMap((g) => g.weights),
    weightData: new Uint8Array(Buffer.concat(files.shards)).buffer,
  }));
}

function executeOne(model: tfc.GraphModel, feeds: tb.tf.NamedTensorMap, output?: string): tb.Tensor {
  return model.execute(feeds, output) as tb.Tensor;
}

describe("GraphModel (nsfwjs MobileNetV2, converted with fused ops)", () => {
  let files: ModelFiles;
  let model: tfc.GraphModel;
  let module: tb.io.GraphModelModule;
  let bended: tb.BendedModule;
  let x: tb.Tensor;
  let expected: tb.Tensor;

  beforeAll(async () => {
    files = modelFiles();
    model = await loadModel(files);
    module = new tb.io.GraphModelModule(model);
    bended = new tb.BendedModule(module);
    x = tf.keep(tf.randomUniform([1, 224, 224, 3], 0, 255, "float32", 3));
    expected = tf.keep(executeOne(model, { input: x }));
    bended.trace({ input: x });
  });

  it("lists the weights (Const nodes) and every computed node; unbended forward is model.execute exactly", () => {
    expect(bended.weightNames.length).toBe(108);
    expect(bended.weightNames.slice(0, 4)).toEqual([
      "sequential.keras_layer.predict.hub_input.Mul.y",
      "sequential.keras_layer.predict.hub_input.Sub.y",
      `${SCOPE}.Conv.Conv2D_weights`,
      `${SCOPE}.Conv.Conv2D_bn_offset`,
    ]);
    expect(bended.weightNames.slice(-2)).toEqual(["Func.input._262", "Func.input._263"]);
    expect(bended.weightShape(`${SCOPE}.Conv.Conv2D_weights`)).toEqual([3, 3, 3, 48]);
    expect(module.graphNodeName(CONV_WEIGHT)).toBe(
      "StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/expanded_conv_3/expand/Conv2D_weights",
    );

    const names = bended.activationNames();
    expect(names.length).toBe(70); // the input + 69 computed nodes (the 108 Consts are weights)
    expect(names.slice(0, 4)).toEqual([
      "input",
      "sequential_keras_layer_predict_hub_input_Mul",
      "sequential_keras_layer_predict_hub_input_Sub",
      "sequential_keras_layer_predict_MobilenetV2_Conv_Relu6",
    ]);
    expect(names.slice(-3)).toEqual(["sequential_dense_BiasAdd", "sequential_prediction_Softmax", "Identity"]);
    expect(bended.activationShape(EXPAND)).toEqual([1, 56, 56, 192]);
    expect(module.opOf(EXPAND)).toBe("_FusedConv2D");
    expect(module.opOf(CONV_WEIGHT)).toBe("Const");
    // the residual add reads the two projections it adds
    expect(bended.graph().find(ADD)!.inputNodes().map((n) => n.name)).toEqual([
      "sequential_keras_layer_predict_MobilenetV2_expanded_conv_3_project_BatchNorm_FusedBatchNormV3",
      "sequential_keras_layer_predict_MobilenetV2_expanded_conv_4_project_BatchNorm_FusedBatchNormV3",
    ]);
    expect(bended.graph().untrackedKernels).toEqual([]);

    const out = bended.forward(x);
    expect(out.shape).toEqual([1, 5]);
    expect(identical(out, expected)).toBe(true);
    expect(identical(out, model.predict(x) as tb.Tensor)).toBe(true);
    // the observed path (every node computed, then reported one by one) gives the same output
    const { Identity } = bended.getActivations("Identity", { input: x });
    expect(identical(Identity, expected)).toBe(true);
    Identity.dispose();

    const full = new tb.io.GraphModelModule(model, { names: "full" });
    expect(full.namedParameters()[2][0]).toBe(
      "StatefulPartitionedCall.sequential.keras_layer.StatefulPartitionedCall.StatefulPartitionedCall.StatefulPartitionedCall.predict.MobilenetV2.Conv.Conv2D_weights",
    );
  });

  it("bends a conv weight by feeding its Const node, without touching the model's weights; reset is exact", () => {
    const before = model.weights[module.graphNodeName(CONV_WEIGHT)][0].dataSync().slice();
    bended.bend(new tb.Mask(0.3, { seed: 1 }), CONV_WEIGHT);
    const bent = bended.forward(x);
    expect(identical(bent, expected)).toBe(false);
    // feeding the Const node's name overrides it: the same output straight from model.execute
    const masked = bended.bendedStateDict()[CONV_WEIGHT];
    const fed = executeOne(model, { input: x, [module.graphNodeName(CONV_WEIGHT)]: masked });
    expect(identical(bent, fed)).toBe(true);
    expect(Array.from(model.weights[module.graphNodeName(CONV_WEIGHT)][0].dataSync())).toEqual(Array.from(before));
    expect(identical(executeOne(model, { input: x }), expected)).toBe(true);
    bended.reset();
    expect(identical(bended.forward(x), expected)).toBe(true);
  });

  it("bends an intermediate node: downstream nodes see the bent value; activations read like model.execute", () => {
    const tfName = module.graphNodeName(EXPAND);
    const value = executeOne(model, { input: x }, tfName);
    const acts = bended.getActivations([EXPAND, ADD], { input: x });
    expect(identical(acts[EXPAND], value)).toBe(true);
    expect(identical(acts[ADD], executeOne(model, { input: x }, module.graphNodeName(ADD)))).toBe(true);

    bended.bend(new tb.Mask(0.2, { seed: 2 }), EXPAND);
    const bent = bended.forward(x);
    expect(identical(bent, expected)).toBe(false);
    const after = bended.getActivations([`${EXPAND}_bended`], { input: x })[`${EXPAND}_bended`];
    const zeros = after.dataSync().filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0.7 * after.size);
    // exactly what the graph gives when the node is fed the bent value
    expect(identical(bent, executeOne(model, { input: x, [tfName]: after }))).toBe(true);
    bended.reset();
    expect(identical(bended.forward(x), expected)).toBe(true);
  });

  it("keeps tf.memory().numTensors flat over 20 passes with activation and weight bendings", () => {
    bended.bend(new tb.Mask(0.5, { seed: 3 }), EXPAND, ADD);
    bended.bend(new tb.Mask(0.8, { seed: 4 }), `${SCOPE}.Conv_1.Conv2D_weights`);
    const first = bended.forward(x);
    expect(identical(first, expected)).toBe(false);
    const start = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      const out = bended.forward(x);
      expect(identical(out, first)).toBe(true);
      out.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
    first.dispose();
    bended.reset();
  });

  it("versions and interpolation reach the graph through the fed Const nodes", () => {
    bended.bend(new tb.Mask(0, { seed: 5 }), "Func.input._262");
    bended.write("dead_dense");
    const dead = bended.forward(x);
    expect(identical(dead, expected)).toBe(false);
    const half = bended.interpolate({ _default: 1, dead_dense: 1 }, () => bended.forward(x))!;
    expect(identical(half, expected) || identical(half, dead)).toBe(false);
    bended.version = null;
    expect(identical(bended.forward(x), expected)).toBe(true);
  });

  it("tb.load of a graph-model model.json gives a working BendedModule", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tfbend-graph-"));
    const paths = SHARDS.map((name) => `${name}.bin`);
    files.shards.forEach((data, i) => writeFileSync(join(dir, paths[i]), data));
    const json = { ...files.json, weightsManifest: files.json.weightsManifest.map((g) => ({ ...g, paths })) };
    writeFileSync(join(dir, "model.json"), JSON.stringify(json));

    const loaded = await tb.load(join(dir, "model.json"));
    expect(loaded.module).toBeInstanceOf(tb.io.GraphModelModule);
    expect(loaded.exampleShapes.get("forward")).toEqual([[1, 224, 224, 3]]);
    expect(loaded.weightNames).toEqual(bended.weightNames);
    loaded.trace(); // the declared input shape
    expect(loaded.activationNames()).toEqual(bended.activationNames());
    expect(identical(loaded.forward(x), expected)).toBe(true);
    loaded.bend(new tb.Mask(0.5, { dim: -1, seed: 6 }), EXPAND);
    expect(identical(loaded.forward(x), expected)).toBe(false);
    loaded.reset();
    expect(identical(loaded.forward(x), expected)).toBe(true);
    // a folder holding the model.json loads too
    expect((await tb.load(dir)).module).toBeInstanceOf(tb.io.GraphModelModule);
  });
});

describe("GraphModel with a multi-output node", () => {
  const f = { type: "DT_FLOAT" };
  const op = (name: string, kind: string, input: string[], attr: object = {}) => ({ name, op: kind, input, attr: { T: f, ...attr } });

  async function splitModel(): Promise<tfc.GraphModel> {
    const modelTopology = {
      versions: { producer: 1 },
      node: [
        { name: "x", op: "Placeholder", attr: { dtype: f, shape: { shape: { dim: [{ size: "-1" }, { size: "4" }] } } } },
        { name: "scale/w", op: "Const", attr: { dtype: f, value: { tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [{ size: "4" }] } } } } },
        { name: "split/axis", op: "Const", attr: { dtype: { type: "DT_INT32" }, value: { tensor: { dtype: "DT_INT32", tensorShape: {} } } } },
        op("scale/mul", "Mul", ["x", "scale/w"]),
        op("split", "Split", ["split/axis", "scale/mul"], { num_split: { i: "2" } }),
        op("relu", "Relu", ["split:1"]),
        op("add", "AddV2", ["split:0", "relu"]),
        op("Identity", "Identity", ["add"]),
      ],
    };
    const data = new Uint8Array(20);
    data.set(new Uint8Array(new Float32Array([1, -2, 3, -4]).buffer), 0);
    data.set(new Uint8Array(new Int32Array([1]).buffer), 16);
    return tfc.loadGraphModel(tf.io.fromMemory({
      modelTopology,
      weightSpecs: [{ name: "scale/w", shape: [4], dtype: "float32" }, { name: "split/axis", shape: [], dtype: "int32" }],
      weightData: data.buffer,
    }));
  }

  it("traces list outputs through getitem and recomputes past a bent node from the values so far", async () => {
    const model = await splitModel();
    const module = new tb.io.GraphModelModule(model);
    const bended = new tb.BendedModule(module);
    expect(bended.weightNames).toEqual(["scale.w"]); // the int32 axis stays a graph constant
    expect(module.argumentNames("forward")).toEqual(["x"]);
    const x = tf.tensor2d([[1, 2, 3, 4], [-1, -2, -3, -4]]);
    bended.trace({ x });
    expect(bended.graph().nodes.map((n) => `${n.op}:${n.name}`)).toEqual([
      "placeholder:x", "call_module:scale_mul", "call_module:split", "call_function:getitem", "call_module:relu",
      "call_function:getitem_1", "call_module:add", "call_module:Identity", "output:output",
    ]);
    expect(bended.activationShape("split")).toEqual([[2, 2], [2, 2]]);
    expect(bended.forward(x).arraySync()).toEqual([[10, -4], [-1, 20]]);
    // relu zeroed: add = split:0, with split recomputed (a multi-output node cannot be fed)
    bended.bend(new tb.Mask(0), "relu");
    expect(bended.forward(x).arraySync()).toEqual([[1, -4], [-1, 4]]);
    bended.reset();
    bended.bend(new tb.Mask(0), "scale_mul");
    expect(bended.forward(x).arraySync()).toEqual([[0, 0], [0, 0]]);
    bended.reset();
    bended.bend(new tb.Mask(0), "scale.w");
    expect(bended.forward(x).arraySync()).toEqual([[0, 0], [0, 0]]);
    bended.reset();
    expect(bended.forward(x).arraySync()).toEqual([[10, -4], [-1, 20]]);
    // loading weights writes into the graph's weight map
    module.loadStateDict({ "scale.w": tf.tensor1d([1, 1, 1, 1]) });
    expect((model.execute(x) as tb.Tensor).arraySync()).toEqual([[4, 6], [-1, -2]]);
    expect(bended.forward(x).arraySync()).toEqual([[4, 6], [-1, -2]]);
  });
});
