// Every cell of the seed tutorial (shared/seed/bended-modules-tutorial.md) as assertions.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { identical, Stanley } from "./helpers.js";

const { tf } = tb;
const silent = { silent: true };

describe("seed tutorial: dissecting weights and activations", () => {
  const module = new Stanley();
  const bended = new tb.BendedModule(module);

  it("[2] lists weights, their shapes and a statistics table", () => {
    expect(bended.weightNames).toEqual([
      "conv_modules.0.weight", "conv_modules.0.bias", "conv_modules.1.weight", "conv_modules.1.bias",
      "batch_norm.weight", "batch_norm.bias",
    ]);
    expect(bended.weightNames.map((n) => bended.weightShape(n))).toEqual([[4, 1, 3], [4], [8, 4, 3], [8], [8], [8]]);
    const table = bended.printWeights(silent);
    const lines = table.split("\n");
    expect(lines[0].split(/\s+/)).toEqual(["name", "shape", "dtype", "min", "max", "mean", "stddev"]);
    expect(lines[1]).toMatch(/^-+( +-+){6}$/);
    // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm weight 1, bias 0.
    const row = (name: string) => lines.find((l) => l.startsWith(name + " "))!.trim().split(/\s{2,}/);
    const conv0 = row("conv_modules.0.weight").slice(3).map(Number);
    expect(conv0[0]).toBeGreaterThanOrEqual(-1 / Math.sqrt(3));
    expect(conv0[1]).toBeLessThanOrEqual(1 / Math.sqrt(3));
    const w = module.conv_modules[0] as tb.nn.Conv1d;
    const values = Array.from(w.weight.data.dataSync());
    expect(conv0[0]).toBeCloseTo(Math.min(...values), 5);
    expect(conv0[1]).toBeCloseTo(Math.max(...values), 5);
    expect(row("batch_norm.weight").slice(1)).toEqual(["[8]", "float32", "1", "1", "1", "0"]);
    expect(row("batch_norm.bias").slice(1)).toEqual(["[8]", "float32", "0", "0", "0", "0"]);
  });

  it("[3] traces forward and forward_nobatch with activation names and shapes", () => {
    const x = tf.zeros([4, 1, 128]);
    bended.trace({ x });
    expect(bended.activationNames()).toEqual(["x", "conv_modules_0", "conv_modules_1", "batch_norm", "nnlin"]);
    expect(bended.activationNames().map((n) => bended.activationShape(n))).toEqual([
      [4, 1, 128], [4, 4, 126], [4, 8, 124], [4, 8, 124], [4, 8, 124],
    ]);
    expect(bended.printActivations("forward", silent)).toBe(
      [
        "--------------  -----------  -----------",
        "x               placeholder  [4, 1, 128]",
        "conv_modules_0  call_module  [4, 4, 126]",
        "conv_modules_1  call_module  [4, 8, 124]",
        "batch_norm      call_module  [4, 8, 124]",
        "nnlin           call_module  [4, 8, 124]",
        "--------------  -----------  -----------",
      ].join("\n"),
    );
    const fn = "forward_nobatch";
    bended.trace(fn, { x });
    expect(bended.activationNames(fn)).toEqual(["x", "conv_modules_0", "conv_modules_1", "nnlin"]);
    expect(bended.activationNames(fn).map((n) => bended.activationShape(n, fn))).toEqual([
      [4, 1, 128], [4, 4, 126], [4, 8, 124], [4, 8, 124],
    ]);
    // tracing a second method does not disturb the first
    expect(bended.activationNames()).toEqual(["x", "conv_modules_0", "conv_modules_1", "batch_norm", "nnlin"]);
    x.dispose();
  });

  it("[4] gives the graph and a runnable graph module", () => {
    expect(bended.graph("forward").printTabular(silent)).toBe(
      [
        "opcode       name            target          args               kwargs",
        "-----------  --------------  --------------  -----------------  ------",
        "placeholder  x               x               ()                 {}",
        "call_module  conv_modules_0  conv_modules.0  (x,)               {}",
        "call_module  conv_modules_1  conv_modules.1  (conv_modules_0,)  {}",
        "call_module  batch_norm      batch_norm      (conv_modules_1,)  {}",
        "call_module  nnlin           nnlin           (batch_norm,)      {}",
        "output       output          output          (nnlin,)           {}",
      ].join("\n"),
    );
    const gm = bended.graphModule("forward_nobatch");
    expect(gm.graph.nodes.map((n) => n.name)).toEqual(["x", "conv_modules_0", "conv_modules_1", "nnlin", "output"]);
    const x = tf.randomNormal([2, 1, 32]);
    const replayed = gm.forward(x) as tb.Tensor;
    const direct = bended.call("forward_nobatch", x) as tb.Tensor;
    expect(identical(replayed, direct)).toBe(true);
    tf.dispose([x, replayed, direct]);
  });

  it("[5] returns activations by name", () => {
    const x = tf.zeros([4, 1, 128]);
    const outs = bended.getActivations(["conv_modules_0", "nnlin"], { x }, { fn: "forward" });
    expect(Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.shape]))).toEqual({
      conv_modules_0: [4, 4, 126],
      nnlin: [4, 8, 124],
    });
    tf.dispose([x, ...Object.values(outs)]);
  });
});

