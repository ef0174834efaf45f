// Regressions found in review: slow patterns, name clashes, chained seeds, stale caches,
// leaks on model reload, integer axes.
import { mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { identical, Stanley } from "./helpers.js";
import { makeModelsDir } from "./session-fixture.js";

const { nn, F, tf } = tb;

describe("review fixes", () => {
  it("a pattern that would backtrack exponentially is matched in linear time", () => {
    const bended = new tb.BendedModule(new Stanley());
    bended.trace({ x: tf.zeros([1, 1, 16]) });
    const t0 = performance.now();
    expect(() => bended.bend(new tb.Mask(0.5), "((.*)*)*!")).toThrow(/no weight or activation matches/);
    expect(() => bended.bend(new tb.Mask(0.5), "(a)\\1")).toThrow(/not a valid pattern/);
    expect(() => bended.bend(new tb.Mask(0.5), "x".repeat(300))).toThrow(/at most 256 characters/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("never gives two nodes the same name", () => {
    class Clash extends nn.Module {
      lin = new nn.Linear(2, 2);
      lin_1 = new nn.Linear(2, 2);
      override forward(x: tb.Tensor): tb.Tensor {
        return this.lin_1.call(this.lin.call(this.lin.call(x)));
      }
    }
    const bended = new tb.BendedModule(new Clash());
    bended.trace({ x: tf.ones([1, 2]) });
    const names = bended.activationNames();
    expect(names).toEqual(["x", "lin", "lin_1", "lin_1_1"]);
    expect(bended.bend(new tb.Scale(0), "lin_1").targets).toEqual(["lin_1"]);
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

  it("reloading a model in a session frees the previous one", async () => {
    const dirs = await makeModelsDir();
    mkdirSync(dirs.workspace, { recursive: true });
    const session = new tb.control.Session(dirs);
    await session.execute(["load", "audio"]);
    tb.nn.derivedCacheSize(); // sweeps filters derived from disposed weights
    const start = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) expect((await session.execute(["load", "audio"])).ok).toBe(true);
    tb.nn.derivedCacheSize();
    expect(tf.memory().numTensors).toBe(start);
    session.dispose();
  });

  it("axes must be integers", () => {
    const bended = new tb.BendedModule(new Stanley());
    expect(() => bended.bend(new tb.Mask(0.5, { dim: 0.5 }), "conv_modules.0.weight")).toThrow(/dim must be an integer/);
    expect(() => new tb.Capture({ maxPasses: 1e6 })).toThrow(/Capture keeps 1 to 1024 passes/);
    void F;
  });
});
