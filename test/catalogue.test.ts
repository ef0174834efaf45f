// The bending catalogue: identities are exact, settings do what they say on weights and
// activations, chains compose, configs round-trip, controls drive them, memory stays flat.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { identical, maxAbsDiff, Stanley } from "./helpers.js";

const { tf } = tb;

function traced(batch = 2): { bended: tb.BendedModule; x: tb.Tensor } {
  const bended = new tb.BendedModule(new Stanley().eval());
  const x = tf.randomNormal([batch, 1, 64], 0, 1, "float32", 7);
  bended.trace({ x });
  return { bended, x };
}

const W0 = "conv_modules.0.weight";
const W1 = "conv_modules.1.weight"; // [8, 4, 3]

function values(t: tb.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** The weight as the next pass uses it. */
function bent(bended: tb.BendedModule, name: string): number[] {
  return values(bended.bendedStateDict()[name]);
}

function original(bended: tb.BendedModule, name: string): number[] {
  return values(bended.stateDict()[name]);
}

/** [before, after] an activation's bending, as arrays (tensors disposed). */
function activation(bended: tb.BendedModule, name: string, x: tb.Tensor): [number[], number[], number[]] {
  const acts = bended.getActivations([name, `${name}_bended`], { x });
  const out: [number[], number[], number[]] = [values(acts[name]), values(acts[`${name}_bended`]), acts[name].shape];
  tf.dispose(Object.values(acts));
  return out;
}

/** Rows of a [rows, ...] array of `size` elements each. */
function rows(v: number[], size: number): number[][] {
  return Array.from({ length: v.length / size }, (_, i) => v.slice(i * size, (i + 1) * size));
}

function tmpFile(name: string): string {
  return join(mkdtempSync(join(tmpdir(), "tfbend-catalogue-")), name);
}

const f32 = Math.fround;

describe("catalogue: identity settings are bit-identical", () => {
  const both: [string, () => tb.BendingCallback][] = [
    ["Scale(1)", () => new tb.Scale(1)],
    ["Bias(0)", () => new tb.Bias(0)],
    ["Affine(1, 0)", () => new tb.Affine(1, 0)],
    ["Normal(0)", () => new tb.Normal(0, { seed: 1 })],
    ["Normal(0, mul)", () => new tb.Normal(0, { op: "mul", seed: 1 })],
    ["Uniform(0)", () => new tb.Uniform(0, { seed: 1 })],
    ["Uniform(0, mul)", () => new tb.Uniform(0, { op: "mul", seed: 1 })],
    ["OrderedMask(1)", () => new tb.OrderedMask(1, { seed: 1 })],
    ["Clamp()", () => new tb.Clamp()],
    ["Clamp(-inf, inf)", () => new tb.Clamp(-Infinity, Infinity)],
    ["Lambda(x => x)", () => new tb.Lambda((x) => x)],
  ];
  const activationOnly: [string, () => tb.BendingCallback][] = [
    ["ThresholdActivation(-inf)", () => new tb.ThresholdActivation(-Infinity)],
    ["Capture()", () => new tb.Capture()],
    ["InterpolateActivation([1, 0]) on the batch's first item", () => new tb.InterpolateActivation([1, 0])],
  ];

  it.each(both)("%s on weights and activations", (_, make) => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    const weights = bended.stateDict();
    bended.bend(make(), "conv_modules.\\d.weight", "conv_modules.0.bias", "conv_modules_0", "nnlin");
    for (const w of [W0, W1]) expect(identical(bended.bendedStateDict()[w], weights[w])).toBe(true);
    expect(identical(bended.forward(x), plain)).toBe(true);
    bended.reset();
    // the module's own weights were never handed out to be disposed
    for (const t of Object.values(weights)) expect(t.isDisposed).toBe(false);
    expect(identical(bended.forward(x), plain)).toBe(true);
  });

  it.each(activationOnly)("%s on activations", (name, make) => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    const interpolate = name.startsWith("Interpolate");
    // [1, 0] on the input makes both batch items the first one: compare with a batch of it.
    const expected = interpolate ? bended.forward(tf.concat([x.slice(0, 1), x.slice(0, 1)])) : plain;
    bended.bend(make(), interpolate ? "x" : "conv_modules_0", "nnlin");
    expect(identical(bended.forward(x), expected)).toBe(true);
  });
});

