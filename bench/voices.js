// Voices (mc.nn~ style, `voices N`): the shipped audio decoder streaming 2048-sample
// blocks (8 latent frames) at 44.1 kHz for N = 1, 2, 4, 8 voices in one batched call
// ([N, latent, frames], each batch row its own streaming state). Reports ms per block
// (p50, p95), ms per voice, and the real-time factor per block. Run: node bench/voices.js
import * as tb from "tfbend";
import { CLOCK, fmt, interleave, quantile } from "./util.js";

const { tf, zoo } = tb;
const SAMPLE_RATE = 44100;
const FRAMES = 8;
const BLOCK = FRAMES * zoo.AUDIO_RATIO;
const blockMs = (BLOCK / SAMPLE_RATE) * 1000;
const COUNTS = [1, 2, 4, 8];

export async function runVoices() {
  const bended = await tb.load(new URL("../models/audio", import.meta.url).pathname);
  zoo.setStreaming(bended.module, true);
  const inputs = Object.fromEntries(COUNTS.map((n) => [n, tf.randomNormal([n, zoo.AUDIO_LATENT, FRAMES])]));
  // each variant switches the batch, so the streaming caches start over each time (as 'voices N' does):
  // run each count in its own batch of blocks, interleaved round by round
  const variants = Object.fromEntries(COUNTS.map((n) => [n, () => tf.tidy(() => {
    bended.call("decode", inputs[n]).dataSync();
  })]));
  const samples = interleave(variants, { rounds: 10, perRound: 8 });
  tf.dispose(Object.values(inputs));
  return COUNTS.map((n) => {
    const p50 = quantile(samples[n], 0.5);
    return { voices: n, p50, p95: quantile(samples[n], 0.95), perVoice: p50 / n, rtf: p50 / blockMs };
  });
}

export function printVoices(rows) {
  console.log(`voices: shipped audio decoder, ${BLOCK}-sample blocks (${fmt(blockMs)} ms), ${tb.backend()} backend, ${CLOCK} clock`);
  console.log("voices  ms/block p50  p95      ms/voice  RTF");
  for (const r of rows) console.log(`${String(r.voices).padEnd(8)}${fmt(r.p50).padEnd(15)}${fmt(r.p95).padEnd(9)}${fmt(r.perVoice).padEnd(10)}${fmt(r.rtf)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await tb.ready();
  printVoices(await runVoices());
}
