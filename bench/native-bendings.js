// Spatial and time bendings on the native engine against wasm, side by side in one run, one
// thread: the image model's frame time unbent and with each spatial bending (its control
// moving every frame, so the numbers include feeding it), and the audio decoder's streamed
// block time with each time bending. Native times are one session per bending, compiled once:
// a moving control never recompiles. `node bench/native-bendings.js` (BENCH_ROUNDS, default 15).
import * as tb from "tfbend";
import { fmt, interleave, quantile } from "./util.js";

const { tf, native } = tb;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

if (!native.nativeAvailable()) {
  console.log(`native engine unavailable: ${native.nativeUnavailableReason()}`);
  process.exit(0);
}
await tb.ready();

/** p50 and p95 of wasm and native for `bended[fn](x)` with `step` moving the control before every call. */
async function compare(label, bended, fn, x, step) {
  const compiled = await native.compileMethod(bended, fn, [x.shape]);
  const samples = interleave({
    wasm: () => {
      step();
      const y = bended.call(fn, x);
      y.dataSync();
      y.dispose();
    },
    native: () => {
      step();
      tf.dispose(compiled.run(x));
    },
  }, { rounds: ROUNDS });
  compiled.dispose();
  const cell = (s) => `${fmt(quantile(s, 0.5))} / ${fmt(quantile(s, 0.95))}`;
  console.log(`${label.padEnd(44)} wasm ${cell(samples.wasm).padEnd(18)} native ${cell(samples.native)}`);
}

const value = new tb.BendingParameter("bench_value", 0);
let frame = 0;
const moving = (lo, hi) => () => {
  frame++;
  value.value = lo + ((frame % 32) / 31) * (hi - lo);
};

console.log("image model, one 64×64 frame (ms p50 / p95); each bending on net_8 (48×16×16) with its control moving");
const image = await tb.load("models/image");
image.trace();
const z = tf.randomNormal([1, 16], 0, 1, "float32", 1);
await compare("unbent", image, "forward", z, () => undefined);
const spatial = [
  ["Translate(@, 0.1)", () => new tb.Translate(value, 0.1), [-0.3, 0.3]],
  ["Rotate(@)", () => new tb.Rotate(value), [0, 90]],
  ["Zoom(@)", () => new tb.Zoom(value), [0.5, 2]],
  ["Flip(xy)", () => new tb.Flip("xy"), [0, 0]],
  ["Erode(@)", () => new tb.Erode(value), [0, 4]],
  ["Dilate(@) on a fraction", () => new tb.Dilate(2, { fraction: value, seed: 1 }), [0, 1]],
  ["Blur(@)", () => new tb.Blur(value), [0, 3]],
  ["Blur(1.5) constant", () => new tb.Blur(1.5), [0, 0]],
  ["Sharpen(@)", () => new tb.Sharpen(value), [0, 4]],
  ["Invert(@)", () => new tb.Invert(value), [0, 1]],
  ["Warp(2, @)", () => new tb.Warp(2, value), [0, 0.1]],
];
for (const [label, make, [lo, hi]] of spatial) {
  const handle = image.bend(make(), "net_8");
  await compare(label, image, "forward", z, moving(lo, hi));
  handle.remove();
}
image.dispose();

console.log("\naudio decoder streamed, blocks of 8 latent frames (ms p50 / p95); each bending on net_7_conv1 and net_11_act");
const audio = await tb.load("models/audio");
const latent = tf.randomNormal([1, 8, 8], 0, 1, "float32", 2);
audio.trace("decode", [latent]);
tb.zoo.setStreaming(audio.module, true);
await compare("unbent", audio, "decode", latent, () => undefined);
const time = [
  ["TimeShift(@)", () => new tb.TimeShift(value), [-4, 4]],
  ["Stretch(@)", () => new tb.Stretch(value), [0.5, 2]],
  ["Smear(@)", () => new tb.Smear(value), [0, 0.9]],
  ["Filter(lowpass, @)", () => new tb.Filter("lowpass", value), [0.1, 1]],
  ["Unphase(@)", () => new tb.Unphase(value, { seed: 1 }), [0, 1]],
];
for (const [label, make, [lo, hi]] of time) {
  const handle = audio.bend(make(), "decode:net_7_conv1", "decode:net_11_act");
  await compare(label, audio, "decode", latent, moving(lo, hi));
  handle.remove();
}
tb.zoo.setStreaming(audio.module, false);
audio.dispose();
