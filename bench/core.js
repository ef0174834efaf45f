// Core runtime overhead: bended.forward vs the plain module's forward on the same
// 4-layer conv model (8192 samples), same backend, measured side by side.
import * as tb from "tfbend";
import { CLOCK, fmt, interleave, quantile } from "./util.js";

const { nn, F, tf } = tb;

export class ConvStack extends nn.Module {
  layers = new nn.ModuleList([new nn.Conv1d(1, 32, 7, { padding: 3 }), new nn.Conv1d(32, 32, 7, { padding: 3 }),
    new nn.Conv1d(32, 32, 7, { padding: 3 }), new nn.Conv1d(32, 32, 7, { padding: 3 })]);
  act = new nn.LeakyReLU(0.2);
  forward(x) {
    let h = x;
    for (const layer of this.layers) h = this.act.call(layer.call(h));
    return h;
  }
}

// The same network written with nn.convActivation: the bias and LeakyReLU run inside each
// conv's kernel and consecutive convs pass channels-last tensors (nothing observes a plain call).
class FusedConvStack extends ConvStack {
  forward(x) {
    let h = x;
    for (const layer of this.layers) h = nn.convActivation(layer, this.act, h);
    return h;
  }
}

export function runCore() {
  const module = new ConvStack().eval();
  const fused = new FusedConvStack().eval();
  fused.loadStateDict(module.stateDict());
  const x = tf.randomNormal([1, 1, 8192]);
  const plain = () => tf.tidy(() => {
    module.call(x).dataSync();
  });
  const rawInput = tf.randomNormal([1, 8192, 32]);
  const rawFilter = tf.randomNormal([7, 32, 32]);
  const raw = () => tf.tidy(() => {
    let h = rawInput;
    for (let i = 0; i < 4; i++) h = tf.leakyRelu(tf.conv1d(h, rawFilter, 1, "same"), 0.2);
    h.dataSync();
  });
  // The same, with LeakyReLU written branch-free (relu(x) − 0.2·relu(−x)): what tfjs-wasm's
  // LeakyReLU kernel, which branches per element, costs the reference.
  const rawBranchFree = () => tf.tidy(() => {
    let h = rawInput;
    for (let i = 0; i < 4; i++) {
      const y = tf.conv1d(h, rawFilter, 1, "same");
      h = tf.sub(tf.relu(y), tf.mul(tf.relu(tf.neg(y)), 0.2));
    }
    h.dataSync();
  });

  const unbended = new tb.BendedModule(module);
  unbended.trace({ x });
  const weightMasked = new tb.BendedModule(module);
  weightMasked.trace({ x });
  weightMasked.bend(new tb.Mask(0.5), "layers.1.weight");
  const actMasked = new tb.BendedModule(module);
  actMasked.trace({ x });
  actMasked.bend(new tb.Mask(0.5), "act_1");

  const run = (b) => () => tf.tidy(() => {
    b.forward(x).dataSync();
  });
  const samples = interleave({
    "plain module.call": plain,
    "plain module.call, nn.convActivation": () => tf.tidy(() => {
      fused.call(x).dataSync();
    }),
    "bended, no bending": run(unbended),
    "bended, weight Mask (cached)": run(weightMasked),
    "bended, activation Mask": run(actMasked),
    "raw tfjs channels-last (reference)": raw,
    "raw tfjs channels-last, branch-free LeakyReLU": rawBranchFree,
  });
  const base = quantile(samples["plain module.call"], 0.5);
  const rows = Object.entries(samples).map(([name, s]) => {
    const p50 = quantile(s, 0.5);
    return { name, p50, p95: quantile(s, 0.95), ratio: p50 / base };
  });

  // tracing a 100-node model
  class Deep extends nn.Module {
    layers = new nn.ModuleList(Array.from({ length: 50 }, () => new nn.Linear(16, 16)));
    forward(x) {
      let h = x;
      for (const layer of this.layers) h = F.relu(layer.call(h));
      return h;
    }
  }
  const deep = new tb.BendedModule(new Deep());
  const dx = tf.randomNormal([1, 16]);
  deep.trace({ x: dx });
  const traceTimes = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const g = deep.trace({ x: dx });
    traceTimes.push(performance.now() - t0);
    if (g.nodes.length !== 102) throw new Error("unexpected node count");
  }
  traceTimes.sort((a, b) => a - b);
  return { backend: tb.backend(), rows, trace100: { p50: quantile(traceTimes, 0.5), p95: quantile(traceTimes, 0.95) } };
}

export function printCore(result) {
  console.log(`\n## Core overhead (backend ${result.backend}; 4×Conv1d 32ch k7 + LeakyReLU, 1×1×8192; ${CLOCK} clock)`);
  console.log("| variant | p50 ms | p95 ms | p50 / plain |");
  console.log("|---|---:|---:|---:|");
  for (const r of result.rows) console.log(`| ${r.name} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${r.ratio.toFixed(3)} |`);
  console.log(`\nTracing a 100-node model: p50 ${fmt(result.trace100.p50)} ms, p95 ${fmt(result.trace100.p95)} ms`);
}
