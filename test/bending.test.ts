// Bending behaviour beyond the seed: handles, chains, caching, live controls, presets, memory.
import { describe, expect, it, vi } from "vitest";
import * as tb from "tfbend";
import { identical, maxAbsDiff, Stanley } from "./helpers.js";

const { tf } = tb;

function traced(): { bended: tb.BendedModule; x: tb.Tensor } {
  const bended = new tb.BendedModule(new Stanley().eval());
  const x = tf.randomNormal([2, 1, 64]);
  bended.trace({ x });
  return { bended, x };
}

describe("bending", () => {
  it("a handle removes just its bending", () => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    const a = bended.bend(new tb.Mask(0.5, { seed: 1 }), "conv_modules.0.weight");
    const onlyA = bended.forward(x);
    const b = bended.bend(new tb.Mask(0.5, { seed: 2 }), "nnlin");
    expect(identical(bended.forward(x), onlyA)).toBe(false);
    b.remove();
    expect(identical(bended.forward(x), onlyA)).toBe(true);
    a.remove();
    expect(identical(bended.forward(x), plain)).toBe(true);
    expect(a.targets).toEqual(["conv_modules.0.weight"]);
  });

  it("callbacks on one key chain in registration order, on weights and activations", () => {
    const { bended, x } = traced();
    const m1 = new tb.Mask(0.5, { seed: 11 });
    const m2 = new tb.Mask(0.5, { seed: 12 });
    bended.bend(m1, "conv_modules.1.weight", "conv_modules_0");
    bended.bend(m2, "conv_modules.1.weight", "conv_modules_0");
    const w = bended.stateDict()["conv_modules.1.weight"].dataSync();
    const bent = bended.bendedStateDict()["conv_modules.1.weight"].dataSync();
    const acts = bended.getActivations(["conv_modules_0", "conv_modules_0_bended"], { x });
    const single = new tb.BendedModule(bended.module);
    single.trace({ x });
    single.bend(m1, "conv_modules.1.weight");
    const afterFirst = single.bendedStateDict()["conv_modules.1.weight"].dataSync();
    // both masks applied: zero where either drops, original elsewhere
    let zeroedBySecondOnly = 0;
    bent.forEach((v, i) => {
      expect(v === 0 || v === w[i]).toBe(true);
      if (afterFirst[i] !== 0 && v === 0) zeroedBySecondOnly++;
    });
    expect(zeroedBySecondOnly).toBeGreaterThan(0);
    const before = acts.conv_modules_0.dataSync();
    const after = acts.conv_modules_0_bended.dataSync();
    expect(after.filter((v, i) => v === before[i] && v !== 0).length / after.length).toBeLessThan(0.4); // ~25% kept
    tf.dispose(Object.values(acts));
  });

  it("a chained callback (a.then(b)) composes", () => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    bended.bend(new tb.Mask(1).then(new tb.Mask(1)), "nnlin", "conv_modules.0.weight");
    expect(identical(bended.forward(x), plain)).toBe(true);
    bended.reset();
    bended.bend(new tb.Mask(1).then(new tb.Mask(0)), "nnlin");
    expect(Array.from(bended.forward(x).dataSync()).every((v) => v === 0)).toBe(true);
  });

  it("bent weights are computed once and reused until something changes", () => {
    const { bended, x } = traced();
    const mask = new tb.Mask(0.5, { seed: 3 });
    const apply = vi.spyOn(mask, "apply");
    bended.bend(mask, "conv_modules.0.weight");
    for (let i = 0; i < 5; i++) bended.forward(x).dispose();
    expect(apply).toHaveBeenCalledTimes(1);
    bended.bend(new tb.Mask(0.5), "nnlin"); // a new bending invalidates the cache
    bended.forward(x).dispose();
    expect(apply).toHaveBeenCalledTimes(2);
    bended.forward(x).dispose();
    expect(apply).toHaveBeenCalledTimes(2);
  });

  it("a live control moves a weight bending (one recompute) and an activation bending", () => {
    const { bended, x } = traced();
    const prob = new tb.BendingParameter("keep", 1, { range: [0, 1] });
    const mask = new tb.Mask(prob, { seed: 5 });
    const apply = vi.spyOn(mask, "apply");
    bended.bend(mask, "conv_modules.0.weight");
    const plain = bended.forward(x);
    expect(identical(plain, bended.forward(x))).toBe(true);
    bended.update("keep", 0);
    const zeroWeights = bended.bendedStateDict()["conv_modules.0.weight"];
    expect(Array.from(zeroWeights.dataSync()).every((v) => v === 0)).toBe(true);
    const calls = apply.mock.calls.length;
    bended.forward(x).dispose();
    bended.forward(x).dispose();
    expect(apply.mock.calls.length).toBe(calls); // no recompute per pass
    expect(() => bended.update("keep", 2)).toThrow(/outside its range \[0, 1\]/);
    expect(prob.value).toBe(0); // unchanged
    expect(() => bended.update("nope", 1)).toThrow(/unknown control 'nope' \(controls: keep\)/);
    expect(bended.controls().map((c) => c.name)).toEqual(["keep"]);
    // a derived control follows its source
    const act = new tb.Mask(prob.times(2), { seed: 6, dim: -2 });
    bended.bend(act, "nnlin");
    bended.update("keep", 0.5); // derived prob = 1 → identity on nnlin
    const full = bended.getActivations(["nnlin", "nnlin_bended"], { x });
    expect(identical(full.nnlin, full.nnlin_bended)).toBe(true);
    bended.update("keep", 0.0); // derived prob = 0 → zeros
    const zero = bended.getActivations("nnlin_bended", { x });
    expect(Array.from(zero.nnlin_bended.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([plain, ...Object.values(full), ...Object.values(zero)]);
  });

  it("unbend removes matching targets only; named presets switch back and forth identically", () => {
    const { bended, x } = traced();
    const plain = bended.forward(x);
    bended.bend(new tb.Mask(0.5, { seed: 8 }), "conv_modules.0.weight", "nnlin");
    const both = bended.forward(x);
    bended.saveConfigAs("both");
    expect(bended.unbend("nnlin")).toEqual(["nnlin"]);
    const weightOnly = bended.forward(x);
    expect(identical(weightOnly, both)).toBe(false);
    expect(identical(weightOnly, plain)).toBe(false);
    expect(() => bended.unbend("nnlin")).toThrow(/nothing bent matches 'nnlin'/);
    bended.saveConfigAs("weight");
    for (let i = 0; i < 3; i++) {
      bended.setConfig("both");
      expect(identical(bended.forward(x), both)).toBe(true);
      bended.setConfig("weight");
      expect(identical(bended.forward(x), weightOnly)).toBe(true);
    }
    expect(() => bended.setConfig("nope")).toThrow(/unknown config 'nope'/);
  });

  it("versions: write bakes weight bendings in; unknown version and zero weights are errors", () => {
    const { bended, x } = traced();
    bended.bend(new tb.Mask(0.5, { seed: 9 }), "conv_modules.0.weight");
    const bent = bended.forward(x);
    bended.write("v1");
    expect(bended.version).toBe("v1");
    expect(identical(bended.forward(x), bent)).toBe(true); // baked, not applied twice
    expect(bended.bendingConfig().entries.length).toBe(0);
    expect(() => (bended.version = "nope")).toThrow(/unknown version 'nope' \(versions: _default, v1\)/);
    expect(() => bended.interpolate({ _default: 1, v1: -1 })).toThrow(/weights are 0 or more/);
    expect(() => bended.interpolate({ _default: 0, v1: 0 })).toThrow(/sum to 0/);
    expect(() => bended.interpolate({ _default: Number.NaN })).toThrow(/finite/);
    expect(bended.version).toBe("v1");
    // interpolation weights 1:0 reproduce the default version
    bended.version = null;
    const plain = bended.forward(x);
    const interpolated = bended.interpolate({ _default: 1, v1: 0 }, () => bended.forward(x))!;
    expect(maxAbsDiff(plain, interpolated)).toBeLessThan(1e-6);
  });

  it("leaves tf.memory().numTensors flat over many passes and activation reads", () => {
    const { bended, x } = traced();
    const prob = new tb.BendingParameter("p", 0.5, { range: [0, 1] });
    bended.bend(new tb.Mask(prob, { dim: -2 }), "nnlin");
    bended.bend(new tb.Mask(prob), "conv_modules.1.weight");
    bended.createVersion("other", new Stanley());
    // warm up caches
    bended.forward(x).dispose();
    const start = tf.memory().numTensors;
    const derivedStart = tb.nn.derivedCacheSize();
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) bended.update("p", (i / 300) % 1); // recompute bent weights now and then
      if (i % 100 === 0) bended.interpolate({ _default: 1, other: i / 300 });
      bended.forward(x).dispose();
      const acts = bended.getActivations(["conv_modules_0", "nnlin_bended"], { x });
      tf.dispose(Object.values(acts));
    }
    bended.update("p", 0.5);
    bended.version = null;
    bended.forward(x).dispose();
    expect(tf.memory().numTensors).toBe(start);
    expect(tb.nn.derivedCacheSize()).toBeLessThanOrEqual(derivedStart + 2);
  });
});

