// The native engine (ONNX Runtime's CPU kernels, src/native) against tfbend on wasm and PyTorch,
// side by side in one run, one thread each: the RAVE-v2-sized decoder of bench/rave.js streaming
// at 1 and 8 frames (2048 / 16384 samples), unbent and with three activation bendings and one
// weight bending moving under controls every block; the small 4×conv1d net of bench/core.js
// against raw tfjs; and the decoder's compile time.
import * as tb from "tfbend";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CachedConvTranspose1d, HOP, RAVE, RaveDecoder, interpretedDecoder, printRaveTable, setRaveStreaming } from "./rave.js";
import { ConvStack } from "./core.js";
import { CLOCK, fmt, interleave, quantile } from "./util.js";

const { tf, native } = tb;
const { onnxOps } = native;

/** The bench decoder's streamed transposed conv: its past input frames are a state of the session. */
native.registerModuleLowering(CachedConvTranspose1d, (ctx, m, [x]) => {
  const keep = m.taps - 1;
  const shape = [x.shape[0], x.shape[1], keep];
  const past = m.streaming
    ? ctx.readState(ctx.node.target, shape)
    : { name: ctx.builder.floatConstant("zeros", new Float32Array(shape[0] * shape[1] * keep), shape), shape };
  const input = onnxOps.concat(ctx.builder, [past, x], 2);
  if (m.streaming) ctx.writeState(ctx.node.target, onnxOps.narrow(ctx.builder, input, 2, input.shape[2] - keep, keep));
  const bias = m.bias === null ? null : ctx.weight(`${ctx.node.target}.bias`);
  return onnxOps.convTranspose(ctx.builder, input, ctx.weight(`${ctx.node.target}.weight`), bias, { stride: m.stride, padding: m.padding }, onnxOps.nodeShape(ctx.node));
});

const PY_SCRIPT = fileURLToPath(new URL("./rave_decoder.py", import.meta.url));

function pytorch(frameCounts, rounds) {
  const run = spawnSync("/usr/bin/python3", [PY_SCRIPT, "--frames", frameCounts.join(","), "--rounds", String(rounds)], { encoding: "utf8" });
  if (run.status !== 0) return { error: (run.stderr || run.error?.message || "failed").trim().split("\n").at(-1) };
  return JSON.parse(run.stdout.trim().split("\n").at(-1));
}

/** Three activation bendings and one weight bending, each under a control moved every block. */
function bendDecoder(bended) {
  const controls = [
    bended.controlFor("bench_gain", 1, { range: [0, 2] }),
    bended.controlFor("bench_keep", 0.9, { range: [0, 1] }),
    bended.controlFor("bench_offset", 0, { range: [-1, 1] }),
    bended.controlFor("bench_weight", 1, { range: [0, 2] }),
  ];
  bended.bend(new tb.Scale(controls[0]), "net_5_conv2");
  bended.bend(new tb.Mask(controls[1], { dim: 1 }), "net_10_conv1");
  bended.bend(new tb.Bias(controls[2]), "net_15_conv2");
  bended.bend(new tb.Scale(controls[3]), "net\\.9\\.conv2\\.weight");
  let step = 0;
  return () => {
    step++;
    const t = (step % 16) / 16;
    controls[0].value = 0.5 + t;
    controls[1].value = 0.7 + 0.3 * t;
    controls[2].value = 0.1 * t;
    controls[3].value = 0.9 + 0.2 * t;
  };
}

async function raveRows(frameCounts, rounds) {
  const module = new RaveDecoder().eval();
  setRaveStreaming(module, true);
  const plain = new tb.BendedModule(module);
  const bent = new tb.BendedModule(module);
  // the same decoder scripted by PyTorch (torch.jit.save), read by tfbend's TorchScript interpreter
  const script = await interpretedDecoder();
  const results = [];
  const compileTimes = [];
  for (const frames of frameCounts) {
    const shape = [1, RAVE.latent, frames];
    const z = tf.randomNormal(shape);
    const zData = z.dataSync();
    bent.trace([z]);
    const move = bendDecoder(bent);
    const nativePlain = await native.compileMethod(plain, "forward", [shape]);
    const nativeBent = await native.compileMethod(bent, "forward", [shape]);
    compileTimes.push(nativePlain.compileMs, nativeBent.compileMs);
    const nativeScript = script.bended === undefined ? null : await native.compileMethod(script.bended, "forward", [shape]);
    const scripted = nativeScript === null ? {} : {
      "TorchScript file on wasm (interpreted)": () => tf.tidy(() => {
        script.module.forward(z).dataSync();
      }),
      "TorchScript file, native": () => {
        nativeScript.runData([zData]);
      },
    };
    const samples = interleave({
      ...scripted,
      "tfbend on wasm (no bending)": () => tf.tidy(() => {
        plain.forward(z).dataSync();
      }),
      "tfbend native (no bending)": () => {
        nativePlain.runData([zData]);
      },
      "tfbend native, 3 activation + 1 weight bendings moving": () => {
        move();
        nativeBent.runData([zData]);
      },
    }, { rounds, perRound: frames === 1 ? 5 : 2, warmup: 3 });
    results.push({ frames, samples });
    nativePlain.dispose();
    nativeBent.dispose();
    nativeScript?.dispose();
    bent.reset();
    z.dispose();
  }
  // compile time of the decoder (trace + ONNX + session), a few more times
  for (let i = 0; i < 3; i++) (await native.compileMethod(plain, "forward", [[1, RAVE.latent, 1]]).then((c) => (compileTimes.push(c.compileMs), c))).dispose();
  compileTimes.sort((a, b) => a - b);
  setRaveStreaming(module, false);
  const parameters = module.parameters().reduce((n, p) => n + p.data.size, 0);
  plain.dispose();
  bent.dispose();
  module.dispose();
  script.bended?.dispose();
  return { results, compile: { p50: quantile(compileTimes, 0.5), n: compileTimes.length }, parameters, scriptError: script.error };
}

