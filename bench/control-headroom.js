// Headroom under control, on a RAVE-v2-sized model: the 17.8 M-parameter decoder of
// bench/rave.js scripted by PyTorch and saved as an nn~-style TorchScript export (generated at
// run time by bench/rave_decoder.py --export --nn-tilde; random weights), loaded by a session
// and streamed with `method decode`, one activation control bent in the middle of the decoder.
//
// 1. Headroom at 2048 samples per block, on each engine (native, wasm): no changes, and the
//    control moved 10 times a second (audible steps: a sine LFO, ±50 %; each change crossfades).
//    Dropped blocks and RTF p50/p95 as `status` reports them (its RTF window holds the last
//    1024 blocks), the process's CPU time per block over the block's duration (robust to
//    load), and model passes per block (a change that rendered the block twice shows here).
// 2. RTF and latency per block size (2048, 4096, 8192 by default), with the control moving,
//    for the README's block-size section.
//
//   node bench/control-headroom.js [--seconds 60] [--table-seconds 20] [--engines native,wasm]
//     [--variants none,audible] [--blocks 2048,4096,8192] [--model <file.ts|folder>]
// Other variants: inaudible (steps below INAUDIBLE_STEP of the range), peek (the panel's
// Activations view: `peek` of the bent node 4 times a second). Without PyTorch (/usr/bin/python3
// with torch) the RAVE-like fixture (test/fixtures/torchscript/rave_like.ts) is measured instead,
// and the output says so. Wall-clock figures: run it on an idle machine.
import { copyFileSync, cpSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as tb from "tfbend";
import { writeRaveExport } from "./rave.js";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const seconds = Number(arg("seconds", 60));
const tableSeconds = Number(arg("table-seconds", 20));
const blockSizes = arg("blocks", "2048,4096,8192").split(",").map(Number);
const variants = arg("variants", "none,audible").split(",");
const engines = arg("engines", "native,wasm").split(",").filter((e) => e !== "native" || tb.native.nativeUnavailableReason() === null);
const CHANGES_PER_SECOND = 10;
const PEEKS_PER_SECOND = 4;
const HEADROOM_BLOCK = 2048;
const FIXTURE = join(import.meta.dirname, "../test/fixtures/torchscript/rave_like.ts");

const workspace = mkdtempSync(join(tmpdir(), "tfbend-headroom-"));

/** The model file in the workspace: --model, else the RAVE-v2-sized export, else the fixture (with why). */
function prepareModel() {
  const given = arg("model", null);
  if (given !== null) {
    const name = basename(given);
    if (statSync(given).isDirectory()) cpSync(given, join(workspace, name), { recursive: true });
    else copyFileSync(given, join(workspace, name));
    return { name, note: `model ${name}` };
  }
  const why = writeRaveExport(join(workspace, "rave_v2.ts"));
  if (why === null) return { name: "rave_v2.ts", note: "RAVE-v2-sized decoder (bench/rave_decoder.py, random weights, scripted by PyTorch), method decode" };
  copyFileSync(FIXTURE, join(workspace, "rave_like.ts"));
  return { name: "rave_like.ts", note: `NOT RAVE-v2-sized: the RAVE-like fixture (no PyTorch export: ${why})` };
}

/** Counts model passes: tfjs calls of the method and native session runs. */
const passes = { n: 0 };
const runData = tb.native.CompiledMethod.prototype.runData;
tb.native.CompiledMethod.prototype.runData = function (inputs) {
  passes.n++;
  return runData.call(this, inputs);
};

async function openSession(model, engine, blockSamples) {
  const session = new tb.control.Session({ workspace, modelsDir: join(import.meta.dirname, "../models"), blockSamples, engine });
  const ok = async (atoms) => {
    const reply = await session.execute(atoms);
    if (!reply.ok) throw new Error(`${atoms.join(" ")}: ${reply.values.join(" ")}`);
    return reply;
  };
  await ok(["load", model]);
  if (session.methods().some((m) => m.name === "decode")) await ok(["method", "decode"]);
  // one activation control in the middle of the decoder, as a performer would bend it
  const activations = (await ok(["activations"])).dict.filter((a) => /conv|net/.test(a.name) && !a.shape.startsWith("("));
  const target = activations[Math.floor(activations.length / 2)].name;
  await ok(["bend", target, "Scale", "scale", "@gain=1"]);
  const bended = session.requireModel();
  for (const name of ["call", "callCapturing"]) {
    const original = bended[name].bind(bended);
    bended[name] = (...args) => {
      passes.n++;
      return original(...args);
    };
  }
  const range = bended.controls().find((c) => c.name === "gain").range;
  const span = range && Number.isFinite(range[0]) && Number.isFinite(range[1]) ? range[1] - range[0] : 1;
  return { session, target, span };
}

/** One stream of `duration` s: `variant` moves the control (or peeks); figures from `status` after a warm-up (a restart resets them). */
async function measure({ session, target, span }, variant, duration) {
  session.startStream();
  await new Promise((r) => setTimeout(r, 2000)); // warm-up (the native engine's first compile)
  session.stopStream();
  session.startStream();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  passes.n = 0;
  let k = 0;
  const peeks = variant === "peek" ? setInterval(() => void session.execute(["peek", target]), 1000 / PEEKS_PER_SECOND) : null;
  const timer = variant === "none" || variant === "peek" ? null : setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    const value = variant === "audible" ? 1 + 0.5 * Math.sin(2 * Math.PI * 0.5 * t) : 1 + ((k++ % 2) * tb.control.INAUDIBLE_STEP * span) / 2;
    void session.execute(["set", "gain", value]);
  }, 1000 / CHANGES_PER_SECOND);
  await new Promise((r) => setTimeout(r, duration * 1000));
  if (timer) clearInterval(timer);
  if (peeks) clearInterval(peeks);
  const cpu = process.cpuUsage(cpu0);
  const status = session.status();
  const blocks = Number(status.blocks);
  const modelPasses = passes.n;
  session.stopStream();
  const cpuPerBlock = (cpu.user + cpu.system) / 1000 / Math.max(1, blocks);
  return {
    variant, latency_ms: status.latency_ms, blocks, dropped: status.dropped, rtf_p50: status.rtf_p50, rtf_p95: status.rtf_p95,
    cpu_rtf: Number((cpuPerBlock / Number(status.latency_ms)).toFixed(3)), passes: Number((modelPasses / Math.max(1, blocks)).toFixed(2)),
  };
}

