// Spatial and time bendings on the shipped models: a PNG grid of spatial bendings of the
// image model (one row per bending, one column per latent), the image model's frame time
// with two spatial bendings whose control moves every frame, and how far each time bending
// of the audio decoder steps across block seams when streamed (blocks of 8 latent frames).
// BENCH_GRID (default /tmp/spatial-bendings.png) is where the grid goes.
import * as tb from "tfbend";

const { tf } = tb;
const GRID = process.env.BENCH_GRID ?? "/tmp/spatial-bendings.png";

const image = await tb.load("models/image");
image.trace();
const clusters = image.clusterChannels("net_6", { k: 4, samples: 32, seed: 1 });
console.log(clusters.map((c) => `${c.name}: ${c.channels.length} channels`).join("; "));
const rows = [
  ["original", null, ""],
  ["Translate(0.25, 0, wrap) net_4", new tb.Translate(0.25, 0, { wrap: true }), "net_4"],
  ["Rotate(90) net_2", new tb.Rotate(90), "net_2"],
  ["Rotate(45) net_6", new tb.Rotate(45), "net_6"],
  ["Zoom(2) net_4", new tb.Zoom(2), "net_4"],
  ["Flip(x) half the channels net_6", new tb.Flip("x", { fraction: 0.5, seed: 3 }), "net_6"],
  ["Erode(1) net_8", new tb.Erode(1), "net_8"],
  ["Dilate(1) net_8", new tb.Dilate(1), "net_8"],
  ["Blur(1.5) net_8", new tb.Blur(1.5), "net_8"],
  ["Sharpen(4) net_12", new tb.Sharpen(4), "net_12"],
  ["Invert() net_4", new tb.Invert(), "net_4"],
  ["Warp(2, 0.08) net_8", new tb.Warp(2, 0.08), "net_8"],
  [`Invert() cluster net_6:c0`, new tb.Invert(1, { cluster: "net_6:c0" }), "net_6"],
  [`Rotate(90) cluster net_6:c1`, new tb.Rotate(90, { cluster: "net_6:c1" }), "net_6"],
];
const cols = 5;
const size = 64;
const pad = 2;
const W = cols * (size + pad) + pad;
const H = rows.length * (size + pad) + pad;
const canvas = new Float32Array(W * H * 3).fill(1);
const latents = Array.from({ length: cols }, (_, i) => tf.randomNormal([1, 16], 0, 1, "float32", 100 + i));
rows.forEach(([label, cb, target], r) => {
  if (cb) image.bend(cb, target);
  latents.forEach((latent, c) => {
    const hwc = tf.tidy(() => tf.transpose(tf.squeeze(image.forward(latent), [0]), [1, 2, 0]));
    const pixels = hwc.dataSync();
    hwc.dispose();
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const at = ((pad + r * (size + pad) + y) * W + pad + c * (size + pad) + x) * 3;
        for (let k = 0; k < 3; k++) canvas[at + k] = pixels[(y * size + x) * 3 + k];
      }
    }
  });
  image.reset();
});
await tb.io.writePng(GRID, canvas, W, H);
console.log(`wrote ${GRID} (${W}×${H}), rows: ${rows.map(([label]) => label).join(" | ")}`);

// --- frame time ---------------------------------------------------------------------------
const z = tf.randomNormal([1, 16], 0, 1, "float32", 1);
const angle = new tb.BendingParameter("angle", 10);
function frameTimes(label) {
  for (let i = 0; i < 10; i++) tf.dispose(image.forward(z));
  const times = [];
  for (let i = 0; i < 200; i++) {
    angle.value = i % 90; // the control moves every frame
    const start = performance.now();
    const out = image.forward(z);
    out.dataSync();
    out.dispose();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`${label}: p50 ${times[100].toFixed(2)} ms, p95 ${times[190].toFixed(2)} ms, ${tf.memory().numTensors} tensors`);
}
frameTimes("no bending");
image.bend(new tb.Rotate(angle), "net_6");
image.bend(new tb.Warp(2, angle.times(0.001)), "net_8");
frameTimes("Rotate(@angle) net_6 + Warp(2, @angle·0.001) net_8");
image.reset();
image.bend(new tb.Blur(angle.times(0.02)), "net_12");
image.bend(new tb.Erode(1, { fraction: 0.5 }), "net_8");
frameTimes("Blur(@angle·0.02) net_12 + Erode(1) on half of net_8");
image.reset();

// --- audio seams --------------------------------------------------------------------------
// The largest step across a block seam against the 99th percentile of steps inside blocks:
// a seam the bending makes shows as a ratio well above the unbent one.
const audio = await tb.load("models/audio");
audio.trace("decode");
const T = 8;
const BLOCKS = 8;
// a smooth latent path, so that the unbent output has no seams of its own
const path = tf.tidy(() => {
  const t = tf.linspace(0, 4 * Math.PI, T * BLOCKS);
  const rows = Array.from({ length: 8 }, (_, c) => tf.sin(tf.add(tf.mul(t, 0.5 + c * 0.15), c)));
  return tf.mul(tf.stack(rows).expandDims(0), 1.5);
});
function streamed() {
  tb.zoo.setStreaming(audio.module, true);
  const out = [];
  for (let b = 0; b < BLOCKS; b++) {
    const block = path.slice([0, 0, b * T], [1, 8, T]);
    const y = audio.call("decode", block);
    out.push(...y.dataSync());
    tf.dispose([block, y]);
  }
  tb.zoo.setStreaming(audio.module, false);
  return out;
}
function seams(y) {
  const length = y.length / BLOCKS;
  const steps = y.slice(1).map((v, i) => Math.abs(v - y[i]));
  const across = [];
  const inside = [];
  steps.forEach((s, i) => ((i + 1) % length === 0 ? across : inside).push(s));
  inside.sort((a, b) => a - b);
  const p99 = inside[Math.floor(inside.length * 0.99)];
  const seam = Math.max(...across);
  return `largest seam step ${seam.toFixed(4)}, 99th percentile inside ${p99.toFixed(4)} (ratio ${(seam / p99).toFixed(2)})`;
}
console.log(`unbent: ${seams(streamed())}`);
for (const layer of ["net_1", "add_3", "net_17"]) {
  for (const cb of [new tb.Scale(1.5), new tb.TimeShift(3), new tb.Stretch(0.7), new tb.Smear(0.6), new tb.Filter("lowpass", 0.3, 1), new tb.Unphase(1, { seed: 3 })]) {
    audio.bend(cb, layer);
    console.log(`${cb} on ${layer}: ${seams(streamed())}`);
    audio.reset();
  }
}
