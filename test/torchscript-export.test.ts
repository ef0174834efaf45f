// Bent models back to TorchScript (issue 20 part 3): saveTorchScript writes the source archive
// with the current weights baked in; PyTorch 1.13 (/usr/bin/python3 with torch) loads the file
// and its output is compared with tfbend's bent output. CI has no torch: the PyTorch check is
// skipped there (said below), the archive checks run everywhere.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { FIXTURES, relativeError, type Call } from "./torchscript-reference.js";

const { tf } = tb;
const PYTHON = "/usr/bin/python3";
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
const withTorch = hasTorch ? it : it.skip;
if (!hasTorch) console.warn("torchscript-export: PyTorch is not installed (/usr/bin/python3 -c 'import torch' fails); the PyTorch load check is skipped");

/** Runs the exported file's method in PyTorch on `input` (after torch.manual_seed(seed) when given); returns its output and the entries that differ from the source. */
function runInPyTorch(dir: string, exported: string, source: string, method: string, input: tb.Tensor, seed?: number): Promise<{ output: tb.Tensor; differ: string[]; sameNames: boolean }> {
  return (async () => {
    const inputs = join(dir, "input.safetensors");
    const outputs = join(dir, "output.safetensors");
    await tb.io.saveSafetensors(inputs, { input });
    const run = spawnSync(PYTHON, [join(FIXTURES, "run_exported.py"), exported, source, method, inputs, outputs, ...(seed === undefined ? [] : [String(seed)])], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`PyTorch could not run ${exported}: ${run.stderr}`);
    const { differ, sameNames } = JSON.parse(run.stdout.trim().split("\n").pop()!) as { differ: string[]; sameNames: boolean };
    const { output } = await tb.io.loadSafetensors(outputs);
    return { output, differ, sameNames };
  })();
}