const row = (cells, widths) => cells.map((c, i) => String(c).padEnd(widths[i])).join(" ");
const model = prepareModel();
console.log(`${model.note}; backend ${tb.backend()}; engines ${engines.join(", ")}; ${CHANGES_PER_SECOND} changes/s`);

console.log(`\nHeadroom at ${HEADROOM_BLOCK} samples per block, ${seconds} s per run`);
const W1 = [7, 9, 8, 8, 8, 8, 8, 14];
console.log(row(["engine", "variant", "blocks", "dropped", "rtf_p50", "rtf_p95", "cpu_rtf", "passes/block"], W1));
for (const engine of engines) {
  const opened = await openSession(model.name, engine, HEADROOM_BLOCK);
  console.log(`  (${engine}: control on ${opened.target})`);
  for (const variant of variants) {
    const r = await measure(opened, variant, seconds);
    console.log(row([engine, r.variant, r.blocks, r.dropped, r.rtf_p50, r.rtf_p95, r.cpu_rtf, r.passes], W1));
  }
  opened.session.dispose();
}

console.log(`\nBlock size: RTF and latency with the control moving (${tableSeconds} s per run)`);
const W2 = [7, 7, 11, 8, 8, 8, 8];
console.log(row(["engine", "block", "latency_ms", "rtf_p50", "rtf_p95", "dropped", "cpu_rtf"], W2));
for (const engine of engines) {
  for (const block of blockSizes) {
    const opened = await openSession(model.name, engine, block);
    const r = await measure(opened, "audible", tableSeconds);
    console.log(row([engine, block, r.latency_ms, r.rtf_p50, r.rtf_p95, r.dropped, r.cpu_rtf], W2));
    opened.session.dispose();
  }
}
tb.native.CompiledMethod.prototype.runData = runData;
rmSync(workspace, { recursive: true, force: true });
