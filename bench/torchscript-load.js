// Load time of a RAVE-v2-sized TorchScript file (~150 MB): the archive reader alone and, where
// tb.load opens .ts files, the full load. The file is generated at run time by
// bench/make_large_torchscript.py (needs Debian's python3-torch); BENCH_TS_FILE reuses one.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const PYTHON = "/usr/bin/python3";
const ROUNDS = Number(process.env.BENCH_TS_ROUNDS ?? 7);

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function runTorchScriptLoad() {
  let file = process.env.BENCH_TS_FILE;
  let scratch;
  if (!file) {
    if (spawnSync(PYTHON, ["-c", "import torch"]).status !== 0) {
      return { skipped: `${PYTHON} with torch is not available; skipping the TorchScript load benchmark` };
    }
    scratch = mkdtempSync(join(tmpdir(), "tfbend-ts-load-"));
    file = join(scratch, "large.ts");
    const made = spawnSync(PYTHON, [new URL("./make_large_torchscript.py", import.meta.url).pathname, file], { encoding: "utf8" });
    if (made.status !== 0) return { skipped: `make_large_torchscript.py failed: ${made.stderr.slice(-500)}` };
  }
  try {
    const megabytes = statSync(file).size / 1e6;
    const read = [];
    for (let i = 0; i < ROUNDS; i++) read.push(await timed(() => tb.torchscript.readTorchScriptArchive(file)));
    read.sort((a, b) => a - b);
    // The full load exists once the interpreter has landed; until then tb.load refuses .ts files.
    let full = null;
    let fullNote = "";
    try {
      const samples = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = performance.now();
        const bended = await tb.load(file);
        samples.push(performance.now() - t0);
        bended.module?.dispose?.();
      }
      full = samples.sort((a, b) => a - b);
    } catch (err) {
      fullNote = `not available: ${err.message.split("\n")[0]}`;
    }
    return { megabytes, read, full, fullNote };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

export function printTorchScriptLoad(r) {
  console.log("\n## TorchScript load (a RAVE-v2-sized file)");
  if (r.skipped) {
    console.log(r.skipped);
    return;
  }
  console.log(`${r.megabytes.toFixed(1)} MB file, ${r.read.length} loads each`);
  console.log("| step | p50 ms | p95 ms |");
  console.log("|---|---:|---:|");
  console.log(`| readTorchScriptArchive | ${fmt(quantile(r.read, 0.5))} | ${fmt(quantile(r.read, 0.95))} |`);
  if (r.full) console.log(`| tb.load (read + build module) | ${fmt(quantile(r.full, 0.5))} | ${fmt(quantile(r.full, 0.95))} |`);
  else console.log(`\ntb.load of .ts: ${r.fullNote}`);
}

if (import.meta.url === `file://${process.argv[1]}`) printTorchScriptLoad(await runTorchScriptLoad());
