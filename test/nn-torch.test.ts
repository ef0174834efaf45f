// Every nn layer against numbers computed by PyTorch for the same weights
// (fixtures made by models/make_torch_fixtures.py).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { maxAbsDiff } from "./helpers.js";

const { nn } = tb;
const dir = join(import.meta.dirname, "fixtures/torch");

type Config = Record<string, unknown>;
const num = (c: Config, k: string) => c[k] as number;
const convArgs = (c: Config) => ({
  stride: c.stride as number | number[], padding: c.padding as number | number[], dilation: c.dilation as number | number[],
  groups: num(c, "groups"), bias: c.bias as boolean,
});

const builders: Record<string, (c: Config) => tb.nn.Module> = {
  Conv1d: (c) => new nn.Conv1d(num(c, "in_channels"), num(c, "out_channels"), num(c, "kernel_size"), convArgs(c)),
  Conv2d: (c) => new nn.Conv2d(num(c, "in_channels"), num(c, "out_channels"), c.kernel_size as number | number[], convArgs(c)),
  ConvTranspose1d: (c) => new nn.ConvTranspose1d(num(c, "in_channels"), num(c, "out_channels"), num(c, "kernel_size"), { ...convArgs(c), outputPadding: num(c, "output_padding") }),
  ConvTranspose2d: (c) => new nn.ConvTranspose2d(num(c, "in_channels"), num(c, "out_channels"), c.kernel_size as number, { ...convArgs(c), outputPadding: num(c, "output_padding") }),
  Linear: (c) => new nn.Linear(num(c, "in_features"), num(c, "out_features"), { bias: c.bias as boolean }),
  BatchNorm1d: (c) => new nn.BatchNorm1d(num(c, "num_features"), { eps: num(c, "eps") }),
  BatchNorm2d: (c) => new nn.BatchNorm2d(num(c, "num_features"), { eps: num(c, "eps") }),
  LayerNorm: (c) => new nn.LayerNorm(num(c, "normalized_shape"), { eps: num(c, "eps") }),
  Embedding: (c) => new nn.Embedding(num(c, "num_embeddings"), num(c, "embedding_dim")),
  GELU: () => new nn.GELU(), ELU: () => new nn.ELU(), ReLU: () => new nn.ReLU(), Tanh: () => new nn.Tanh(),
  Sigmoid: () => new nn.Sigmoid(), SiLU: () => new nn.SiLU(), Softplus: () => new nn.Softplus(),
  LeakyReLU: (c) => new nn.LeakyReLU(num(c, "negative_slope")),
  Upsample: (c) => new nn.Upsample({ scaleFactor: num(c, "scale_factor") }),
};

const files = readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort();

describe("nn layers reproduce PyTorch", () => {
  it("has fixtures for every case", () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  for (const file of files) {
    it(file.replace(".safetensors", ""), async () => {
      const { tensors, metadata } = await tb.io.loadSafetensorsFile(join(dir, file));
      const build = builders[metadata.module];
      expect(build, `no builder for ${metadata.module}`).toBeDefined();
      const layer = build(JSON.parse(metadata.config)).eval();
      const params = Object.fromEntries(
        Object.entries(tensors).filter(([k]) => k.startsWith("params.")).map(([k, v]) => [k.slice(7), v]),
      );
      layer.loadStateDict(params); // strict: PyTorch's whole state dict, BatchNorm's num_batches_tracked included
      if ("num_batches_tracked" in params) expect((layer as unknown as { numBatchesTracked: number }).numBatchesTracked).toBe(7);
      const out = layer.call(tensors.input) as tb.Tensor;
      expect(out.shape).toEqual(tensors.output.shape);
      const scale = Math.max(1, tb.tf.max(tb.tf.abs(tensors.output)).dataSync()[0]);
      expect(maxAbsDiff(out, tensors.output) / scale).toBeLessThan(2e-5);
      tb.tf.dispose([out, ...Object.values(tensors)]);
      layer.dispose();
    });
  }

  it("BatchNorm takes num_batches_tracked as PyTorch does: optional, one integer, counted in training", () => {
    const bn = new nn.BatchNorm1d(2);
    const state = () => ({ weight: tb.tf.ones([2]), bias: tb.tf.zeros([2]), running_mean: tb.tf.zeros([2]), running_var: tb.tf.ones([2]) });
    bn.loadStateDict({ ...state(), num_batches_tracked: tb.tf.scalar(41, "int32") });
    expect(bn.numBatchesTracked).toBe(41);
    bn.loadStateDict(state()); // absent: PyTorch accepts that too
    expect(bn.numBatchesTracked).toBe(41);
    expect(Object.keys(bn.stateDict())).toEqual(["weight", "bias", "running_mean", "running_var"]);
    const bad = { ...state(), running_mean: tb.tf.fill([2], 3), num_batches_tracked: tb.tf.tensor([1.5, 2]) };
    expect(() => bn.loadStateDict(bad)).toThrow(/num_batches_tracked: expected one non-negative integer \(int64 in PyTorch\), got float32 \[2\]/);
    expect(Array.from(bn.running_mean.data.dataSync())).toEqual([0, 0]); // nothing changed
    expect(bn.numBatchesTracked).toBe(41);
    bn.train();
    tb.tf.tidy(() => bn.call(tb.tf.randomNormal([4, 2, 3])));
    expect(bn.numBatchesTracked).toBe(42);
    // keys a module does not know still need { strict: false }
    expect(() => bn.loadStateDict({ ...state(), other: tb.tf.zeros([1]) })).toThrow(/unexpected keys: other/);
    bn.loadStateDict({ ...state(), other: tb.tf.zeros([1]) }, { strict: false });
  });

  it("loadStateDict names every missing, unexpected and mis-shaped key and changes nothing", () => {
    const conv = new nn.Conv1d(2, 3, 3);
    const before = conv.weight.data.dataSync().slice();
    const bad = { weight: tb.tf.zeros([3, 2, 5]), extra: tb.tf.zeros([1]) };
    expect(() => conv.loadStateDict(bad)).toThrow(/missing keys: bias.*unexpected keys: extra.*weight: expected \[3, 2, 3\], got \[3, 2, 5\]/);
    expect(Array.from(conv.weight.data.dataSync())).toEqual(Array.from(before));
  });
});