describe("catalogue: settings change values as expected", () => {
  it("Scale, Bias and Affine map weights and activations exactly", () => {
    const { bended, x } = traced();
    const w = original(bended, W1);
    bended.bend(new tb.Scale(2), W1, "conv_modules_0");
    expect(bent(bended, W1)).toEqual(w.map((v) => 2 * v));
    const [before, after] = activation(bended, "conv_modules_0", x);
    expect(after).toEqual(before.map((v) => 2 * v));
    bended.reset();
    bended.bend(new tb.Bias(0.5), W1);
    expect(bent(bended, W1)).toEqual(w.map((v) => f32(v + 0.5)));
    bended.reset();
    bended.bend(new tb.Affine(-3, 0.25), W1, "nnlin");
    expect(bent(bended, W1)).toEqual(w.map((v) => f32(f32(-3 * v) + 0.25)));
    const [b2, a2] = activation(bended, "nnlin", x);
    expect(a2).toEqual(b2.map((v) => f32(f32(-3 * v) + 0.25)));
    expect(String(new tb.Affine(-3, 0.25))).toBe("Affine(scale=-3.000, bias=0.250)");
  });

  it("OrderedMask keeps exactly round(prob·n) elements, progressively, reproducibly", () => {
    const { bended, x } = traced();
    const w = original(bended, W1);
    const prob = new tb.BendingParameter("keep", 0.5, { range: [0, 1] });
    bended.bend(new tb.OrderedMask(prob, { seed: 3 }), W1);
    const half = bent(bended, W1);
    const kept = (v: number[]) => v.map((e, i) => (e !== 0 ? i : -1)).filter((i) => i >= 0);
    expect(kept(half).length).toBe(48); // 96 elements
    half.forEach((v, i) => expect(v === 0 || v === w[i]).toBe(true));
    bended.update("keep", 0.25);
    const quarter = kept(bent(bended, W1));
    expect(quarter.length).toBe(24);
    expect(quarter.every((i) => kept(half).includes(i))).toBe(true); // a subset: progressive
    bended.update("keep", 0.3); // round(28.8) = 29
    expect(kept(bent(bended, W1)).length).toBe(29);
    bended.update("keep", 0);
    expect(bent(bended, W1).every((v) => v === 0)).toBe(true);
    // same seed → same mask on another module wrapper
    const again = new tb.BendedModule(bended.module);
    again.bend(new tb.OrderedMask(0.5, { seed: 3 }), W1);
    expect(bent(again, W1)).toEqual(half);
    // dim: whole output channels, exactly half of them; activation channels too
    bended.reset();
    bended.bend(new tb.OrderedMask(0.5, { dim: 0, seed: 4 }), W1);
    const channels = rows(bent(bended, W1), 12);
    expect(channels.filter((r) => r.every((v) => v === 0)).length).toBe(4);
    expect(channels.filter((r) => r.every((v) => v !== 0)).length).toBe(4);
    bended.bend(new tb.OrderedMask(0.25, { dim: -2, seed: 5 }), "nnlin");
    const [, after, shape] = activation(bended, "nnlin", x);
    const perChannel = rows(after, shape[2]); // [batch·channel, length]
    const keptChannels = perChannel.slice(0, 8).map((r) => r.some((v) => v !== 0));
    expect(keptChannels.filter(Boolean).length).toBe(2);
    expect(perChannel.slice(8).map((r) => r.some((v) => v !== 0))).toEqual(keptChannels); // same channels for every item
  });

  it("Normal and Uniform noise: drawn once per target, scaled by the controls, add or mul", () => {
    const { bended, x } = traced();
    bended.bend(new tb.Normal(0.1, { seed: 6 }), "conv_modules_0");
    const [before, after] = activation(bended, "conv_modules_0", x); // 2·4·62 elements
    const noise = after.map((v, i) => v - before[i]);
    const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
    const std = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(std).toBeGreaterThan(0.08);
    expect(std).toBeLessThan(0.12);
    expect(activation(bended, "conv_modules_0", x)[1]).toEqual(after); // not redrawn per pass
    bended.reset();
    bended.bend(new tb.Normal(0, { mean: 0.5, seed: 6 }), W1);
    expect(bent(bended, W1)).toEqual(original(bended, W1).map((v) => f32(v + 0.5)));
    bended.reset();
    bended.bend(new tb.Normal(0, { mean: 1, op: "mul", seed: 6 }), W1);
    expect(bent(bended, W1)).toEqual(original(bended, W1).map((v) => 2 * v));
    bended.reset();
    bended.bend(new tb.Uniform(0.5, { seed: 7 }), W1);
    const du = bent(bended, W1).map((v, i) => v - original(bended, W1)[i]);
    expect(Math.max(...du.map(Math.abs))).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(Math.max(...du)).toBeGreaterThan(0.3);
    expect(Math.min(...du)).toBeLessThan(-0.3);
    bended.reset();
    bended.bend(new tb.Uniform(0.5, { op: "mul", seed: 7 }), W1);
    const ratio = bent(bended, W1).map((v, i) => v / original(bended, W1)[i]);
    expect(Math.min(...ratio)).toBeGreaterThanOrEqual(0.5 - 1e-5);
    expect(Math.max(...ratio)).toBeLessThanOrEqual(1.5 + 1e-5);
    // seeds: same seed same noise, another seed other noise
    const w7 = bent(bended, W1);
    bended.reset();
    bended.bend(new tb.Uniform(0.5, { op: "mul", seed: 8 }), W1);
    expect(bent(bended, W1)).not.toEqual(w7);
    // dim: one value per channel
    bended.reset();
    bended.bend(new tb.Uniform(1, { op: "mul", dim: 0, seed: 9 }), W1);
    const factors = rows(bent(bended, W1), 12).map((r, c) => r.map((v, i) => v / rows(original(bended, W1), 12)[c][i]));
    for (const r of factors) for (const v of r) expect(v).toBeCloseTo(r[0], 5);
  });

  it("without dim, noise drawn for the traced shape refuses another shape; dim fixes it", () => {
    const { bended } = traced();
    bended.bend(new tb.Normal(0.1, { seed: 1 }), "nnlin");
    const other = tf.randomNormal([1, 1, 40]);
    expect(() => bended.forward(other)).toThrow(tb.BendingError);
    expect(() => bended.forward(other)).toThrow(/traced shape \[2, 8, 60\].*dim: -2/);
    bended.reset();
    bended.bend(new tb.Normal(0.1, { dim: -2, seed: 1 }).then(new tb.OrderedMask(0.5, { dim: -2, seed: 2 })), "nnlin");
    expect(bended.forward(other).shape).toEqual([1, 8, 36]);
  });

  it("Permute keeps the multiset along dim; Reverse reverses and twice is the identity", () => {
    const { bended, x } = traced();
    const w = original(bended, W1);
    bended.bend(new tb.Permute(0, { seed: 10 }), W1);
    const permuted = rows(bent(bended, W1), 12);
    const key = (r: number[]) => r.join(",");
    expect(permuted.map(key).sort()).toEqual(rows(w, 12).map(key).sort());
    expect(permuted.map(key)).not.toEqual(rows(w, 12).map(key));
    bended.reset();
    bended.bend(new tb.Permute(-1, { seed: 11 }), "nnlin");
    const [before, after, shape] = activation(bended, "nnlin", x);
    const sorted = (r: number[]) => [...r].sort((a, b) => a - b);
    const rb = rows(before, shape[2]);
    const ra = rows(after, shape[2]);
    ra.forEach((r, i) => expect(sorted(r)).toEqual(sorted(rb[i])));
    expect(ra).not.toEqual(rb);
    bended.reset();
    bended.bend(new tb.Reverse(0), W1);
    expect(rows(bent(bended, W1), 12)).toEqual(rows(w, 12).reverse());
    bended.reset();
    const plain = bended.forward(x);
    bended.bend(new tb.Reverse(-1).then(new tb.Reverse(-1)), W1, "nnlin");
    bended.bend(new tb.Reverse([0, 2]), "conv_modules_0");
    // an identical bending does not stack (issue 22): twice is a chain
    expect(() => bended.bend(new tb.Reverse([0, 2]), "conv_modules_0")).toThrow(/already bent on conv_modules_0/);
    bended.unbend("conv_modules_0");
    bended.bend(new tb.Reverse([0, 2]).then(new tb.Reverse([0, 2])), "conv_modules_0");
    expect(identical(bended.bendedStateDict()[W1], bended.stateDict()[W1])).toBe(true);
    expect(identical(bended.forward(x), plain)).toBe(true);
    expect(() => bended.bend(new tb.Permute(3), W1)).toThrow(/dim 3 is out of range for shape \[8, 4, 3\]/);
  });

  it("Clamp clips into [min, max]; ThresholdActivation replaces x < threshold by value", () => {
    const { bended, x } = traced();
    const w = original(bended, W1);
    bended.bend(new tb.Clamp(-0.1, 0.1), W1);
    expect(bent(bended, W1)).toEqual(w.map((v) => Math.min(f32(0.1), Math.max(f32(-0.1), v))));
    bended.reset();
    bended.bend(new tb.Clamp(-Infinity, 0), W1);
    expect(bent(bended, W1)).toEqual(w.map((v) => Math.min(0, v)));
    expect(() => new tb.Clamp(1, 0)).toThrow(/min \(1\) is above max \(0\)/);
    bended.reset();
    bended.bend(new tb.ThresholdActivation(0.5), "nnlin");
    const [before, after] = activation(bended, "nnlin", x);
    expect(after).toEqual(before.map((v) => (v < 0.5 ? 0 : v)));
    expect(after.some((v) => v === 0) && after.some((v) => v !== 0)).toBe(true);
    bended.reset();
    bended.bend(new tb.ThresholdActivation(0.5, { value: -1 }), "nnlin");
    const [b2, a2] = activation(bended, "nnlin", x);
    expect(a2).toEqual(b2.map((v) => (v < 0.5 ? -1 : v)));
  });

  it("Capture records the last maxPasses activations, passes them through and frees them", () => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    const before = tf.memory().numTensors;
    const capture = new tb.Capture({ maxPasses: 3 });
    bended.bend(capture, "conv_modules_0");
    const inputs = [1, 2, 3, 4, 5].map((s) => tf.randomNormal([2, 1, 64], 0, 1, "float32", s));
    for (const input of inputs) bended.forward(input).dispose();
    const got = capture.captured();
    expect(got.length).toBe(3);
    got.forEach((t, i) => {
      const expected = bended.getActivations("conv_modules_0", { x: inputs[i + 2] }, { bended: false }).conv_modules_0;
      expect(identical(t, expected)).toBe(true);
      expected.dispose();
    });
    tf.dispose(got);
    const out = bended.forward(x);
    expect(identical(out, plain)).toBe(true); // passes through
    out.dispose();
    const named = capture.captured("conv_modules_0");
    expect(named.length).toBe(3);
    tf.dispose(named);
    expect(capture.targets()).toEqual(["conv_modules_0"]);
    expect(() => capture.captured("nnlin")).toThrow(/records no 'nnlin'/);
    capture.clear();
    expect(capture.captured()).toEqual([]);
    bended.forward(x).dispose();
    bended.reset(); // frees its record and state
    tf.dispose(inputs);
    expect(tf.memory().numTensors).toBe(before);
    expect(capture.targets()).toEqual([]);
    expect(String(capture)).toBe("Capture(maxPasses=3)");
  });

  it("Capture in a chain: several targets by name; removing the chain frees the records", () => {
    const { bended, x } = traced();
    const before = tf.memory().numTensors;
    const capture = new tb.Capture({ maxPasses: 2 });
    const handle = bended.bend(new tb.Scale(2).then(capture), "conv_modules_0", "nnlin");
    bended.forward(x).dispose();
    expect(capture.targets()).toEqual(["conv_modules_0", "nnlin"]);
    expect(() => capture.captured()).toThrow(/records 2 targets; name one: conv_modules_0, nnlin/);
    const [scaled] = capture.captured("nnlin");
    const [raw, bentNnlin] = activation(bended, "nnlin", x);
    expect(values(scaled)).toEqual(bentNnlin);
    expect(values(scaled)).toEqual(raw.map((v) => 2 * v));
    scaled.dispose();
    handle.remove(); // the Chain hands disposeState on to the Capture
    expect(tf.memory().numTensors).toBe(before);
    expect(capture.targets()).toEqual([]);
  });

  it("InterpolateActivation morphs between the batch's items, driven by a control", () => {
    const { bended, x } = traced();
    const first = bended.forward(tf.concat([x.slice(0, 1), x.slice(0, 1)]));
    const second = bended.forward(tf.concat([x.slice(1, 1), x.slice(1, 1)]));
    const mix = new tb.BendingParameter("mix", 0, { range: [0, 1] });
    const cb = new tb.InterpolateActivation([mix.times(-1).plus(1), mix]);
    expect(String(cb)).toBe("InterpolateActivation(weights=[mix_-1_1(1.000), mix(0.000)])");
    bended.bend(cb, "x");
    expect(bended.controls().map((c) => c.name)).toEqual(["mix"]);
    expect(identical(bended.forward(x), first)).toBe(true);
    bended.update("mix", 1);
    expect(identical(bended.forward(x), second)).toBe(true);
    // midpoint of the activations: both items get the same mean
    bended.reset();
    bended.bend(new tb.InterpolateActivation([1, 1]), "conv_modules_0");
    const [before, after, shape] = activation(bended, "conv_modules_0", x);
    const n = after.length / shape[0];
    for (let i = 0; i < n; i++) {
      expect(after[i]).toBe(after[n + i]);
      expect(after[i]).toBeCloseTo((before[i] + before[n + i]) / 2, 6);
    }
    expect(() => bended.forward(tf.zeros([3, 1, 64]))).toThrow(/needs a batch of 2, got shape \[3, 4, 62\]/);
    expect(() => bended.bend(new tb.InterpolateActivation([1, 1, 1]), "nnlin")).toThrow(/3 weights, one per batch item/);
    expect(() => bended.bend(new tb.InterpolateActivation([1, -1]), "nnlin")).toThrow(/sum to 0/);
  });

  it("Lambda runs code on weights and activations and is never saved or loaded", () => {
    const { bended, x } = traced();
    const neg = new tb.Lambda((t) => tf.neg(t), { name: "neg" });
    expect(String(neg)).toBe("Lambda(name='neg')");
    bended.bend(neg, W1, "conv_modules_0");
    expect(bent(bended, W1)).toEqual(original(bended, W1).map((v) => -v));
    const [before, after] = activation(bended, "conv_modules_0", x);
    expect(after).toEqual(before.map((v) => -v));
    expect(() => neg.toJSON()).toThrow(tb.BendingError);
    expect(() => bended.bendingConfig().save(tmpFile("lambda.json"))).toThrow(/Lambda\(name='neg'\) is TypeScript code and cannot be saved/);
    expect(() => new tb.BendingConfig([new tb.Scale(2).then(neg), "nnlin"]).save(tmpFile("chain.json"))).toThrow(tb.BendingError);
    const message = { format: "tfbend-config", version: 1, callbacks: [{ type: "Lambda", args: {}, seed: 0 }], entries: [{ callback: 0, pattern: "nnlin" }] };
    expect(() => tb.BendingConfig.fromJSON(message)).toThrow(/a Lambda is TypeScript code: it cannot be created from a message or a file/);
    expect(neg.equals(neg)).toBe(true);
    expect(neg.equals(new tb.Lambda((t) => tf.neg(t), { name: "neg" }))).toBe(false);
    bended.reset();
    bended.bend(new tb.Lambda((t) => t.reshape([-1])), W1);
    expect(() => bended.forward(x)).toThrow(/changed the shape of weight 'conv_modules.1.weight' from \[8, 4, 3\] to \[96\]/);
  });
});

