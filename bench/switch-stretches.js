// node bench/switch-stretches.js [--engine native|wasm] [--switches N]: how long a model
// switch mid-stream holds the inference thread at a stretch. A session streams the shipped
// `audio` (decode, with the soak's bending) and `load`s alternately the RAVE-like
// TorchScript fixture (decode) and `audio`, 1.5 s apart. For each switch: the load's reply
// time, the longest stretch the thread was held during it (the event loop's largest delay),
// against the lead the stream renders ahead during a load (4 blocks: a stretch longer than
// that makes a block late), and late blocks (the stream's count, sampled every 10 ms; the
// count starts again with each model). The first switch runs the new model's code paths
// for the first time in the process (the slowest).
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as tb from "tfbend";
import { lateBlockCounter } from "./util.js";

const { values: opts } = parseArgs({ options: { engine: { type: "string", default: "native" }, switches: { type: "string", default: "6" } } });
const SWITCHES = Number(opts.switches);
if (!(SWITCHES > 0)) throw new Error("--switches N, N > 0");
const LEAD_BLOCKS = 4; // session.ts LOAD_LEAD_BLOCKS
const workspace = mkdtempSync(join(tmpdir(), "tfbend-switch-stretches-"));
copyFileSync(new URL("../test/fixtures/torchscript/rave_like.ts", import.meta.url).pathname, join(workspace, "rave_like.ts"));
const session = new tb.control.Session({ workspace, modelsDir: new URL("../models", import.meta.url).pathname, engine: opts.engine });
const run = async (...atoms) => {
  const reply = await session.execute(atoms);
  if (!reply.ok) throw new Error(`${atoms.join(" ")}: ${reply.values[0]}`);
};
await run("load", "audio");
await run("bend", "net_7_conv1", "mask", "prob", "@keep=0.5", "dim", -2);
session.onError((reply) => {
  throw new Error(`stream failed: ${reply.values[0]}`);
});
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const lateBlocks = lateBlockCounter(session);
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

await run("stream", "start");
await pause(1500);
const leadMs = LEAD_BLOCKS * session.blockMs;
console.log(`engine ${session.status().engine}; lead during a load ${leadMs.toFixed(0)} ms (${LEAD_BLOCKS} blocks of ${session.blockMs.toFixed(1)} ms)`);
console.log("| switch | to | load ms | longest stretch ms: during the load | in the 1.5 s after | late blocks |");
console.log("|---:|---|---:|---:|---:|---:|");
const longest = [];
for (let i = 0; i < SWITCHES; i++) {
  const to = i % 2 === 0 ? ["rave_like.ts", "decode"] : ["audio"];
  const lateBefore = lateBlocks.count();
  delay.reset();
  const t = performance.now();
  await run("load", ...to);
  const ms = performance.now() - t;
  const during = delay.max / 1e6;
  delay.reset();
  await pause(1500);
  const after = delay.max / 1e6;
  longest.push(during, after);
  console.log(`| ${i + 1} | ${to[0]} | ${ms.toFixed(0)} | ${during.toFixed(0)} | ${after.toFixed(0)} | ${lateBlocks.count() - lateBefore} |`);
}
lateBlocks.stop();
delay.disable();
console.log(`longest stretch over all switches ${Math.max(...longest).toFixed(0)} ms (lead ${leadMs.toFixed(0)} ms); late blocks ${lateBlocks.count()}`);
session.dispose();
process.exit(0);
