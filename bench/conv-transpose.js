// Transposed convolution: tfjs's scalar Conv2DBackpropInput against tfbend's polyphase path
// (one XNNPACK conv2d with stride·out channels + interleave), on RAVE's upsampling shape
// (kernel 2·stride, padding stride/2), to choose the crossover in F.convTransposeTuning.
import * as tb from "tfbend";
import { fmt, interleave, quantile } from "./util.js";

const { tf, F } = tb;
const SHAPES = [
  { channels: 2, stride: 2, frames: 256 },
  { channels: 4, stride: 2, frames: 256 },
  { channels: 8, stride: 4, frames: 128 },
  { channels: 16, stride: 4, frames: 128 },
  { channels: 64, stride: 4, frames: 64 },
  { channels: 256, stride: 4, frames: 32 },
  { channels: 768, stride: 2, frames: 8 },
];

export function runConvTranspose() {
  const tuning = F.convTransposeTuning;
  const saved = tuning.polyphaseMinMacs;
  const rows = [];
  for (const { channels, stride, frames } of SHAPES) {
    const k = 2 * stride;
    const w = tf.randomNormal([channels, Math.max(1, channels / 2), k]);
    const b = tf.randomNormal([w.shape[1]]);
    const x = tf.randomNormal([1, channels, frames]);
    const call = (minMacs) => () => {
      tuning.polyphaseMinMacs = minMacs;
      tf.tidy(() => {
        F.convTranspose1d(x, w, b, { stride, padding: stride / 2 }).dataSync();
      });
    };
    const s = interleave({ scalar: call(Infinity), polyphase: call(0) }, { rounds: 8, perRound: 5, warmup: 3 });
    const macs = channels * w.shape[1] * k;
    rows.push({ channels, out: w.shape[1], stride, frames, macs, scalar: quantile(s.scalar, 0.5), polyphase: quantile(s.polyphase, 0.5) });
    tf.dispose([w, b, x]);
  }
  tuning.polyphaseMinMacs = saved;
  return { backend: tb.backend(), rows, threshold: saved };
}

export function printConvTranspose(r) {
  console.log(`\n## conv_transpose1d: tfjs kernel vs polyphase (backend ${r.backend}; kernel 2·stride; crossover in use: ${r.threshold} MACs)`);
  console.log("| in→out ch | stride | frames | MACs/sample | tfjs p50 ms | polyphase p50 ms | speed-up |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const x of r.rows) {
    console.log(`| ${x.channels}→${x.out} | ${x.stride} | ${x.frames} | ${x.macs} | ${fmt(x.scalar)} | ${fmt(x.polyphase)} | ${(x.scalar / x.polyphase).toFixed(2)}× |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printConvTranspose(runConvTranspose());
