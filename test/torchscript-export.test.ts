// Bent models back to TorchScript (issue 20 part 3): saveTorchScript writes the source archive
// with the current weights baked in; PyTorch 1.13 (/usr/bin/python3 with torch) loads the file
// and its output is compared with tfbend's bent output. CI has no torch: the PyTorch check is
// skipped there (said below), the archive checks run everywhere.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { FIXTURES, relativeError } from "./torchscript-reference.js";

const { tf } = tb;
const PYTHON = "/usr/bin/python3";
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
const withTorch = hasTorch ? it : it.skip;
if (!hasTorch) console.warn("torchscript-export: PyTorch is not installed (/usr/bin/python3 -c 'import torch' fails); the PyTorch load check is skipped");

/** Runs the exported file's method in PyTorch on `input`; returns its output and the entries that differ from the source. */
function runInPyTorch(dir: string, exported: string, source: string, method: string, input: tb.Tensor): Promise<{ output: tb.Tensor; differ: string[]; sameNames: boolean }> {
  return (async () => {
    const inputs = join(dir, "input.safetensors");
    const outputs = join(dir, "output.safetensors");
    await tb.io.saveSafetensors(inputs, { input });
    const run = spawnSync(PYTHON, [join(FIXTURES, "run_exported.py"), exported, source, method, inputs, outputs], { encoding: "utf8" });
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

  it("activation bendings are refused by name, and no file is written", async () => {
    const bended = await tb.load(source);
    const file = join(dir, "refused.ts");
    try {
      bended.trace();
      const names = bended.activationNames();
      bended.bend(new tb.Mask(0.5, { seed: 1 }), names[1]);
      await expect(tb.saveTorchScript(bended, file)).rejects.toThrow(new RegExp(`activation bendings .*Mask.* on ${names[1].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      expect(existsSync(file)).toBe(false);
      expect(readdirSync(dir).some((n) => n.includes("refused"))).toBe(false);
    } finally {
      bended.dispose();
      (bended.module as tb.torchscript.TorchScriptRoot).dispose();
    }
  });
});