describe("seed tutorial: bending", () => {
  const module = new Stanley();
  const bended = new tb.BendedModule(module);
  const x = tf.zeros([4, 1, 128]);
  bended.trace({ x });

  it("[6] bends without touching the module, and reset reverts exactly", () => {
    const out = bended.forward(x);
    const originalWeight = (module.conv_modules[0] as tb.nn.Conv1d).weight.data.dataSync().slice();
    bended.bend(new tb.Mask(0.4), "conv_modules.0.weight", "nnlin");
    const outBended = bended.forward(x);
    expect(identical(out, outBended)).toBe(false); // original == bended : False
    const weightNow = (bended.module as Stanley).conv_modules[0] as tb.nn.Conv1d;
    expect(Array.from(weightNow.weight.data.dataSync())).toEqual(Array.from(originalWeight)); // param unchanged
    bended.reset();
    const outReverted = bended.forward(x);
    expect(identical(out, outReverted)).toBe(true); // original == reverted : True
    tf.dispose([out, outBended, outReverted]);
  });

  it("[7] compares state dicts, graphs and activations before and after bending", () => {
    bended.bend(new tb.Mask(0.4), "conv_modules.0.weight", "nnlin");
    const original = bended.stateDict()["conv_modules.0.weight"].dataSync();
    const bent = bended.bendedStateDict()["conv_modules.0.weight"].dataSync();
    // each element is kept as is or zeroed
    bent.forEach((v, i) => expect(v === original[i] || v === 0).toBe(true));
    expect(bent.some((v, i) => v !== original[i])).toBe(true);
    expect(String(bended.graph())).toContain("%nnlin : [num_users=1] = call_module[target=nnlin](args = (%batch_norm,), kwargs = {})");
    expect(String(bended.graph())).toMatch(/return nnlin$/);
    const bentGraph = String(bended.bendGraph());
    expect(bentGraph).toContain("%nnlin_bended : [num_users=1] = call_function[target=Mask(prob=0.400)](args = (%nnlin,), kwargs = {})");
    expect(bentGraph).toMatch(/return nnlin_bended$/);

    const xr = tf.randomNormal([4, 1, 128]);
    const originalAct = bended.getActivations("nnlin", { x: xr }, { bended: false });
    const bendedAct = bended.getActivations(["nnlin", "nnlin_bended"], { x: xr });
    expect(originalAct.nnlin.shape).toEqual([4, 8, 124]);
    expect(bendedAct.nnlin.shape).toEqual([4, 8, 124]);
    // before the callback: differs from the original only through the bent weight
    expect(identical(originalAct.nnlin, bendedAct.nnlin)).toBe(false);
    const after = bendedAct.nnlin_bended.dataSync();
    const before = bendedAct.nnlin.dataSync();
    after.forEach((v, i) => expect(v === before[i] || v === 0).toBe(true));
    const kept = after.filter((v, i) => v === before[i]).length / after.length;
    expect(kept).toBeGreaterThan(0.3);
    expect(kept).toBeLessThan(0.5);
    tf.dispose([xr, ...Object.values(originalAct), ...Object.values(bendedAct)]);
  });

  it("[8] another input shape gives a clear shape error naming the activation and the dim fix", () => {
    const small = tf.randomNormal([1, 1, 64]);
    expect(() => bended.forward(small)).toThrow(tb.BendingError);
    expect(() => bended.forward(small)).toThrow(/activation 'nnlin' of forward was drawn for the traced shape \[4, 8, 124\], but got shape \[1, 8, 60\].*dim: -2/);
    small.dispose();
  });

  it("[9] dim: -2 masks channels only and works for any length", () => {
    bended.reset();
    const cb = new tb.Mask(0.3, { dim: -2 });
    bended.bend(cb, "nnlin");
    const small = tf.randomNormal([1, 1, 64]);
    const out = bended.forward(small);
    expect(out.shape).toEqual([1, 8, 60]);
    // whole channels are kept or zeroed
    const rows = out.arraySync() as number[][][];
    for (const channel of rows[0]) expect(channel.every((v) => v === 0) || channel.every((v) => v !== 0)).toBe(true);
    tf.dispose([small, out]);
  });
});