describe("catalogue: chains, compatibility, reprs", () => {
  it("chains compose on weights and activations", () => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    bended.bend(new tb.Scale(2).then(new tb.Scale(0.5)), W0, W1, "conv_modules_0", "nnlin");
    expect(maxAbsDiff(bended.forward(x), plain)).toBeLessThan(1e-6);
    bended.reset();
    bended.bend(new tb.Scale(2).then(new tb.Bias(1)).then(new tb.Clamp(-Infinity, 1.5)), W1);
    expect(bent(bended, W1)).toEqual(original(bended, W1).map((v) => Math.min(1.5, f32(2 * v + 1))));
    // the same bendings registered one after another chain the same way
    const chained = bended.forward(x);
    bended.reset();
    bended.bend(new tb.Scale(2), W1);
    bended.bend(new tb.Bias(1), W1);
    bended.bend(new tb.Clamp(-Infinity, 1.5), W1);
    expect(identical(bended.forward(x), chained)).toBe(true);
  });

  it("weight-incompatible callbacks are a BendingError on weights, also inside chains", () => {
    const { bended } = traced();
    for (const cb of [new tb.ThresholdActivation(0), new tb.Capture(), new tb.InterpolateActivation([1, 1]), new tb.Scale(2).then(new tb.Capture())]) {
      expect(cb.weightCompatible).toBe(false);
      expect(cb.activationCompatible).toBe(true);
      expect(() => bended.bend(cb, W1)).toThrow(tb.BendingError);
      expect(() => bended.bend(cb, W1)).toThrow(/cannot bend weights \('conv_modules.1.weight' is a weight\)/);
    }
    expect(bended.bendingConfig().entries.length).toBe(0);
  });

  it("reprs print like the seed's, integers as integers", () => {
    const p = new tb.BendingParameter("amt", 0.25);
    expect(String(new tb.Scale(2))).toBe("Scale(scale=2.000)");
    expect(String(new tb.Bias(p))).toBe("Bias(bias=amt(0.250))");
    expect(String(new tb.OrderedMask(0.4, { dim: -2 }))).toBe("OrderedMask(prob=0.400, dim=-2)");
    expect(String(new tb.Normal(0.1))).toBe("Normal(std=0.100, mean=0.000, op='add')");
    expect(String(new tb.Uniform(p, { op: "mul", dim: [0, 1] }))).toBe("Uniform(amount=amt(0.250), op='mul', dim=[0, 1])");
    expect(String(new tb.Permute(-1))).toBe("Permute(dim=-1)");
    expect(String(new tb.Reverse([0, 2]))).toBe("Reverse(dim=[0, 2])");
    expect(String(new tb.Clamp(-1))).toBe("Clamp(min=-1.000, max=Infinity)");
    expect(String(new tb.ThresholdActivation(0.5))).toBe("ThresholdActivation(threshold=0.500, value=0.000)");
    expect(String(new tb.Scale(2).then(new tb.Reverse(0)))).toBe("Scale(scale=2.000) -> Reverse(dim=0)");
    expect(new tb.Scale(2).equals(new tb.Scale(2))).toBe(true);
    expect(() => new tb.Normal(1, { op: "pow" as unknown as tb.NoiseOp })).toThrow(/'add' or 'mul'/);
    expect(() => new tb.OrderedMask(1.5)).toThrow(/\[0, 1\]/);
    expect(() => new tb.Scale(Number.NaN)).toThrow(tb.BendingError);
  });
});

