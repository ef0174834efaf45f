// Interpreter overhead: the conv24 fixture (24 Conv1d + LeakyReLU, 32 channels) interpreted
// from its TorchScript file against the same network written with tb.nn modules, loaded with
// the file's weights; same run, interleaved, medians.
import { readFileSync } from "node:fs";
import * as tb from "tfbend";
import { fmt, interleave, quantile } from "./util.js";

const { nn, tf } = tb;
const FIXTURE = new URL("../test/fixtures/torchscript/conv24.ts", import.meta.url).pathname;
const ARCHITECTURE = JSON.parse(readFileSync(FIXTURE.replace(/\.ts$/, ".json"), "utf8")).architecture;
const LENGTH = Number(process.env.BENCH_TS_LENGTH ?? 8192);

/** conv24 written with tb.nn: the same module tree, so the state_dict keys are the same. */
class Conv24 extends nn.Module {
  constructor() {
    super();
    const layers = [];
    ARCHITECTURE.layers.forEach((l, i) => {
      layers.push(new nn.Conv1d(l.in, l.out, l.kernel, { padding: l.padding }));
      if (i < ARCHITECTURE.layers.length - 1) layers.push(new nn.LeakyReLU(ARCHITECTURE.activation.negativeSlope));
    });
    this.net = new nn.Sequential(...layers);
  }
  forward(x) {
    return this.net.call(x);
  }
}

export async function runTorchScript() {
  const bended = await tb.load(FIXTURE);
  const interpreted = bended.module;
  const twin = new Conv24().eval();
  const { forward_params: _, ...weights } = interpreted.stateDict(); // the nn~ metadata buffer is not a weight
  twin.loadStateDict(weights);
  const x = tf.randomNormal([1, 1, LENGTH]);
  const a = interpreted.forward(x);
  const b = twin.call(x);
  const maxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  tf.dispose([a, b]);
  const samples = interleave({
    "tb.nn twin, module.call": () => tf.tidy(() => { twin.call(x).dataSync(); }),
    "interpreted, module.forward": () => tf.tidy(() => { interpreted.forward(x).dataSync(); }),
    "interpreted, bended.forward": () => tf.tidy(() => { bended.forward(x).dataSync(); }),
  }, { rounds: 15, perRound: 4, warmup: 4 });
  const base = quantile(samples["tb.nn twin, module.call"], 0.5);
  const rows = Object.entries(samples).map(([name, s]) => ({ name, p50: quantile(s, 0.5), p95: quantile(s, 0.95), ratio: quantile(s, 0.5) / base }));
  x.dispose();
  twin.dispose();
  bended.dispose();
  interpreted.dispose();
  return { backend: tb.backend(), length: LENGTH, maxDiff, rows };
}

export function printTorchScript(r) {
  console.log(`\n## TorchScript interpreter overhead (conv24, 1×1×${r.length}, ${r.backend}; twin max |diff| ${r.maxDiff.toExponential(1)})`);
  console.log("| variant | p50 ms | p95 ms | p50 / tb.nn twin |");
  console.log("|---|---:|---:|---:|");
  for (const row of r.rows) console.log(`| ${row.name} | ${fmt(row.p50)} | ${fmt(row.p95)} | ${row.ratio.toFixed(3)} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) printTorchScript(await runTorchScript());