describe("bending patterns, chains and caches", () => {
  it("a pattern that would backtrack exponentially is matched in linear time", () => {
    const bended = new tb.BendedModule(new Stanley());
    bended.trace({ x: tf.zeros([1, 1, 16]) });
    const t0 = performance.now();
    expect(() => bended.bend(new tb.Mask(0.5), "((.*)*)*!")).toThrow(/no weight or activation matches/);
    expect(() => bended.bend(new tb.Mask(0.5), "(a)\\1")).toThrow(/not a valid pattern/);
    expect(() => bended.bend(new tb.Mask(0.5), "x".repeat(300))).toThrow(/at most 256 characters/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("callbacks inside a chain keep their own seeds", () => {
    const masks = [1, 2].map((seed) => {
      const bended = new tb.BendedModule(new Stanley());
      bended.bend(new tb.Mask(0.5, { seed }).then(new tb.Scale(2)), "conv_modules.1.weight");
      return Array.from(bended.bendedStateDict()["conv_modules.1.weight"].dataSync()).map((v) => v !== 0);
    });
    expect(masks[0]).not.toEqual(masks[1]);
  });

  it("bent weights and interpolations follow the module's own weights when they change", () => {
    const module = new Stanley().eval();
    const bended = new tb.BendedModule(module);
    const x = tf.randomNormal([1, 1, 32]);
    bended.bend(new tb.Scale(2), "conv_modules.0.weight");
    bended.forward(x).dispose();
    bended.createVersion("other", new Stanley());
    module.loadStateDict(new Stanley().stateDict());
    const cached = bended.forward(x);
    const fresh = new tb.BendedModule(module);
    fresh.bend(new tb.Scale(2), "conv_modules.0.weight");
    expect(identical(cached, fresh.forward(x))).toBe(true);
    bended.reset();
    bended.interpolate({ _default: 1, other: 0 });
    bended.forward(x).dispose();
    module.loadStateDict(new Stanley().stateDict());
    const interpolated = bended.forward(x);
    const plain = tf.tidy(() => module.call(x));
    expect(Math.max(...Array.from(tf.abs(tf.sub(interpolated, plain)).dataSync()))).toBeLessThan(1e-6);
  });
});

describe("weights bent under moving controls", () => {
  it("a moved control recomputes only the weights it drives, to the same values as from scratch", () => {
    const { tf } = tb;
    const module = new Stanley();
    const bended = new tb.BendedModule(module);
    const a = bended.controlFor("a", 1, { range: [0, 4] });
    const b = bended.controlFor("b", 1, { range: [0, 4] });
    bended.bend(new tb.Scale(a), "conv_modules\\.0\\.weight");
    bended.bend(new tb.Scale(b), "conv_modules\\.1\\.weight");
    const w0 = module.stateDict()["conv_modules.0.weight"];
    const w1 = module.stateDict()["conv_modules.1.weight"];
    const first = bended.bendedStateDict();
    a.value = 2.5;
    const moved = bended.bendedStateDict();
    // only the weight under 'a' was recomputed; the other is the very tensor computed before
    expect(moved["conv_modules.1.weight"]).toBe(first["conv_modules.1.weight"]);
    expect(moved["conv_modules.0.weight"]).not.toBe(first["conv_modules.0.weight"]);
    tf.tidy(() => {
      expect(maxAbsDiff(moved["conv_modules.0.weight"], tf.mul(w0, 2.5))).toBeLessThan(1e-6);
      expect(maxAbsDiff(moved["conv_modules.1.weight"], w1)).toBeLessThan(1e-6);
    });
    b.value = 0.5;
    a.value = 1;
    const both = bended.bendedStateDict();
    tf.tidy(() => {
      expect(maxAbsDiff(both["conv_modules.0.weight"], w0)).toBeLessThan(1e-6);
      expect(maxAbsDiff(both["conv_modules.1.weight"], tf.mul(w1, 0.5))).toBeLessThan(1e-6);
    });
    // memory stays flat while controls move
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) {
      a.value = 1 + (i % 3);
      bended.bendedStateDict();
    }
    expect(tf.memory().numTensors).toBe(tensors);
    bended.dispose();
  });
});