/** The bendings bench/core.js measures on wasm (each apart, as there), and an activation Mask under a control moved every run. */
const SMALL_BENT = {
  "tfbend native, weight Mask (as bench/core.js)": (b) => b.bend(new tb.Mask(0.5), "layers.1.weight"),
  "tfbend native, activation Mask (as bench/core.js)": (b) => b.bend(new tb.Mask(0.5), "act_1"),
  "tfbend native, activation Mask moving + weight Mask": (b, keep) => {
    b.bend(new tb.Mask(keep), "act_1");
    b.bend(new tb.Mask(0.5), "layers.1.weight");
  },
};

async function smallNet(rounds) {
  const module = new ConvStack().eval();
  const x = tf.randomNormal([1, 1, 8192]);
  const xData = x.dataSync();
  const plain = new tb.BendedModule(module);
  const keep = new tb.BendingParameter("small_keep", 0.5);
  const nativePlain = await native.compileMethod(plain, "forward", [x.shape]);
  const bent = [];
  for (const [name, bend] of Object.entries(SMALL_BENT)) {
    const b = new tb.BendedModule(module);
    b.trace({ x });
    bend(b, keep);
    bent.push([name, b, await native.compileMethod(b, "forward", [x.shape])]);
  }
  const rawInput = tf.randomNormal([1, 8192, 32]);
  const rawFilter = tf.randomNormal([7, 32, 32]);
  let i = 0;
  const variants = {
    "raw tfjs wasm channels-last (reference)": () => tf.tidy(() => {
      let h = rawInput;
      for (let l = 0; l < 4; l++) h = tf.leakyRelu(tf.conv1d(h, rawFilter, 1, "same"), 0.2);
      h.dataSync();
    }),
    "tfbend on wasm (no bending)": () => tf.tidy(() => {
      plain.forward(x).dataSync();
    }),
    "tfbend native (no bending)": () => {
      nativePlain.runData([xData]);
    },
    ...Object.fromEntries(bent.map(([name, , compiled]) => [name, () => {
      keep.value = 0.3 + 0.1 * (i++ % 5);
      compiled.runData([xData]);
    }])),
  };
  // Each round's median over its own unbent median: a bending's cost of a few percent is below
  // this machine's drift from round to round, which the pairing cancels.
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const overhead = Object.fromEntries(bent.map(([name]) => [name, []]));
  for (let r = 0; r < rounds * 3; r++) {
    const round = interleave(variants, { rounds: 1, perRound: 5, warmup: r === 0 ? 5 : 1 });
    for (const [name, xs] of Object.entries(round)) samples[name].push(...xs);
    const base = quantile(round["tfbend native (no bending)"], 0.5);
    for (const [name] of bent) overhead[name].push(quantile(round[name], 0.5) / base);
  }
  for (const xs of [...Object.values(samples), ...Object.values(overhead)]) xs.sort((a, b) => a - b);
  nativePlain.dispose();
  for (const [, b, compiled] of bent) {
    compiled.dispose();
    b.dispose();
  }
  tf.dispose([x, rawInput, rawFilter]);
  plain.dispose();
  return { samples, overhead };
}

export async function runNative({ frameCounts = [1, 8], rounds = 20 } = {}) {
  if (!native.nativeAvailable()) return { error: native.nativeUnavailableReason() };
  const rave = await raveRows(frameCounts, rounds);
  const torch = pytorch(frameCounts, rounds * 5);
  const small = await smallNet(rounds);
  const cpu = spawnSync("lscpu", { encoding: "utf8" }).stdout?.match(/Model name:\s*(.+)/)?.[1]?.trim() ?? "unknown CPU";
  return { cpu, backend: tb.backendInfo(), rave, torch, small };
}

export function printNative(r) {
  console.log("\n## Native engine (ONNX Runtime CPU, 1 thread) vs wasm vs PyTorch");
  if (r.error !== undefined) {
    console.log(`not measured: ${r.error}`);
    return;
  }
  console.log(`CPU: ${r.cpu}; wasm backend: ${r.backend.name}; ${CLOCK} clock; RAVE-v2-sized decoder ${(r.rave.parameters / 1e6).toFixed(1)} M parameters`);
  printRaveTable(r.rave.results, r.torch);
  if (r.rave.scriptError !== undefined) console.log(`\nTorchScript file not measured: ${r.rave.scriptError}`);
  console.log(`\nCompile (trace + ONNX + session) of the decoder: p50 ${fmt(r.rave.compile.p50)} ms over ${r.rave.compile.n}`);
  const base = quantile(r.small.samples["raw tfjs wasm channels-last (reference)"], 0.5);
  console.log("\n| 4×Conv1d 32ch k7, 1×1×8192 | p50 ms | p95 ms | p50 / raw tfjs | / unbent native (median of per-round ratios) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, s] of Object.entries(r.small.samples)) {
    const overhead = r.small.overhead[name];
    console.log(`| ${name} | ${fmt(quantile(s, 0.5))} | ${fmt(quantile(s, 0.95))} | ${(quantile(s, 0.5) / base).toFixed(3)} | ${overhead ? quantile(overhead, 0.5).toFixed(3) : ""} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printNative(await runNative());
