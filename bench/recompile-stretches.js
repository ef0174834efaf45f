// node bench/recompile-stretches.js [--engine native|wasm] [--changes N]: structural changes to a
// RAVE-sized model while it streams. The RAVE-v2-sized decoder, exported by PyTorch as an nn~ `.ts`
// at run time (bench/rave_decoder.py --nn-tilde), streams `decode` at 2048-sample blocks in a
// session; every 2 s a `bend` or `unbend` changes the graph, which the native engine recompiles in
// the background (trace, lowering and ONNX Runtime's load of the session each hold the thread at
// a stretch) while the old session plays. Reports the longest stretch the thread was held, the
// recompiles, and late blocks (the stream's count, sampled every 10 ms). Needs /usr/bin/python3
// with torch; writes only to a temporary folder.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as tb from "tfbend";
import { writeRaveExport } from "./rave.js";
import { lateBlockCounter } from "./util.js";

const { values: opts } = parseArgs({ options: { engine: { type: "string", default: "native" }, changes: { type: "string", default: "30" } } });
const CHANGES = Number(opts.changes);
if (!(CHANGES > 0)) throw new Error("--changes N, N > 0");
const workspace = mkdtempSync(join(tmpdir(), "tfbend-recompile-"));
const problem = writeRaveExport(join(workspace, "rave_v2.ts"));
if (problem) {
  console.log(`not measured: the RAVE-sized export needs PyTorch (${problem})`);
  process.exit(0);
}
const session = new tb.control.Session({ workspace, modelsDir: new URL("../models", import.meta.url).pathname, engine: opts.engine });
const run = async (...atoms) => {
  const reply = await session.execute(atoms);
  if (!reply.ok) throw new Error(`${atoms.join(" ")}: ${reply.values[0]}`);
};
session.onError((reply) => {
  throw new Error(`stream failed: ${reply.values[0]}`);
});
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
await run("load", "rave_v2.ts", "decode");

const lateBlocks = lateBlockCounter(session);
const delay = monitorEventLoopDelay({ resolution: 1 });

await run("stream", "start");
await pause(4000); // the first compile and the stream settling
const lateBefore = lateBlocks.count();
delay.enable();
const blocksBefore = Number(session.status().blocks);
for (let i = 0; i < CHANGES; i++) {
  if (i % 2 === 0) await run("bend", "decoder_net_10_conv1", "scale", "scale", 0.5);
  else await run("unbend", "decoder_net_10_conv1");
  await pause(2000);
}
delay.disable();
lateBlocks.stop();
const status = session.status();
const cpu = spawnSync("lscpu", { encoding: "utf8" }).stdout?.match(/Model name:\s*(.+)/)?.[1]?.trim() ?? "unknown CPU";
console.log(`CPU ${cpu}; engine ${status.method_engine}; ${CHANGES} bend/unbend 2 s apart, 2048-sample blocks (${session.blockMs.toFixed(1)} ms)`);
console.log(`blocks ${Number(status.blocks) - blocksBefore}, late ${lateBlocks.count() - lateBefore}; recompiles ${status.engine_compiles}, last compile ${status.engine_compile_ms} ms; longest stretch the thread was held ${(delay.max / 1e6).toFixed(0)} ms; RTF p95 ${status.rtf_p95}`);
session.dispose();
process.exit(0);
