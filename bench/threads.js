// wasm threads: the RAVE-sized decoder (1- and 8-frame streaming blocks) and the shipped
// audio decoder with TFBEND_THREADS=1 and 2, each in its own process (threads are chosen
// when the backend starts), processes alternated so that load hits both alike.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fmt, quantile } from "./util.js";

const CHILD = "--threads-child";

async function child() {
  const tb = await import("tfbend");
  const { interleave } = await import("./util.js");
  const { RaveDecoder, setRaveStreaming, RAVE } = await import("./rave.js");
  const { tf, zoo } = tb;
  const rave = new RaveDecoder().eval();
  setRaveStreaming(rave, true);
  const audio = await tb.load(fileURLToPath(new URL("../models/audio", import.meta.url)));
  zoo.setStreaming(audio.module, true);
  const z1 = tf.randomNormal([1, RAVE.latent, 1]);
  const z8 = tf.randomNormal([1, RAVE.latent, 8]);
  const za = tf.randomNormal([1, zoo.AUDIO_LATENT, 8]);
  const run = (f) => () => tf.tidy(() => {
    f().dataSync();
  });
  const s = interleave({
    "RAVE 2048": run(() => rave.call(z1)),
    "RAVE 16384": run(() => rave.call(z8)),
    "audio 2048": run(() => audio.call("decode", za)),
  }, { rounds: 6, perRound: 3, warmup: 2 });
  console.log(JSON.stringify({ threads: tb.backendInfo().threads, samples: s }));
}

export function runThreads({ repeats = 2 } = {}) {
  const script = fileURLToPath(import.meta.url);
  const merged = { 1: {}, 2: {} };
  for (let r = 0; r < repeats; r++) {
    for (const threads of [1, 2]) {
      // wall time: CPU time would count both threads
      const env = { ...process.env, TFBEND_THREADS: String(threads), BENCH_CLOCK: "wall" };
      const out = spawnSync(process.execPath, [script, CHILD], { env, encoding: "utf8" });
      if (out.status !== 0) throw new Error(`threads child failed: ${out.stderr}`);
      const { threads: running, samples } = JSON.parse(out.stdout.trim().split("\n").at(-1));
      if (running !== threads) throw new Error(`asked for ${threads} threads, got ${running}`);
      for (const [name, s] of Object.entries(samples)) (merged[threads][name] ??= []).push(...s);
    }
  }
  for (const t of Object.values(merged)) for (const s of Object.values(t)) s.sort((a, b) => a - b);
  return merged;
}

export function printThreads(r) {
  console.log("\n## wasm threads (TFBEND_THREADS; one process per setting, alternated)");
  console.log("| model, block | 1 thread p50 ms | p95 | 2 threads p50 ms | p95 | speed-up p50 |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const name of Object.keys(r[1])) {
    const a = r[1][name];
    const b = r[2][name];
    console.log(`| ${name} | ${fmt(quantile(a, 0.5))} | ${fmt(quantile(a, 0.95))} | ${fmt(quantile(b, 0.5))} | ${fmt(quantile(b, 0.95))} | ${(quantile(a, 0.5) / quantile(b, 0.5)).toFixed(2)}× |`);
  }
}

if (process.argv.includes(CHILD)) await child();
else if (import.meta.url === `file://${process.argv[1]}`) printThreads(runThreads());
