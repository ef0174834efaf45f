// Concat and Slice along PyTorch's last axis (a streamed past joined onto a block, and the
// next past cut off), with tfjs's own wasm kernels (a JavaScript view per row) and with
// tfbend's, which copy inside wasm memory (src/kernels.ts), interleaved. Rows are channels, row length the
// samples: the shapes of the RAVE-sized decoder's causal convolutions.
import * as tb from "tfbend";
import { fmt, interleave, quantile, withTfjsCopies } from "./util.js";

const { tf } = tb;

const CASES = [
  { channels: 1536, past: 2, block: 1 }, { channels: 768, past: 18, block: 2 }, { channels: 384, past: 18, block: 8 },
  { channels: 192, past: 18, block: 32 }, { channels: 96, past: 18, block: 128 }, { channels: 96, past: 18, block: 1024 },
  { channels: 32, past: 6, block: 8192 },
];

export function runCopies({ rounds = 10 } = {}) {
  const rows = [];
  for (const { channels, past, block } of CASES) {
    const before = tf.randomNormal([1, channels, past]);
    const x = tf.randomNormal([1, channels, block]);
    const step = () => tf.tidy(() => {
      const joined = tf.concat([before, x], 2);
      tf.slice(joined, [0, 0, block], [-1, -1, past]).dataSync();
    });
    const samples = interleave({ "tfjs wasm": withTfjsCopies(tb, step), tfbend: step }, { rounds, perRound: 10, warmup: 5 });
    tf.dispose([before, x]);
    rows.push({ channels, past, block, own: quantile(samples["tfjs wasm"], 0.5), fast: quantile(samples.tfbend, 0.5) });
  }
  return { backend: tb.backendInfo(), rows };
}

export function printCopies(r) {
  console.log(`\n## Concat + Slice along the last axis (${r.backend.name}; median ms of join + cut + read back)`);
  console.log("| channels | past | block | tfjs wasm | tfbend | speed-up |");
  console.log("|---:|---:|---:|---:|---:|---:|");
  for (const row of r.rows) {
    console.log(`| ${row.channels} | ${row.past} | ${row.block} | ${fmt(row.own)} | ${fmt(row.fast)} | ${(row.own / row.fast).toFixed(2)}× |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printCopies(runCopies());
