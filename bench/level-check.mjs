// Measures the default stream's level as a user would: `render` of the shipped audio model's
// default walk (through the safety stage, as rendered files are) over 30 s and 60 s, and the
// same blocks before the limiter. Run: node bench/level-check.mjs
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tb from "tfbend";

function wavRms(path) {
  const buf = readFileSync(path);
  let off = 12, data = null, fmt = 0;
  while (off < buf.length) {
    const id = buf.toString("ascii", off, off + 4), size = buf.readUInt32LE(off + 4);
    if (id === "fmt ") fmt = buf.readUInt16LE(off + 8);
    if (id === "data") data = buf.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size & 1);
  }
  const n = data.length / 4;
  let sum = 0;
  for (let i = 0; i < n; i++) { const v = fmt === 3 || fmt === 0xfffe ? data.readFloatLE(i * 4) : data.readInt32LE(i * 4) / 2 ** 31; sum += v * v; }
  return 10 * Math.log10(sum / n);
}

const workspace = mkdtempSync(join(tmpdir(), "tfbend-level-"));
for (const safety of [true, false]) {
  const session = new tb.control.Session({ modelsDir: join(import.meta.dirname, "../models"), workspace, safety });
  await session.loadModel("audio");
  for (const seconds of [30, 60]) {
    const path = await session.render(`level-${seconds}.wav`, seconds);
    console.log(`render ${seconds} s (${safety ? "with" : "without"} the safety stage): ${wavRms(path).toFixed(1)} dBFS RMS`);
  }
  session.dispose();
}
rmSync(workspace, { recursive: true, force: true });
