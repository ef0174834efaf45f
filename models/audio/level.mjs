// Measures the shipped audio model's first sound, the default latent walk, as it plays:
// through the safety stage (its DC blocker removes the decoder's offset and sub-35 Hz
// content, about 4.5 dB of the raw signal's RMS; its limiter does not act at this level),
// and stores in tfbend.json's metadata the gain (output_gain) that brings it to about
// -18 dBFS RMS. Run after retraining: node models/audio/level.mjs [--seconds 60]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tb from "tfbend";

const TARGET_DBFS = -18;
const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1]) || 60;

/** RMS and peak (dBFS) of `seconds` of the default walk under the model's current output_gain, as it plays (after the safety stage). */
export async function measureWalk(modelsDir, seconds) {
  const workspace = mkdtempSync(join(tmpdir(), "tfbend-level-"));
  try {
    const session = new tb.control.Session({ modelsDir, workspace, safety: true });
    await session.loadModel("audio");
    const blocks = Math.ceil((seconds * session.sampleRate) / session.blockSamples);
    let sum = 0;
    let count = 0;
    let peak = 0;
    for (let b = 0; b < blocks; b++) {
      const { data } = await session.renderBlock();
      for (const v of data) {
        sum += v * v;
        peak = Math.max(peak, Math.abs(v));
      }
      count += data.length;
    }
    const gain = Number(session.bended.metadata.output_gain ?? 1);
    session.dispose();
    return { rmsDb: 10 * Math.log10(sum / count), peakDb: 20 * Math.log10(peak), gain };
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = await measureWalk(join(here, ".."), seconds);
  const gain = before.gain * 10 ** ((TARGET_DBFS - before.rmsDb) / 20);
  const path = join(here, "tfbend.json");
  // an edit in place keeps the manifest's layout (one line per key)
  const text = readFileSync(path, "utf8").replace(/"output_gain": "[^"]*", /, "");
  writeFileSync(path, text.replace(/"metadata": \{ /, `"metadata": { "output_gain": "${gain.toFixed(4)}", `));
  const after = await measureWalk(join(here, ".."), seconds);
  console.log(
    `walk over ${seconds} s: ${before.rmsDb.toFixed(1)} dBFS RMS (peak ${before.peakDb.toFixed(1)}) at gain ${before.gain}; ` +
      `output_gain ${gain.toFixed(4)} (${(20 * Math.log10(gain)).toFixed(1)} dB): ${after.rmsDb.toFixed(1)} dBFS RMS, peak ${after.peakDb.toFixed(1)} dBFS`,
  );
  process.exit(0);
}