describe("exporting a bent TorchScript model", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tfbend-export-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const source = join(FIXTURES, "conv24.ts");

  withTorch("weight bendings are baked in: PyTorch 1.13 loads the file and matches tfbend's bent output; other entries are byte for byte", async () => {
    const bended = await tb.load(source);
    try {
      bended.bend(new tb.Mask(0.5, { seed: 3 }), "net.46.weight");
      bended.bend(new tb.Scale(-1.5), "net.44.weight", "net.46.bias");
      const x = tf.randomNormal([1, 1, 256], 0, 1, "float32", 7);
      const expected = bended.forward(x);
      const file = join(dir, "bent.ts");
      const report = await tb.saveTorchScript(bended, file);
      expect(report.written.sort()).toEqual(["net.44.weight", "net.46.bias", "net.46.weight"]);
      const { output, differ, sameNames } = await runInPyTorch(dir, file, source, "forward", x);
      expect(sameNames).toBe(true);
      // the three storages, nothing else
      expect(differ).toHaveLength(3);
      expect(differ.every((n) => n.startsWith("data/"))).toBe(true);
      expect(relativeError(output, expected)).toBeLessThan(1e-4);
      // and the unbent model differs from it (the bendings reached the file)
      const unbent = await tb.torchscript.loadTorchScript(source);
      const plain = unbent.forward(x) as tb.Tensor;
      expect(relativeError(output, plain)).toBeGreaterThan(1e-2);
      unbent.dispose();
      tf.dispose([x, expected, output, plain]);
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  it("the written file loads in tfbend with the bent weights and no bending; nothing is left beside it", async () => {
    const bended = await tb.load(source);
    const file = join(dir, "again.ts");
    try {
      bended.bend(new tb.Scale(0.25), "net.0.weight");
      const expected = bended.bendedStateDict()["net.0.weight"].clone();
      await tb.save(bended, file); // tb.save of a TorchScript model to a .ts name exports it
      await expect(tb.save(bended, join(dir, "folder"))).rejects.toThrow(/saved as one: tb\.save\(bended, "bent\.ts"\)/);
      const reloaded = await tb.load(file);
      expect(relativeError(reloaded.stateDict()["net.0.weight"], expected)).toBe(0);
      expect(Object.keys(reloaded.stateDict())).toEqual(Object.keys(bended.stateDict()));
      expect(readdirSync(dir).filter((n) => n.includes("again"))).toEqual(["again.ts"]);
      reloaded.dispose();
      (reloaded.module as tb.torchscript.TorchScriptRoot).dispose();
      expected.dispose();
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  it("the current version and interpolation are what is written", async () => {
    const bended = await tb.load(source);
    const file = join(dir, "interpolated.ts");
    try {
      const original = bended.stateDict()["net.46.weight"].clone();
      bended.bend(new tb.Scale(3), "net.46.weight");
      bended.write("loud");
      bended.interpolate({ [tb.DEFAULT_VERSION]: 0.5, loud: 0.5 });
      const report = await tb.saveTorchScript(bended, file);
      expect(report.written).toEqual(["net.46.weight"]);
      const reloaded = await tb.torchscript.loadTorchScript(file);
      const written = reloaded.stateDict()["net.46.weight"];
      const expected = tf.mul(original, 2);
      expect(relativeError(written, expected)).toBeLessThan(1e-6);
      tf.dispose([original, expected]);
      reloaded.dispose();
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  it("a torch 2.x archive (root folder `torch2_v2[3]`, .data/version 10) is written back in its own layout", async () => {
    const twoX = join(FIXTURES, "torch2_handwritten.ts");
    const bended = await tb.load(twoX);
    const file = join(dir, "two.ts");
    try {
      bended.bend(new tb.Scale(0.5), "norm.weight");
      await tb.saveTorchScript(bended, file);
      const archive = await tb.torchscript.readTorchScriptArchive(file);
      expect([archive.rootFolder, archive.version]).toEqual(["torch2_v2[3]", 10]);
      const reloaded = await tb.torchscript.loadTorchScript(file);
      const x = tf.randomNormal([1, 8, 12], 0, 1, "float32", 5);
      const expected = bended.forward(x);
      const got = reloaded.forward(x) as tb.Tensor;
      expect(relativeError(got, expected)).toBeLessThan(1e-5);
      const unbent = await tb.torchscript.loadTorchScript(twoX);
      const plain = unbent.forward(x) as tb.Tensor;
      expect(relativeError(got, plain)).toBeGreaterThan(1e-3);
      tf.dispose([x, expected, got, plain]);
      unbent.dispose();
      reloaded.dispose();
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  it("an unbent model is written back with identical entry contents", async () => {
    const bended = await tb.load(source);
    const file = join(dir, "same.ts");
    try {
      const report = await tb.saveTorchScript(bended, file);
      expect(report.written).toEqual([]);
      const a = await tb.torchscript.readTorchScriptArchive(file);
      const b = await tb.torchscript.readTorchScriptArchive(source);
      expect([...a.code]).toEqual([...b.code]);
      expect(statSync(file).size).toBeGreaterThan(0);
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  withTorch("activation bendings are written into the code: PyTorch 1.13 runs the bent RAVE-like decode as tfbend does; the file loads in tfbend again", async () => {
    const rave = join(FIXTURES, "rave_like.ts");
    // PyTorch's draws for decode (drawn after torch.manual_seed(105), as the reference's), replayed by tfbend for the compared call only
    const queue: Float32Array[] = [];
    const random: tb.torchscript.RandomSource = (kind, shape) => queue.shift() ?? new Float32Array(shape.reduce((a, b) => a * b, 1));
    const bended = await tb.load(rave, { random });
    const reference = JSON.parse(readFileSync(join(FIXTURES, "rave_like.json"), "utf8")) as { methods: Record<string, Call> };
    const tensors = await tb.io.loadSafetensors(join(FIXTURES, "rave_like.safetensors"));
    const file = join(dir, "bent_rave.ts");
    try {
      bended.trace("decode");
      bended.bend(new tb.Mask(0.5, { dim: 1, seed: 3 }), "decoder_pre");
      bended.bend(new tb.Permute(1, { seed: 4 }), "decoder_snake");
      bended.bend(new tb.OrderedMask(0.75, { dim: 1, seed: 5 }), "decoder_up_1");
      bended.bend(new tb.ThresholdActivation(0.1, { value: -0.2 }), "decoder_noise_net_1");
      bended.bend(new tb.Clamp(-0.02, 0.02), "add_8");
      bended.bend(new tb.Affine(1.5, 0.01), "mul_6");
      bended.bend(new tb.Reverse(-1), "decoder_noise_net_2");
      bended.bend(new tb.Bias(0.05), "reshape_2");
      bended.bend(new tb.Scale(0.8), "decoder_stacks_0_units_2_mix");
      // values computed inside a larger statement: the call is moved into a local first
      bended.bend(new tb.Scale(0.9), "decoder_act");
      bended.bend(new tb.Bias(-0.1), "tanh");
      const report = await tb.saveTorchScript(bended, file);
      expect(report.activations).toHaveLength(11);
      expect(report.activations.some((a) => /^Mask\(.*\) on decoder_pre$/.test(a))).toBe(true);
      const call = reference.methods.decode;
      const x = tensors[call.input];
      queue.push(...call.draws.map((d) => tensors[d.values].dataSync() as Float32Array));
      const expected = bended.call("decode", x) as tb.Tensor;
      expect(queue).toHaveLength(0);
      const { output, differ, sameNames } = await runInPyTorch(dir, file, rave, "decode", x, 105);
      expect(relativeError(output, expected)).toBeLessThan(1e-4);
      // the bendings reached PyTorch: the unbent reference differs
      expect(relativeError(output, tensors[call.output])).toBeGreaterThan(1e-2);
      // code files only (no weight bendings); each edited one without its .debug_pkl, whose source ranges no longer fit
      expect(differ.length).toBeGreaterThan(0);
      expect(differ.every((n) => /^code\/.*\.py$/.test(n))).toBe(true);
      expect(sameNames).toBe(false);
      const written = await tb.torchscript.readTorchScriptArchive(file);
      const source = await tb.torchscript.readTorchScriptArchive(rave);
      expect([...written.code.keys()]).toEqual([...source.code.keys()]);
      expect(differ.map((n) => n.slice("code/".length)).sort()).toEqual([...source.code.keys()].filter((k) => written.code.get(k) !== source.code.get(k)).sort());
      // tfbend loads the written file: its decode is the bent one, with no bending
      queue.push(...call.draws.map((d) => tensors[d.values].dataSync() as Float32Array));
      const reloaded = await tb.torchscript.loadTorchScript(file, { random });
      const again = reloaded.invoke("decode", [x]) as tb.Tensor;
      expect(relativeError(again, expected)).toBeLessThan(1e-5);
      reloaded.dispose();
      tf.dispose([expected, output, again]);
    } finally {
      tf.dispose(Object.values(tensors));
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });

  it("an activation bending TorchScript cannot express, or whose code is shared, is refused by name with the reason, and no file is written", async () => {
    const rave = join(FIXTURES, "rave_like.ts");
    const bended = await tb.load(rave);
    const file = join(dir, "refused.ts");
    try {
      bended.trace("decode");
      const scale = bended.bend(new tb.Scale(2), "decoder_pre");
      const noise = bended.bend(new tb.Normal(0.1), "decoder_snake");
      await expect(tb.saveTorchScript(bended, file)).rejects.toThrow(/Normal\(.*\) on decoder_snake of decode: Normal cannot be written into TorchScript code/);
      noise.remove();
      const shared = bended.bend(new tb.Scale(2), "sigmoid");
      await expect(tb.saveTorchScript(bended, file)).rejects.toThrow(/Scale\(.*\) on sigmoid of decode: the code at code\/__torch__\.py:\d+ runs 2 times in decode \(sigmoid, sigmoid_1\)/);
      shared.remove();
      bended.bend(new tb.Scale(2), "decoder_stacks_0_units_0_act");
      await expect(tb.saveTorchScript(bended, file)).rejects.toThrow(/on decoder_stacks_0_units_0_act of decode: the code at code\/__torch__\/\S+\.py:\d+ runs 2 times/);
      expect((await tb.saveTorchScript(bended, join(dir, "unused.ts")).catch((e: Error) => e.message))).not.toMatch(/decoder_pre/);
      scale.remove();
      expect(existsSync(file)).toBe(false);
      expect(readdirSync(dir).some((n) => n.includes("refused"))).toBe(false);
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });
});

