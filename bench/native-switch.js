// node bench/native-switch.js [--switches N]: how long a version switch takes to be heard on
// the native engine. The shipped audio model's `decode` streams (2048-sample blocks, one
// weight bending under a control) in a session on the native engine; versions 'default' and
// 'quiet' alternate. Each switch recompiles the method in the background while the old
// session plays; it is heard at the block where the new session takes over (status's
// engine_compiles goes up). Reports command → heard (ms and blocks), compile ms, late blocks,
// and RSS and tensors over the run (old sessions must be released).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const { control, tf } = tb;
const { values: opts } = parseArgs({ options: { switches: { type: "string", default: "200" } } });
const SWITCHES = Number(opts.switches);
if (!(SWITCHES > 0)) throw new Error("--switches N, N > 0");

const session = new control.Session({
  modelsDir: new URL("../models", import.meta.url).pathname,
  workspace: mkdtempSync(join(tmpdir(), "tfbend-switch-")),
  engine: "native",
});
for (const atoms of [
  ["load", "audio"], ["method", "decode"],
  ["bend", "net.3.conv1.weight", "scale", "scale", 0.25], ["write", "quiet"], ["version", "default"],
  ["bend", "net.2.conv.weight", "scale", "scale", "@gain=1.2"],
]) {
  const reply = await session.execute(atoms);
  if (!reply.ok) throw new Error(`${atoms.join(" ")}: ${reply.values[0]}`);
}
let waiting = null;
session.onBlock(() => waiting?.());
session.onError((reply) => {
  throw new Error(`stream failed: ${reply.values[0]}`);
});
const nextBlock = () => new Promise((resolve) => (waiting = resolve));
session.startStream();
for (let i = 0; i < 10; i++) await nextBlock(); // the first compile and a steady stream

const heardMs = [];
const heardBlocks = [];
const compileMs = [];
const samples = [];
const rss = () => process.memoryUsage().rss / 2 ** 20;
const t0 = performance.now();
const tensors0 = tf.memory().numTensors;
for (let i = 0; i < SWITCHES; i++) {
  const before = Number(session.status().engine_compiles);
  const sent = performance.now();
  const reply = await session.execute(["version", i % 2 === 0 ? "quiet" : "default"]);
  if (!reply.ok) throw new Error(String(reply.values[0]));
  let blocks = 0;
  for (;;) {
    await nextBlock();
    blocks++;
    if (Number(session.status().engine_compiles) > before) break;
    if (blocks > 1000) throw new Error("a switch was never heard");
  }
  heardMs.push(performance.now() - sent);
  heardBlocks.push(blocks);
  compileMs.push(Number(session.status().engine_compile_ms));
  if (i % 25 === 0 || i === SWITCHES - 1) samples.push([(performance.now() - t0) / 60_000, rss(), tf.memory().numTensors]);
}
const status = session.status();
session.dispose();

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const q = (xs, p) => quantile(sorted(xs), p) ?? 0;
function slope(points) {
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / den;
}
const later = samples.filter((_, i) => i >= samples.length / 4);
console.log(`## Version switches on the native engine (${tb.backendInfo().native}; shipped audio model, decode, 2048-sample blocks = ${session.blockMs?.toFixed?.(1) ?? "46.4"} ms)`);
console.log(`${SWITCHES} switches in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log("| measured | p50 | p95 | max |");
console.log("|---|---:|---:|---:|");
console.log(`| command → heard, ms | ${fmt(q(heardMs, 0.5))} | ${fmt(q(heardMs, 0.95))} | ${fmt(Math.max(...heardMs))} |`);
console.log(`| command → heard, blocks | ${q(heardBlocks, 0.5)} | ${q(heardBlocks, 0.95)} | ${Math.max(...heardBlocks)} |`);
console.log(`| compile, ms | ${fmt(q(compileMs, 0.5))} | ${fmt(q(compileMs, 0.95))} | ${fmt(Math.max(...compileMs))} |`);
console.log(`late blocks ${status.dropped} of ${status.blocks}; rtf p50 ${status.rtf_p50} p95 ${status.rtf_p95}`);
console.log(`RSS ${samples[0][1].toFixed(0)} → ${samples.at(-1)[1].toFixed(0)} MB (slope over the last three quarters ${slope(later).toFixed(2)} MB/min); tensors ${tensors0} → ${samples.at(-1)[2]}`);
