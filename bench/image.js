// The shipped image decoder's frame time on the CPU backend in use (wasm by default): one
// frame is latent → (1, 3, 64, 64) → HWC pixels read back, as the image stream sends it.
// Unbended, and with two spatial bendings whose control moves every frame; for comparison, seeded
// weights (the same cost) of the vector-latent architecture at the shipped width (latent 16, fc a
// Linear: the second and third models) and of the first, procedural model (width 128).
// Prints p50/p95 in ms and the frames per second they allow.
import * as tb from "tfbend";
import { CLOCK, fmt, interleave, quantile } from "./util.js";

const { tf, zoo } = tb;

function frame(bended, z) {
  return () => {
    const hwc = tf.tidy(() => tf.transpose(bended.forward(z), [0, 2, 3, 1]));
    hwc.dataSync();
    hwc.dispose();
  };
}

export async function runImage() {
  const shipped = await tb.load(new URL("../models/image", import.meta.url).pathname);
  const bent = await tb.load(new URL("../models/image", import.meta.url).pathname);
  const angle = new tb.BendingParameter("angle", 10);
  bent.bend(new tb.Rotate(angle), "net_6");
  bent.bend(new tb.Zoom(angle.times(0.01).plus(1)), "net_10");
  const vector = new tb.BendedModule(tb.createModule("image-decoder", { width: shipped.module.width }).eval());
  const first = new tb.BendedModule(tb.createModule("image-decoder").eval());
  const z = tf.randomNormal([1, shipped.module.latentDim], 0, 1, "float32", 1);
  const zVector = tf.randomNormal([1, zoo.IMAGE_LATENT], 0, 1, "float32", 1);
  let tick = 0;
  const moving = frame(bent, z);
  const variants = {
    shipped: frame(shipped, z),
    "shipped, Rotate(@angle) net_6 + Zoom(1 + @angle/100) net_10, @angle moving": () => {
      angle.value = tick++ % 90; // the control moves every frame
      moving();
    },
    [`vector latent 16, width ${shipped.module.width}`]: frame(vector, zVector),
    "first model's architecture (width 128)": frame(first, zVector),
  };
  for (const fn of Object.values(variants)) for (let i = 0; i < 3; i++) fn(); // build what the bendings cache (angle 0 is the identity)
  const before = tf.memory().numTensors;
  const samples = interleave(variants, { rounds: 20, perRound: 10 });
  const leaked = tf.memory().numTensors - before;
  const width = (b) => b.module.width;
  const rows = Object.entries(samples).map(([name, s]) => ({ name, p50: quantile(s, 0.5), p95: quantile(s, 0.95) }));
  const latentDim = shipped.module.latentDim;
  for (const b of [shipped, bent, vector, first]) b.dispose();
  tf.dispose([z, zVector]);
  return { backend: tf.getBackend(), widths: { shipped: width(shipped), first: width(first) }, latentDim, rows, leaked };
}

export function printImage({ backend, widths, latentDim, rows, leaked }) {
  console.log(`\nImage decoder frame time (${backend}, ${CLOCK} clock; shipped width ${widths.shipped}, first model ${widths.first}; ` +
    `latent (1, ${latentDim}) → (1, 3, 64, 64) read back as HWC)\n`);
  console.log("| variant | p50 ms | p95 ms | fps at p95 |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.name} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${(1000 / r.p95).toFixed(0)} |`);
  console.log(`\ntensors left after ${rows.length * 200} frames: ${leaked}`);
}

if (import.meta.url === `file://${process.argv[1]}`) printImage(await runImage());