describe("catalogue: configs and live controls", () => {
  it("a saved config with every serialisable callback reloads to identical outputs", () => {
    const { bended, x } = traced();
    const std = new tb.BendingParameter("std", 0.2, { range: [0, 1] });
    const config = new tb.BendingConfig(
      [new tb.OrderedMask(0.7, { seed: 21 }), W0],
      [new tb.Normal(std, { mean: 0.01, seed: 22 }), W1, "conv_modules_0"],
      [new tb.Uniform(0.3, { op: "mul", dim: -2, seed: 23 }), "batch_norm"],
      [new tb.Permute(-2, { seed: 24 }), "conv_modules_1"],
      [new tb.Reverse(-1), "conv_modules.0.bias"],
      [new tb.Affine(std.times(2), -0.1).then(new tb.Clamp(-Infinity, 0.9)), "nnlin"],
      [new tb.Scale(1.5), "conv_modules.1.bias"],
      [new tb.Bias(0.05), "batch_norm.bias"],
      [new tb.ThresholdActivation(-Infinity, { value: 2 }), "conv_modules_0"],
      [new tb.ThresholdActivation(0.45, { value: 0.1 }), "nnlin"],
      [new tb.InterpolateActivation([3, std]), "conv_modules_1"],
      [new tb.Capture({ maxPasses: 2 }), "batch_norm"],
    );
    bended.bend(config);
    const out = bended.forward(x);
    const path = tmpFile("config.json");
    bended.bendingConfig().save(path);
    const other = new tb.BendedModule(bended.module);
    other.trace({ x });
    const loaded = tb.BendingConfig.load(path, other);
    expect(loaded.equals(bended.bendingConfig())).toBe(true);
    expect(String(loaded).split("\n").slice(2)).toEqual(String(bended.bendingConfig()).split("\n").slice(2));
    other.bend(loaded);
    expect(identical(other.forward(x), out)).toBe(true);
    // the loaded control drives every callback that read it
    expect(other.controls().map((c) => c.name)).toEqual(["std"]);
    other.update("std", 0.5);
    bended.update("std", 0.5);
    const moved = bended.forward(x);
    expect(identical(moved, out)).toBe(false);
    expect(identical(other.forward(x), moved)).toBe(true);
  });

  it("controls drive each numeric argument on the next pass (weights recompute once)", () => {
    const { bended, x } = traced();
    const w = original(bended, W1);
    const s = new tb.BendingParameter("s", 1);
    bended.bend(new tb.Scale(s), W1);
    expect(bent(bended, W1)).toEqual(w);
    bended.update("s", 3);
    expect(bent(bended, W1)).toEqual(w.map((v) => f32(3 * v)));
    bended.reset();
    const lo = new tb.BendingParameter("lo", -1);
    const hi = new tb.BendingParameter("hi", 1);
    bended.bend(new tb.Clamp(lo, hi), W1);
    bended.update("hi", 0);
    expect(Math.max(...bent(bended, W1))).toBe(0);
    bended.update("lo", 0.5);
    expect(() => bended.forward(x)).toThrow(/min is above max/);
    bended.reset();
    const t = new tb.BendingParameter("t", 0.5);
    const v = new tb.BendingParameter("v", 0);
    const std = new tb.BendingParameter("std", 0.1);
    bended.bend(new tb.ThresholdActivation(t, { value: v }), "nnlin");
    bended.bend(new tb.Normal(std, { seed: 3 }), "conv_modules_0");
    const [b1, a1] = activation(bended, "nnlin", x);
    expect(a1).toEqual(b1.map((e) => (e < 0.5 ? 0 : e)));
    bended.update("t", 0.6);
    bended.update("v", 0.25);
    const [b2, a2] = activation(bended, "nnlin", x);
    expect(a2).toEqual(b2.map((e) => (e < f32(0.6) ? 0.25 : e)));
    const [c1, n1] = activation(bended, "conv_modules_0", x);
    expect(n1).not.toEqual(c1);
    bended.update("std", 0);
    const [c2, n2] = activation(bended, "conv_modules_0", x);
    expect(n2).toEqual(c2);
    bended.update("std", 0.2); // same field, twice the amplitude
    const [c3, n3] = activation(bended, "conv_modules_0", x);
    n3.forEach((e, i) => expect(e - c3[i]).toBeCloseTo(2 * (n1[i] - c1[i]), 5));
  });

  it("keeps tf.memory().numTensors flat over 100 passes with many callbacks and control changes", () => {
    const { bended, x } = traced();
    // Filters derived from bent weights stay in nn's derived cache until its next sweep: not ours to count.
    const owned = () => {
      const derived = tb.nn.derivedCacheSize(); // sweeps first
      return tf.memory().numTensors - derived;
    };
    const before = owned();
    const p = new tb.BendingParameter("p", 0.5, { range: [0, 1] });
    const capture = new tb.Capture({ maxPasses: 4 });
    bended.bend(capture, "conv_modules_1");
    bended.bend(new tb.OrderedMask(p, { seed: 1 }), W0, "conv_modules_0");
    bended.bend(new tb.Normal(p, { seed: 2 }).then(new tb.Scale(p.plus(1))), W1, "conv_modules_1");
    bended.bend(new tb.Uniform(p, { op: "mul", dim: -2, seed: 3 }), "batch_norm");
    bended.bend(new tb.Affine(p, p).then(new tb.Bias(p)), "conv_modules.1.bias");
    bended.bend(new tb.Permute(1, { seed: 4 }).then(new tb.Reverse(-1)), "conv_modules_1");
    bended.bend(new tb.ThresholdActivation(p).then(new tb.Clamp(0, p.plus(0.5))), "nnlin");
    bended.bend(new tb.InterpolateActivation([p, 1]).then(new tb.Scale(p.plus(0.5))), "conv_modules_0");
    bended.bend(new tb.Lambda((t) => tf.mul(t, 0.5)), "batch_norm");
    // Warm up: fill the capture ring and make each cached tensor once (a cache made at one
    // setting stays until the setting changes, e.g. nothing is cached while Scale(p + 0.5) is 1).
    const cycle = (i: number) => (i % 30) / 30;
    for (let i = 0; i < 30; i += 10) {
      bended.update("p", cycle(i));
      bended.forward(x).dispose();
    }
    for (let i = 0; i < 4; i++) bended.forward(x).dispose();
    const start = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) bended.update("p", cycle(i));
      bended.forward(x).dispose();
      if (i % 25 === 0) tf.dispose(Object.values(bended.getActivations(["nnlin", "conv_modules_0_bended"], { x })));
    }
    bended.forward(x).dispose();
    expect(tf.memory().numTensors).toBe(start);
    const got = capture.captured();
    expect(got.length).toBe(4);
    tf.dispose(got);
    bended.reset(); // every state, slot and recorded activation is freed
    bended.forward(x).dispose();
    expect(owned()).toBe(before);
  });
});
