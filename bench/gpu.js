// GPU benchmark: the same figures on wasm and webgpu, measured side by side in one run.
//   node bench/gpu.js                 runs one child per backend and prints the Markdown table
//   node bench/gpu.js --measure NAME  (child) measures on backend NAME, prints one JSON line
// BENCH_BACKENDS="wasm webgpu" picks the columns (add tensorflow if you installed tfjs-node-gpu);
// BENCH_QUICK=1 takes fewer samples. A backend that does not load is reported, never fatal.
//
// Every timed call ends with `await tensor.data()`: the output back on the CPU, which is what a
// patch receives (and the only read webgpu allows under Node). Variants are interleaved round by
// round so that drift (clocks, other load) hits all of them alike; we report p50 and p95.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const SAMPLE_RATE = 44100;
const FPS = 30; // the image decoder's frame budget: 33.3 ms
const QUICK = process.env.BENCH_QUICK === "1";

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}
const stats = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p95: quantile(s, 0.95), n: s.length };
};

/** Async interleave: each variant `perRound` times per round, `rounds` rounds, after a warmup. */
async function interleave(variants, { rounds = 10, perRound = 5, warmup = 10 } = {}) {
  if (QUICK) rounds = Math.max(2, Math.ceil(rounds / 3));
  for (const fn of Object.values(variants)) for (let i = 0; i < warmup; i++) await fn();
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await fn();
        samples[name].push(performance.now() - t0);
      }
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, stats(s)]));
}

// --- child: measure on one backend ---------------------------------------------------------

async function measure() {
  const tb = await import("tfbend");
  const { tf, zoo, nn } = tb;
  const timed = (fn) => async () => {
    const y = tf.tidy(fn);
    await y.data();
    y.dispose();
  };
  const decoder = async (frames) => {
    const bended = await tb.load(join(root, "models/audio"));
    zoo.setStreaming(bended.module, true);
    return { bended, z: tf.randomNormal([1, zoo.AUDIO_LATENT, frames], 0, 1, "float32", 7) };
  };
  const result = { info: tb.backendInfo(), audio: {}, image: null, overhead: null, recompute: null };

  // audio decoder streaming, blocks of 2048 and 8192 samples, unbended
  for (const block of [2048, 8192]) {
    const { bended, z } = await decoder(block / zoo.AUDIO_RATIO);
    const s = await interleave({ x: timed(() => bended.call("decode", z)) }, { rounds: block > 4096 ? 6 : 10 });
    result.audio[block] = { ...s.x, blockMs: (block / SAMPLE_RATE) * 1000 };
  }

  // image decoder, one frame (1×3×64×64) per call: shipped weights when present, else seeded
  let image;
  if (existsSync(join(root, "models/image/tfbend.json"))) image = await tb.load(join(root, "models/image"));
  else {
    nn.manualSeed(1);
    image = new tb.BendedModule(tb.createModule("image-decoder").eval());
  }
  const zImage = tf.randomNormal([1, image.module.latentDim], 0, 1, "float32", 8);
  const imageStats = await interleave({ x: timed(() => image.forward(zImage)) });
  result.image = { ...imageStats.x, frameMs: 1000 / FPS, weights: existsSync(join(root, "models/image/tfbend.json")) ? "shipped" : "seeded" };

  // bending overhead at block 2048: the plain module against bended passes
  const frames = 2048 / zoo.AUDIO_RATIO;
  const plain = await decoder(frames);
  const unbended = await decoder(frames);
  const weight = await decoder(frames);
  const keep = new tb.BendingParameter("keep", 0.5, { range: [0, 1] });
  weight.bended.bend(new tb.Mask(keep, { seed: 1 }), "net.6.conv.weight");
  const activation = await decoder(frames);
  activation.bended.bend(new tb.Mask(0.5, { dim: -2, seed: 2 }), "net_7_conv1");
  const overhead = await interleave({
    "plain module.call": timed(() => plain.bended.module.call(plain.z)),
    "bended, no bending": timed(() => unbended.bended.call("decode", unbended.z)),
    "bended, weight Mask (cached)": timed(() => weight.bended.call("decode", weight.z)),
    "bended, activation Mask": timed(() => activation.bended.call("decode", activation.z)),
  });
  result.overhead = overhead;

  // weight-bending recompute after a control change: the bent weight ready on the device
  // (read back), and the first block after the change against a steady block
  const recompute = [];
  const firstBlock = [];
  const rounds = QUICK ? 10 : 30;
  for (let i = 0; i < rounds; i++) {
    weight.bended.update("keep", 0.3 + (i % 2) * 0.4);
    let t0 = performance.now();
    await weight.bended.bendedStateDict()["net.6.conv.weight"].data();
    recompute.push(performance.now() - t0);
    weight.bended.update("keep", 0.35 + (i % 2) * 0.4);
    t0 = performance.now();
    await timed(() => weight.bended.call("decode", weight.z))();
    firstBlock.push(performance.now() - t0);
  }
  result.recompute = { recompute: stats(recompute), firstBlock: stats(firstBlock), steady: overhead["bended, weight Mask (cached)"] };
  console.log(JSON.stringify(result));
  process.exit(0); // a Dawn device can keep the event loop alive
}

