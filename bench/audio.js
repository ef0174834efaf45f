// The shipped audio decoder streaming 2048-sample blocks (8 latent frames) at 44.1 kHz:
// real-time factor (compute time / audio duration) per block, p50 and p95, unbended and
// with a weight Mask and an activation Mask; the cost of one weight-bending recompute
// after a control moves; and the fast wasm tanh against tfjs's own.
import * as tb from "tfbend";
import { CLOCK, fmt, interleave, quantile, withTfjsCopies } from "./util.js";

const { tf, zoo } = tb;
const SAMPLE_RATE = 44100;
const FRAMES = 8;
const BLOCK = FRAMES * zoo.AUDIO_RATIO;
const blockMs = (BLOCK / SAMPLE_RATE) * 1000;

async function decoder() {
  const bended = await tb.load(new URL("../models/audio", import.meta.url).pathname);
  zoo.setStreaming(bended.module, true);
  return bended;
}

export async function runAudio() {
  const plain = await decoder();
  const weight = await decoder();
  const keep = new tb.BendingParameter("keep", 0.5, { range: [0, 1] });
  weight.bend(new tb.Mask(keep), "net.6.conv.weight");
  const activation = await decoder();
  activation.bend(new tb.Mask(0.5, { dim: -2 }), "net_7_conv1");

  const z = tf.randomNormal([1, zoo.AUDIO_LATENT, FRAMES]);
  const step = (b) => () => tf.tidy(() => {
    b.call("decode", z).dataSync();
  });
  const samples = interleave({
    unbended: step(plain),
    "weight Mask": step(weight),
    "activation Mask": step(activation),
    "unbended, tfjs's own Concat/Slice": withTfjsCopies(tb, step(plain)),
  }, { rounds: 20, perRound: 10 });
  const rows = Object.entries(samples).map(([name, s]) => ({
    name, p50: quantile(s, 0.5), p95: quantile(s, 0.95),
  }));

  // one recompute of a cached bent weight when its control moves
  const recompute = [];
  for (let i = 0; i < 30; i++) {
    weight.update("keep", 0.3 + (i % 2) * 0.4);
    const t0 = performance.now();
    weight.bendedStateDict();
    recompute.push(performance.now() - t0);
  }
  recompute.sort((a, b) => a - b);

  // tfjs's own wasm tanh vs tfbend's 2·sigmoid(2x) − 1
  tb.unregisterFastTanh();
  const slowTanh = interleave({ x: step(plain) }, { rounds: 5, perRound: 10 }).x;
  tb.registerFastTanh();
  const fastTanh = interleave({ x: step(plain) }, { rounds: 5, perRound: 10 }).x;
  const x = tf.randomNormal([1, 16, 65536]);
  const tanhOp = () => tf.tidy(() => {
    tf.tanh(x).dataSync();
  });
  tb.unregisterFastTanh();
  const slowOp = interleave({ x: tanhOp }, { rounds: 5, perRound: 5 }).x;
  tb.registerFastTanh();
  const fastOp = interleave({ x: tanhOp }, { rounds: 5, perRound: 5 }).x;

  return {
    backend: tb.backend(), rows, recompute: quantile(recompute, 0.5), recompute95: quantile(recompute, 0.95),
    tanh: {
      blockSlow: quantile(slowTanh, 0.5), blockFast: quantile(fastTanh, 0.5),
      opSlow: quantile(slowOp, 0.5), opFast: quantile(fastOp, 0.5),
    },
  };
}

export function printAudio(r) {
  const base = r.rows[0].p50;
  console.log(`\n## Audio decoder streaming (backend ${r.backend}; block ${BLOCK} samples = ${blockMs.toFixed(1)} ms at 44.1 kHz; ${CLOCK} clock)`);
  console.log("| variant | p50 ms | p95 ms | RTF p50 | RTF p95 | overhead p50 |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const row of r.rows) {
    console.log(`| ${row.name} | ${fmt(row.p50)} | ${fmt(row.p95)} | ${(row.p50 / blockMs).toFixed(3)} | ${(row.p95 / blockMs).toFixed(3)} | ${((row.p50 / base - 1) * 100).toFixed(1)}% |`);
  }
  console.log(`\nWeight-bending recompute after a control change: p50 ${fmt(r.recompute)} ms, p95 ${fmt(r.recompute95)} ms (once, not per block)`);
  console.log(`Tanh on 1×16×65536: tfjs ${fmt(r.tanh.opSlow)} ms, tfbend ${fmt(r.tanh.opFast)} ms (${(r.tanh.opSlow / r.tanh.opFast).toFixed(1)}×); decoder block p50 ${fmt(r.tanh.blockSlow)} → ${fmt(r.tanh.blockFast)} ms`);
}