describe("seed tutorial: BendingConfig", () => {
  it("[10] describes bendings, finds operations by key, saves and loads", () => {
    const module = new Stanley();
    const bended = new tb.BendedModule(module);
    const x = tf.randomNormal([1, 1, 1024]);
    bended.trace({ x });
    const m4 = new tb.Mask(0.4);
    const m6 = new tb.Mask(0.6);
    bended.bend(m4, "conv_modules.0.weight", "nnlin");
    bended.bend(m6, "conv_modules.0.weight", "conv_modules.1.weight");
    const config = bended.bendingConfig();
    const expected = [
      "BendingConfig(",
      `module = Stanley(id = ${module.moduleId})`,
      "\tMask(prob=0.400): ['conv_modules.0.weight', 'nnlin']",
      "\tMask(prob=0.600): ['conv_modules.0.weight', 'conv_modules.1.weight']",
      ")",
    ].join("\n");
    expect(String(config)).toBe(expected);
    expect(config.opFromKey("conv_modules.0.weight").map(String)).toEqual(["Mask(prob=0.400)", "Mask(prob=0.600)"]);

    const path = join(mkdtempSync(join(tmpdir(), "tfbend-")), "test.tb.json");
    config.save(path);
    const loaded = tb.BendingConfig.load(path, bended);
    expect(String(loaded)).toBe(expected);
    expect(loaded.equals(config)).toBe(true);

    // a loaded config reproduces the same output (same per-target random state)
    const out = bended.forward(x);
    bended.reset();
    bended.bend(loaded);
    const outLoaded = bended.forward(x);
    expect(identical(out, outLoaded)).toBe(true);
    tf.dispose([x, out, outLoaded]);
  });

  it("[11] builds configs out of the blue, adds, compares and binds them", () => {
    const module = new Stanley();
    const bended = new tb.BendedModule(module);
    bended.trace({ x: tf.randomNormal([1, 1, 1024]) });
    const cb1 = new tb.Mask(0.8);
    const config1 = new tb.BendingConfig([cb1, "conv_modules.\\d.weight"], [cb1, "nnlin"]);
    const config2 = new tb.BendingConfig([cb1, "conv_modules.\\d.weight"]).add(new tb.BendingConfig([cb1, "nnlin"]));
    const unbound = ["BendingConfig(", "\t(Mask(prob=0.800), 'conv_modules.\\\\d.weight')", "\t(Mask(prob=0.800), 'nnlin')", ")"].join("\n");
    expect(String(config1)).toBe(unbound);
    expect(String(config2)).toBe(unbound);
    expect(config1.equals(config2)).toBe(true);

    config1.bind(bended);
    config2.bind(bended);
    const bound = [
      "BendingConfig(",
      `module = Stanley(id = ${module.moduleId})`,
      "\tMask(prob=0.800): ['conv_modules.0.weight', 'conv_modules.1.weight', 'nnlin']",
      ")",
    ].join("\n");
    expect(String(config1)).toBe(bound);
    expect(String(config2)).toBe(bound);

    bended.reset();
    bended.bend(config1);
    expect(config1.equals(bended.bendingConfig())).toBe(true);
    expect(config1.equals(new tb.BendingConfig([new tb.Mask(0.5), "nnlin"]).bind(bended))).toBe(false);
  });
});