// --- parent: one child per backend, then the table ------------------------------------------

function runBackend(backend) {
  const env = { ...process.env, TFBEND_BACKEND: backend };
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--measure", backend], {
    cwd: root, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024,
  });
  const unavailable = child.stderr.match(/backend '\w+' could not be loaded on this machine: (.+)/);
  if (child.status !== 0) {
    if (unavailable) return { backend, unavailable: unavailable[1] };
    return { backend, failed: child.stderr.trim().split("\n").slice(-12).join("\n") };
  }
  const line = child.stdout.trim().split("\n").at(-1);
  return { backend, ...JSON.parse(line) };
}

const f2 = (x) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
const rtf = (s, budget) => `${(s.p50 / budget).toFixed(3)} / ${(s.p95 / budget).toFixed(3)}`;

function printTable(results) {
  const ok = results.filter((r) => r.info);
  const cols = results.map((r) => r.backend);
  const cell = (r, fn) => (r.info ? fn(r) : "n/a");
  const row = (label, fn) => console.log(`| ${label} | ${results.map((r) => cell(r, fn)).join(" | ")} |`);
  console.log(`\n## tfbend GPU benchmark (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? "CPU"})\n`);
  console.log(`| measure | ${cols.join(" | ")} |`);
  console.log(`|---|${cols.map(() => "---:").join("|")}|`);
  row("device", (r) => r.info.device);
  for (const block of [2048, 8192]) {
    const ms = ((block / SAMPLE_RATE) * 1000).toFixed(1);
    row(`audio decoder, block ${block} (${ms} ms): RTF p50 / p95`, (r) => rtf(r.audio[block], r.audio[block].blockMs));
    row(`audio decoder, block ${block}: ms p50 / p95`, (r) => `${f2(r.audio[block].p50)} / ${f2(r.audio[block].p95)}`);
  }
  row(`image decoder, 1 frame 3×64×64: RTF p50 / p95 (at ${FPS} fps)`, (r) => rtf(r.image, r.image.frameMs));
  row("image decoder, 1 frame: ms p50 / p95", (r) => `${f2(r.image.p50)} / ${f2(r.image.p95)}`);
  for (const variant of ["bended, no bending", "bended, weight Mask (cached)", "bended, activation Mask"]) {
    row(`bending overhead, audio block 2048, ${variant}: p50 vs plain module.call`, (r) => {
      const base = r.overhead["plain module.call"].p50;
      return `${((r.overhead[variant].p50 / base - 1) * 100).toFixed(1)}% (${f2(r.overhead[variant].p50)} ms)`;
    });
  }
  row("plain module.call, audio block 2048: ms p50", (r) => f2(r.overhead["plain module.call"].p50));
  row("weight-bending recompute after a control change: ms p50 / p95", (r) => `${f2(r.recompute.recompute.p50)} / ${f2(r.recompute.recompute.p95)}`);
  row("first block after a control change vs steady: ms p50", (r) => `${f2(r.recompute.firstBlock.p50)} vs ${f2(r.recompute.steady.p50)}`);
  console.log("");
  if (ok.some((r) => r.image.weights === "seeded")) console.log("Image decoder: models/image has no weights yet, seeded initial weights (same cost).");
  for (const r of results) {
    if (r.unavailable) console.log(`${r.backend}: NOT AVAILABLE on this machine, ${r.unavailable}. Its column is n/a.`);
    if (r.failed) console.log(`${r.backend}: FAILED while measuring:\n${r.failed}`);
  }
  return results.every((r) => !r.failed);
}

if (process.argv[2] === "--measure") {
  await measure();
} else {
  const backends = (process.env.BENCH_BACKENDS ?? "wasm webgpu").split(/[\s,]+/).filter(Boolean);
  const results = [];
  for (const backend of backends) {
    process.stderr.write(`measuring on ${backend}...\n`);
    results.push(runBackend(backend));
  }
  process.exitCode = printTable(results) ? 0 : 1;
}
