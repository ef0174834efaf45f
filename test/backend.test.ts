// Backend selection: the fastest backend that loads (wasm on a machine without a GPU), a clean
// one-line fallback when WebGPU has no adapter, TFBEND_BACKEND forcing one or failing clearly,
// backendInfo(), and the same outputs on every backend that loads here (on a GPU machine,
// bench/gpu.sh runs this file and webgpu joins the comparison).
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const root = join(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "tfbend-backend-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** backendInfo().native: the native engine's runtime where ONNX Runtime loads, else why not. */
const NATIVE_INFO = expect.stringMatching(/^(onnxruntime \d+\.\d+\.\d+ \(cpu\)|unavailable: .+)$/);
const probe = 'import("tfbend").then((tb) => console.log(JSON.stringify(tb.backendInfo())))';

/** The environment without any backend choice: what a user who sets nothing gets. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TFBEND_BACKEND;
  delete env.TFBEND_DAWN_OPTIONS;
  return { ...env, ...extra };
}

function run(script: string, env: NodeJS.ProcessEnv, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...args, "--input-type=module", "-e", script], { cwd: root, env, encoding: "utf8" });
}

function lastJson(stdout: string): tb.BackendInfo {
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "null") as tb.BackendInfo;
}

const nonEmptyLines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");
const FALLBACK_LINE = /^tfbend: no WebGPU adapter \([^\n]+\); using (wasm|cpu)$/;
const STACK_FRAME = /^\s+at .+/m;

// What this machine selects when nothing is set (one child, shared by the tests below).
const auto = run(probe, cleanEnv());
const autoInfo = lastJson(auto.stdout);
const hasWebGPU = autoInfo.name === "webgpu";
const tensorflowInstalled = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"].some((pkg) => {
  try {
    createRequire(join(root, "package.json")).resolve(pkg);
    return true;
  } catch {
    return false;
  }
});

describe("backend selection", () => {
  it("picks the fastest backend that loads: wasm on a machine without a GPU", () => {
    expect(auto.status).toBe(0);
    if (!hasWebGPU && !tensorflowInstalled) expect(autoInfo.name).toBe("wasm");
    // this test process: TFBEND_BACKEND when bench/gpu.sh sets it, otherwise the same choice
    expect(tb.backend()).toBe(process.env.TFBEND_BACKEND || autoInfo.name);
  });

  it("without a WebGPU adapter: exactly one log line, no stack trace, and wasm", () => {
    const lines = nonEmptyLines(auto.stderr);
    if (hasWebGPU || autoInfo.name === "tensorflow") {
      expect(auto.stderr).not.toMatch(/no WebGPU adapter/);
      return;
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(FALLBACK_LINE);
    expect(lines[0]).toMatch(/; using wasm$/);
    expect(auto.stderr).not.toMatch(STACK_FRAME);
  });

  it.skipIf(tensorflowInstalled)("a webgpu package whose native binary fails to load is the same clean fallback", () => {
    // Resolve "webgpu" to a module that throws like a dawn.node that cannot be loaded. Dawn's null
    // backend option skips the Vulkan checks, so the import is attempted even on this machine.
    const broken = join(scratch, "broken-webgpu.mjs");
    writeFileSync(broken, 'throw new Error("dawn.node: libvulkan.so.1: cannot open shared object file");\n');
    const hooks = join(scratch, "hooks.mjs");
    writeFileSync(hooks, `export async function resolve(specifier, context, next) {
  if (specifier === "webgpu") return { url: ${JSON.stringify(pathToFileURL(broken).href)}, shortCircuit: true };
  return next(specifier, context);
}\n`);
    const register = join(scratch, "register.mjs");
    writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const result = run(probe, cleanEnv({ TFBEND_DAWN_OPTIONS: "backend=null" }), ["--import", register]);
    expect(result.status).toBe(0);
    expect(lastJson(result.stdout).name).toBe("wasm");
    const lines = nonEmptyLines(result.stderr);
    expect(lines).toEqual([
      "tfbend: no WebGPU adapter (the webgpu package did not load: dawn.node: libvulkan.so.1: cannot open shared object file); using wasm",
    ]);
  });

  it("TFBEND_BACKEND forces a backend", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", probe], {
      env: cleanEnv({ TFBEND_BACKEND: "cpu" }),
      encoding: "utf8",
    });
    expect(lastJson(out)).toEqual({ name: "cpu", device: "CPU (JavaScript)", threads: 1, native: NATIVE_INFO });
  });

  it("TFBEND_BACKEND=webgpu loads where an adapter exists and fails clearly where none does", () => {
    const result = run(probe, cleanEnv({ TFBEND_BACKEND: "webgpu" }));
    if (hasWebGPU) {
      expect(result.status).toBe(0);
      expect(lastJson(result.stdout)).toEqual(autoInfo);
      return;
    }
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/BendingError: backend 'webgpu' could not be loaded on this machine: no WebGPU adapter \(.+\)/);
    expect(result.stderr).not.toMatch(/tfbend: no WebGPU adapter/); // forced: the error says it, no fallback line
  });

  it("an unknown or unavailable backend fails with a clear error", () => {
    const cases: [string, RegExp][] = [["bogus", /unknown backend 'bogus' \(choose one of tensorflow, webgpu, wasm, cpu\)/]];
    if (!tensorflowInstalled) {
      cases.push(["tensorflow", /backend 'tensorflow' could not be loaded on this machine: neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is installed/]);
    }
    for (const [name, message] of cases) {
      const result = run(probe, cleanEnv({ TFBEND_BACKEND: name }));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
    }
  });

  it("backendInfo() names the backend and its device", () => {
    const info = tb.backendInfo();
    expect(info.name).toBe(tb.backend());
    const device: Record<string, RegExp> = {
      wasm: /^CPU \(WebAssembly, SIMD (on|off), threads \d+\)$/,
      cpu: /^CPU \(JavaScript\)$/,
      webgpu: /^GPU .+ \(.*Dawn.*\)$/,
      tensorflow: /^(GPU \(TensorFlow, CUDA\)|CPU \(TensorFlow native\)), @tensorflow\/tfjs-node(-gpu)?$/,
    };
    expect(info.device).toMatch(device[info.name]);
    expect(autoInfo.device).toMatch(device[autoInfo.name]);
  });

  it("the webgpu path runs end to end on Dawn's null adapter (no GPU needed; values are not computed)", () => {
    const script = `
      import * as tb from "tfbend";
      const { tf } = tb;
      const report = { info: tb.backendInfo() };
      const decoder = await tb.load("models/audio");
      const { tensors: ref } = await tb.io.loadSafetensorsFile("models/audio/reference.safetensors");
      decoder.bend(new tb.Mask(new tb.BendingParameter("keep", 0.5, { range: [0, 1] }), { seed: 1 }), "net.6.conv.weight");
      decoder.bend(new tb.Mask(0.5, { dim: -2, seed: 2 }), "net_7_conv1");
      const audio = decoder.call("decode", ref.z);
      report.length = (await audio.data()).length;
      decoder.update("keep", 0.25);
      report.recomputed = (await decoder.bendedStateDict()["net.6.conv.weight"].data()).length;
      try { tf.relu(audio).dataSync(); } catch (e) { report.syncRead = e.name + ": " + e.message; }
      console.log(JSON.stringify(report));
      process.exit(0);`;
    const result = run(script, cleanEnv({ TFBEND_BACKEND: "webgpu", TFBEND_DAWN_OPTIONS: "backend=null" }));
    expect(result.stderr).not.toMatch(STACK_FRAME);
    expect(result.status).toBe(0);
    const report = JSON.parse(nonEmptyLines(result.stdout).at(-1) ?? "{}");
    expect(report.info).toEqual({ name: "webgpu", device: "GPU null-backend (Dawn null backend)", native: NATIVE_INFO });
    expect(report.length).toBe(4096);
    expect(report.recomputed).toBeGreaterThan(0);
    expect(report.syncRead).toMatch(/^BendingError: synchronous reads \(dataSync, .*\) are not available on the webgpu backend under Node .*await tensor\.data\(\)/);
  });
});

// --- the same outputs on every backend -------------------------------------------------

/** Largest absolute difference allowed between two backends (and against PyTorch's reference). */
const CROSS_BACKEND_TOLERANCE = 1e-4;

// Run in a child per backend: the seed tutorial's Stanley (fixed weights, plain, bent by weight
// and activation Masks, channel mask), the shipped audio decoder on its reference latent (plain
// and bent) and the image decoder (shipped weights when present, else seeded ones). Outputs are
// read with `await data()` (webgpu cannot read synchronously under Node) and written as float32.
const CORRECTNESS_SCRIPT = `
import { existsSync, writeFileSync } from "node:fs";
import * as tb from "tfbend";
const { tf, nn } = tb;
const out = { info: tb.backendInfo(), tensors: {} };
async function put(name, t) {
  const d = await t.data();
  out.tensors[name] = { shape: t.shape, data: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64") };
  t.dispose();
}
const signal = (n, a, b) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * a) + 0.25 * Math.cos(i * b));

nn.manualSeed(0);
const stanley = new tb.BendedModule(new tb.zoo.Stanley());
const x = tf.tensor3d(signal(4 * 128, 0.37, 1.3), [4, 1, 128]);
stanley.trace({ x });
await put("stanley", stanley.forward(x));
await put("stanley_nobatch", stanley.call("forward_nobatch", x));
stanley.bend(new tb.Mask(0.4, { seed: 1 }), "conv_modules.0.weight", "nnlin");
await put("stanley_bended", stanley.forward(x));
stanley.reset();
stanley.bend(new tb.Mask(0.3, { dim: -2, seed: 2 }), "nnlin");
await put("stanley_channel_mask", stanley.forward(x));

const decoder = await tb.load("models/audio");
const { tensors: ref } = await tb.io.loadSafetensorsFile("models/audio/reference.safetensors");
await put("audio", decoder.call("decode", ref.z));
decoder.bend(new tb.Mask(0.5, { seed: 3 }), "net.6.conv.weight");
decoder.bend(new tb.Mask(0.5, { dim: -2, seed: 4 }), "net_7_conv1");
await put("audio_bended", decoder.call("decode", ref.z));

let image;
if (existsSync("models/image/tfbend.json")) image = await tb.load("models/image");
else {
  nn.manualSeed(1);
  image = new tb.BendedModule(tb.createModule("image-decoder").eval());
}
const latentDim = image.module.latentDim;
await put("image", image.forward(tf.tensor2d(signal(2 * latentDim, 0.7, 2.1), [2, latentDim])));
writeFileSync(process.env.TFBEND_OUT, JSON.stringify(out));
process.exit(0);
`;

interface Outputs {
  info: tb.BackendInfo;
  tensors: Record<string, { shape: number[]; values: Float32Array }>;
}

function outputsOn(backend: string): Outputs | { unavailable: string } {
  const file = join(scratch, `outputs-${backend}.json`);
  const result = run(CORRECTNESS_SCRIPT, cleanEnv({ TFBEND_BACKEND: backend, TFBEND_OUT: file }));
  const unavailable = result.stderr.match(/backend '\w+' could not be loaded on this machine: (.+)/);
  if (result.status !== 0 && unavailable && (backend === "webgpu" || backend === "tensorflow")) {
    return { unavailable: unavailable[1] };
  }
  if (result.status !== 0) throw new Error(`the correctness script failed on ${backend}:\n${result.stderr}`);
  const raw = JSON.parse(readFileSync(file, "utf8")) as { info: tb.BackendInfo; tensors: Record<string, { shape: number[]; data: string }> };
  const tensors: Outputs["tensors"] = {};
  for (const [name, { shape, data }] of Object.entries(raw.tensors)) {
    const bytes = Buffer.from(data, "base64");
    tensors[name] = { shape, values: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
  }
  return { info: raw.info, tensors };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = d; // NaN counts as a difference
  }
  return max;
}

describe("cross-backend correctness", () => {
  it(`the tutorial's Stanley and the shipped decoders agree across backends within ${CROSS_BACKEND_TOLERANCE} (abs)`, async () => {
    const results = new Map<string, Outputs>();
    const skipped: string[] = [];
    for (const backend of ["cpu", "wasm", "webgpu", "tensorflow"]) {
      const outputs = outputsOn(backend);
      if ("unavailable" in outputs) skipped.push(`${backend}: ${outputs.unavailable}`);
      else results.set(backend, outputs);
    }
    expect([...results.keys()]).toEqual(expect.arrayContaining(["cpu", "wasm"]));
    if (hasWebGPU) expect(results.has("webgpu")).toBe(true);

    const reference = results.get("cpu")!;
    const { tensors: pytorch } = await tb.io.loadSafetensorsFile(join(root, "models/audio/reference.safetensors"));
    const pytorchAudio = (await pytorch.audio.data()) as Float32Array;
    const report: string[] = [];
    for (const [backend, outputs] of results) {
      const names = Object.keys(reference.tensors);
      expect(Object.keys(outputs.tensors)).toEqual(names);
      const diffs: string[] = [];
      for (const name of names) {
        const ours = outputs.tensors[name];
        expect(ours.shape, `${name} on ${backend}`).toEqual(reference.tensors[name].shape);
        const diff = maxAbsDiff(ours.values, reference.tensors[name].values);
        expect(diff, `${name} on ${backend} vs cpu`).toBeLessThan(CROSS_BACKEND_TOLERANCE);
        diffs.push(`${name} ${diff.toExponential(1)}`);
      }
      // and the decoder still reproduces PyTorch on this backend
      const vsTorch = maxAbsDiff(outputs.tensors.audio.values, pytorchAudio);
      expect(vsTorch, `audio on ${backend} vs PyTorch`).toBeLessThan(CROSS_BACKEND_TOLERANCE);
      report.push(`${backend} [${outputs.info.device}] vs cpu: ${diffs.join(", ")}; audio vs PyTorch ${vsTorch.toExponential(1)}`);
    }
    // the bendings did something (the comparison is not between identical constants)
    expect(maxAbsDiff(reference.tensors.stanley.values, reference.tensors.stanley_bended.values)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(reference.tensors.audio.values, reference.tensors.audio_bended.values)).toBeGreaterThan(1e-3);
    console.log(["cross-backend max |diff|:", ...report, ...skipped.map((s) => `not available: ${s}`)].join("\n  "));
  });
});
