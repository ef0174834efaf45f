// Headroom under control: a stream of a RAVE-like model's `decode` with one activation
// control moved 10 times a second (each change crossfades), at block sizes 2048, 4096 and
// 8192. For each: RTF p50/p95 and dropped blocks as `status` reports them (wall clock: on a
// shared machine this mostly measures waiting), and the process's CPU time per block over
// its block duration (robust to load). Variants: no changes, audible changes (a sine LFO,
// ±50 %), inaudible changes (steps below INAUDIBLE_STEP of the range), and peeks (the
// panel's Activations view: `peek` of the bent node 4 times a second, no control changes).
//   node bench/control-headroom.js [--model <file.ts|folder>] [--seconds 10] [--blocks 2048,4096,8192] [--variants none,audible,inaudible,peek]
// The default model is the RAVE-like TorchScript fixture (test/fixtures/torchscript/rave_like.ts).
import { copyFileSync, cpSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as tb from "tfbend";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const modelPath = arg("model", join(import.meta.dirname, "../test/fixtures/torchscript/rave_like.ts"));
const seconds = Number(arg("seconds", 10));
const blockSizes = arg("blocks", "2048,4096,8192").split(",").map(Number);
const variants = arg("variants", "none,audible,inaudible,peek").split(",");
const CHANGES_PER_SECOND = 10;
const PEEKS_PER_SECOND = 4;

const workspace = mkdtempSync(join(tmpdir(), "tfbend-headroom-"));
const name = basename(modelPath);
if (statSync(modelPath).isDirectory()) cpSync(modelPath, join(workspace, name), { recursive: true });
else copyFileSync(modelPath, join(workspace, name));

async function run(blockSamples, variant) {
  const session = new tb.control.Session({ workspace, modelsDir: join(import.meta.dirname, "../models"), blockSamples });
  const ok = async (atoms) => {
    const reply = await session.execute(atoms);
    if (!reply.ok) throw new Error(`${atoms.join(" ")}: ${reply.values.join(" ")}`);
    return reply;
  };
  await ok(["load", name]);
  if (session.methods().some((m) => m.name === "decode")) await ok(["method", "decode"]);
  // one activation control in the middle of the decoder, as a performer would bend it
  const activations = (await ok(["activations"])).dict.filter((a) => /conv|net/.test(a.name) && !a.shape.startsWith("("));
  const target = activations[Math.floor(activations.length / 2)].name;
  await ok(["bend", target, "Scale", "scale", "@gain=1"]);
  const range = session.requireModel().controls().find((c) => c.name === "gain").range;
  const span = range && Number.isFinite(range[0]) && Number.isFinite(range[1]) ? range[1] - range[0] : 1;
  await ok(["stream", "start"]);
  await new Promise((r) => setTimeout(r, 500)); // warm up
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const blocks0 = Number(session.status().blocks);
  let k = 0;
  const peeks = variant === "peek" ? setInterval(() => void session.execute(["peek", target]), 1000 / PEEKS_PER_SECOND) : null;
  const timer = variant === "none" || variant === "peek" ? null : setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    const value = variant === "audible" ? 1 + 0.5 * Math.sin(2 * Math.PI * 0.5 * t) : 1 + ((k++ % 2) * (tb.control.INAUDIBLE_STEP ?? 0.002) * span) / 2;
    void session.execute(["set", "gain", value]);
  }, 1000 / CHANGES_PER_SECOND);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  if (timer) clearInterval(timer);
  if (peeks) clearInterval(peeks);
  const cpu = process.cpuUsage(cpu0);
  const status = session.status();
  const blocks = Number(status.blocks) - blocks0;
  session.dispose();
  const cpuPerBlock = (cpu.user + cpu.system) / 1000 / Math.max(1, blocks);
  return {
    block: blockSamples, variant, latency_ms: status.latency_ms, blocks, dropped: status.dropped,
    rtf_p50: status.rtf_p50, rtf_p95: status.rtf_p95, cpu_rtf: Number((cpuPerBlock / Number(status.latency_ms)).toFixed(3)),
  };
}

console.log(`model ${name}, ${seconds} s per run, ${CHANGES_PER_SECOND} changes/s, backend ${tb.backend()}`);
console.log("block  variant    latency_ms  blocks  dropped  rtf_p50  rtf_p95  cpu_rtf");
for (const block of blockSizes) {
  for (const variant of variants) {
    const r = await run(block, variant);
    console.log(`${String(r.block).padEnd(6)} ${r.variant.padEnd(10)} ${String(r.latency_ms).padEnd(11)} ${String(r.blocks).padEnd(7)} ${String(r.dropped).padEnd(8)} ${String(r.rtf_p50).padEnd(8)} ${String(r.rtf_p95).padEnd(8)} ${r.cpu_rtf}`);
  }
}
rmSync(workspace, { recursive: true, force: true });