describe("seed tutorial: versions and interpolation", () => {
  it("[12] writes a bended version, switches back, and interpolates", () => {
    const bended = new tb.BendedModule(new Stanley());
    const x = tf.randomNormal([1, 1, 128]);
    const outUnbended = bended.forward(x);
    expect(bended.version).toBe("_default");
    bended.bend(new tb.Mask(0.3), "conv_modules.0.weight");
    bended.write("bended");
    expect(bended.version).toBe("bended");
    bended.version = null;
    expect(bended.version).toBe("_default");

    const outOriginal = bended.setVersion(null, () => bended.forward(x))!;
    const outBended = bended.setVersion("bended", () => bended.forward(x))!;
    const outInterpolated = bended.interpolate({ _default: 1, bended: 1 }, () => bended.forward(x))!;
    expect(identical(outOriginal, outUnbended)).toBe(true);
    expect(identical(outOriginal, outBended)).toBe(false);
    expect(identical(outOriginal, outInterpolated)).toBe(false);
    expect(identical(outBended, outInterpolated)).toBe(false);
    // the interpolated weight is the average of both versions' weights
    const w0 = bended.stateDict()["conv_modules.0.weight"].dataSync();
    const w1 = bended.setVersion("bended", () => bended.bendedStateDict()["conv_modules.0.weight"].dataSync())!;
    const wi = bended.interpolate({ _default: 1, bended: 1 }, () => bended.bendedStateDict()["conv_modules.0.weight"].dataSync())!;
    wi.forEach((v, i) => expect(v).toBeCloseTo((w0[i] + w1[i]) / 2, 6));
    // back to the default after the temporary switches
    expect(bended.version).toBe("_default");
    expect(bended.interpolationWeights).toBeNull();
    tf.dispose([x, outUnbended, outOriginal, outBended, outInterpolated]);
  });

  it("[13] imports another module's weights as a version and refuses a different one", () => {
    const bended = new tb.BendedModule(new Stanley());
    bended.createVersion("imported", new Stanley());
    const x = tf.randomNormal([1, 1, 128]);
    const outOriginal = bended.setVersion(null, () => bended.forward(x))!;
    const outImported = bended.setVersion("imported", () => bended.forward(x))!;
    const outInterpolated = bended.interpolate({ _default: 1, imported: 1 }, () => bended.forward(x))!;
    expect(identical(outOriginal, outImported)).toBe(false);
    expect(identical(outOriginal, outInterpolated)).toBe(false);
    expect(identical(outImported, outInterpolated)).toBe(false);

    class Doppleganger extends tb.nn.Module {}
    expect(() => bended.createVersion("imported", new Doppleganger())).toThrow(tb.BendingError);
    expect(() => bended.createVersion("imported", new Doppleganger())).toThrow(/missing conv_modules\.0\.weight/);
    // the refused import left the earlier version in place
    const again = bended.setVersion("imported", () => bended.forward(x))!;
    expect(identical(again, outImported)).toBe(true);
    tf.dispose([x, outOriginal, outImported, outInterpolated, again]);
  });
});
