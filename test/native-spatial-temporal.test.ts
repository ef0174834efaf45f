// The native engine's spatial and time callbacks give the wasm engine's outputs within 1e-5 of
// the peak: every callback at non-identity settings, its control moved between runs (never a
// recompile), channel selections (list, cluster, a live fraction), the time ones streamed
// block by block through the shipped audio decoder. Each compiles to native (no fallback).
// Runs where onnxruntime-node loads; elsewhere the suite is skipped and says why.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf, native, nn, zoo } = tb;
const root = join(import.meta.dirname, "..");
const available = native.nativeAvailable();
if (!available) console.log(`native spatial/temporal parity skipped: ${native.nativeUnavailableReason()}`);

const TOLERANCE = 1e-5;

function peak(t: tb.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
}

function diff(a: tb.Tensor, b: tb.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

let controlCount = 0;
/** A control with a name no other test used. */
function control(name: string, value: number): tb.BendingParameter {
  return new tb.BendingParameter(`${name}_${controlCount++}`, value);
}

function blocks(shape: number[], n: number, seed = 1): tb.Tensor[] {
  return Array.from({ length: n }, (_, i) => tf.randomNormal(shape, 0, 1, "float32", seed + i));
}

/**
 * Runs `blocks` through the wasm pass and one compiled session, `values` set on the
 * callback's first control before each block: the outputs agree and the session is the same
 * one throughout (the structure key does not move with a control).
 */
async function expectParity(bended: tb.BendedModule, fn: string, callback: tb.BendingCallback, xs: tb.Tensor[], values: number[]): Promise<void> {
  const shapes = [xs[0].shape];
  expect(native.engineFor(bended, fn, shapes)).toMatchObject({ engine: "native" });
  const compiled = await native.compileMethod(bended, fn, shapes);
  const key = native.structureKey(bended, fn, shapes);
  const controls = callback.controls();
  if (values.length > 0) expect(controls.length, "a case with values has a control").toBeGreaterThan(0);
  try {
    for (const [i, x] of xs.entries()) {
      if (values.length > 0) controls[0].value = values[i % values.length];
      const expected = bended.call(fn, x) as tb.Tensor;
      const actual = compiled.run(x) as tb.Tensor;
      expect(actual.shape, `block ${i}`).toEqual(expected.shape);
      const p = peak(expected);
      expect(diff(actual, expected), `block ${i} of ${callback} (peak ${p})`).toBeLessThanOrEqual(TOLERANCE * Math.max(p, 1e-3));
      tf.dispose([expected, actual]);
    }
    expect(native.structureKey(bended, fn, shapes)).toBe(key);
  } finally {
    compiled.dispose();
    tf.dispose(xs);
  }
}

/**
 * The bending (its control at `value`) changes activation `name` on the wasm pass, so a
 * native output that equals the wasm one has applied it too (no case passes by doing nothing).
 */
function expectBends(bended: tb.BendedModule, fn: string, name: string, callback: tb.BendingCallback, shape: number[], value: number | undefined): void {
  if (value !== undefined) callback.controls()[0].value = value;
  const [x] = blocks(shape, 1, 99);
  const bent = bended.getActivations(`${name}_bended`, [x], { fn })[`${name}_bended`];
  const plain = bended.getActivations(name, [x], { fn, bended: false })[name];
  expect(diff(bent, plain), `${callback} changes ${name}`).toBeGreaterThan(1e-3 * peak(plain));
  tf.dispose([x, bent, plain]);
}

/** Feature maps worth bending: a conv's output (N, 6, H, W) feeds another conv. */
class Maps extends nn.Module {
  conv1 = new nn.Conv2d(2, 6, 3, { padding: 1 });
  act = new nn.Tanh();
  conv2 = new nn.Conv2d(6, 3, 3, { padding: 1 });
  override forward(x: tb.Tensor): tb.Tensor {
    return this.conv2.call(this.act.call(this.conv1.call(x))) as tb.Tensor;
  }
}

/** A time series worth bending: a conv's output (N, 5, L) feeds another conv. */
class Series extends nn.Module {
  conv1 = new nn.Conv1d(2, 5, 3, { padding: 1 });
  act = new nn.Tanh();
  conv2 = new nn.Conv1d(5, 2, 3, { padding: 1 });
  override forward(x: tb.Tensor): tb.Tensor {
    return this.conv2.call(this.act.call(this.conv1.call(x))) as tb.Tensor;
  }
}

// an odd length (no Nyquist bin), a batch of two
const SERIES_SHAPE = [2, 2, 37];

// non-square, batch of two (Invert works per batch item), odd width
const MAP_SHAPE = [2, 2, 12, 9];

describe.skipIf(!available)("native spatial and time callbacks", () => {
  let maps: tb.BendedModule;
  let series: tb.BendedModule;
  let audio: tb.BendedModule;

  beforeAll(async () => {
    await tb.ready();
    maps = new tb.BendedModule(new Maps().eval());
    const example = tf.zeros(MAP_SHAPE);
    maps.trace({ x: example });
    example.dispose();
    maps.clusterChannels("conv1", { k: 2, samples: 4, seed: 3 });
    series = new tb.BendedModule(new Series().eval());
    const frames = tf.zeros(SERIES_SHAPE);
    series.trace({ x: frames });
    frames.dispose();
    audio = await tb.load(join(root, "models/audio"));
    const latent = tf.zeros([1, 8, 4]);
    audio.trace("decode", [latent]);
    latent.dispose();
  });

  afterAll(() => {
    maps?.dispose();
    series?.dispose();
    audio?.dispose();
  });

  const spatialCases: [string, () => tb.BendingCallback, number[]][] = [
    ["Translate", () => new tb.Translate(control("dx", 0.25), 0.1), [0.25, -0.3, 0.55, 0]],
    ["Translate wrap", () => new tb.Translate(0.2, control("dy", -0.3), { wrap: true }), [-0.3, 0.45, 1.7, -1.2]],
    ["Rotate", () => new tb.Rotate(control("degrees", 30)), [30, 90, -135, 17.3]],
    ["Zoom", () => new tb.Zoom(control("factor", 1.5)), [1.5, 0.7, 2.3, 1]],
    ["Flip", () => new tb.Flip("xy", { channels: [1, 4] }), []],
    ["Flip x", () => new tb.Flip("x"), []],
    ["Erode", () => new tb.Erode(control("radius", 1)), [1, 2, 0, 5]],
    ["Dilate (a live fraction of channels)", () => new tb.Dilate(3, { fraction: control("fraction", 0.5), seed: 4 }), [0.5, 0.2, 1, 0]],
    ["Dilate", () => new tb.Dilate(control("radius", 2)), [2, 1, 32, 7]],
    ["Blur", () => new tb.Blur(control("sigma", 1)), [1, 0.4, 3, 0]],
    ["Blur (a cluster)", () => new tb.Blur(2, { cluster: "conv1:c0" }), []],
    ["Sharpen", () => new tb.Sharpen(control("amount", 1), { sigma: 1.5 }), [1, 2, -0.5, 0]],
    ["Sharpen sigma", () => new tb.Sharpen(0.8, { sigma: control("sigma", 1) }), [1, 0.3, 0, 2]],
    ["Invert", () => new tb.Invert(control("amount", 1), { channels: [0, 2, 3] }), [1, 0.5, 0, -0.7]],
    ["Warp", () => new tb.Warp(control("freq", 2), 0.05), [2, 3.5, 0, 1]],
    ["Warp amount", () => new tb.Warp(1.5, control("amount", 0.1)), [0.1, -0.2, 0.04, 0]],
    ["Rotate (a live fraction)", () => new tb.Rotate(45, { fraction: control("fraction", 0.5) }), [0.5, 0.34, 1, 0]],
  ];

  for (const [label, make, values] of spatialCases) {
    it(`${label}: native equals wasm, control moving between runs`, async () => {
      const callback = make();
      const handle = maps.bend(callback, "conv1");
      try {
        expectBends(maps, "forward", "conv1", callback, MAP_SHAPE, values[0]);
        await expectParity(maps, "forward", callback, blocks(MAP_SHAPE, 4), values);
      } finally {
        handle.remove();
      }
    });
  }

  const timeCases: [string, () => tb.BendingCallback, number[]][] = [
    ["TimeShift", () => new tb.TimeShift(control("shift", 3)), [3, -2, 0, 100]],
    ["TimeShift no wrap", () => new tb.TimeShift(control("shift", 2), { wrap: false }), [2, -3, 1, -50]],
    ["Stretch", () => new tb.Stretch(control("factor", 2)), [2, 0.5, 1.5, 1]],
    ["Stretch no wrap", () => new tb.Stretch(control("factor", 0.7), { wrap: false }), [0.7, 1.3, 3, 1]],
    ["Smear", () => new tb.Smear(control("amount", 0.5)), [0.5, 0.9, 0, 0.99]],
    ["Smear (a live fraction)", () => new tb.Smear(0.8, { fraction: control("fraction", 0.3), seed: 2 }), [0.3, 0.7, 0, 1]],
    ["Filter lowpass", () => new tb.Filter("lowpass", control("cutoff", 0.3), 0.7), [0.3, 0.8, 0.05, 1]],
    ["Filter highpass", () => new tb.Filter("highpass", 0.4, control("q", 2)), [2, 0.5, 5, 0.1]],
    ["Filter bandpass mix", () => new tb.Filter("bandpass", 0.5, 1, { mix: control("mix", 0.5) }), [0.5, 1, 0, 0.2]],
    ["Unphase", () => new tb.Unphase(control("amount", 1), { channels: [0, 2, 4], seed: 9 }), [1, 0.3, 0, -1]],
    ["Unphase all channels", () => new tb.Unphase(control("amount", 0.6)), [0.6, 1, 0.1, 2]],
  ];

  for (const [label, make, values] of timeCases) {
    it(`${label}: native equals wasm on an odd length, control moving`, async () => {
      const callback = make();
      const handle = series.bend(callback, "conv1");
      try {
        expectBends(series, "forward", "conv1", callback, SERIES_SHAPE, values[0]);
        await expectParity(series, "forward", callback, blocks(SERIES_SHAPE, 4), values);
      } finally {
        handle.remove();
      }
    });

    it(`${label}: native equals wasm over 4 streamed blocks of the audio decoder (L = 4, 64, 256), control moving`, async () => {
      const callback = make();
      const handle = audio.bend(callback, "decode:net_2_conv", "decode:net_7_conv1", "decode:net_11_act");
      try {
        expectBends(audio, "decode", "net_2_conv", callback, [1, 8, 4], values[0]);
        zoo.setStreaming(audio.module, true);
        await expectParity(audio, "decode", callback, blocks([1, 8, 4], 4), values);
      } finally {
        handle.remove();
        zoo.setStreaming(audio.module, false);
      }
    });
  }

  it("long blocks and large maps: Stretch, Filter and Warp stay within tolerance at L = 2048 and 128×96", async () => {
    const long = new tb.BendedModule(new Series().eval());
    const large = new tb.BendedModule(new Maps().eval());
    const [longShape, largeShape] = [[1, 2, 2048], [1, 2, 128, 96]];
    for (const [m, shape] of [[long, longShape], [large, largeShape]] as const) {
      const example = tf.zeros(shape);
      m.trace({ x: example });
      example.dispose();
    }
    const cases: [tb.BendedModule, number[], () => tb.BendingCallback, number[]][] = [
      [long, longShape, () => new tb.Stretch(control("factor", 1.37)), [1.37, 0.61]],
      [long, longShape, () => new tb.Filter("bandpass", control("cutoff", 0.2), 20), [0.2, 0.05]],
      [large, largeShape, () => new tb.Warp(3.3, control("amount", 0.07)), [0.07, -0.13]],
    ];
    try {
      for (const [m, shape, make, values] of cases) {
        const callback = make();
        const handle = m.bend(callback, "conv1");
        await expectParity(m, "forward", callback, blocks(shape, 2), values);
        handle.remove();
      }
    } finally {
      long.dispose();
      large.dispose();
    }
  });

  it("keeps tf.memory flat over many native runs with spatial and time controls moving", async () => {
    const angle = control("angle", 10);
    const shift = control("shift", 1);
    const handles = [maps.bend(new tb.Rotate(angle, { fraction: angle.times(0.01) }), "conv1"), series.bend(new tb.Stretch(shift.times(0.1).plus(1)), "conv1")];
    const [image, frames] = [tf.randomNormal(MAP_SHAPE), tf.randomNormal(SERIES_SHAPE)];
    const compiled = [await native.compileMethod(maps, "forward", [MAP_SHAPE]), await native.compileMethod(series, "forward", [SERIES_SHAPE])];
    try {
      const runs = (from: number) => {
        for (let i = from; i < from + 50; i++) {
          angle.value = i % 90;
          shift.value = i % 7;
          tf.dispose([compiled[0].run(image) as tb.Tensor, compiled[1].run(frames) as tb.Tensor]);
        }
      };
      runs(0);
      const before = tf.memory().numTensors;
      runs(50);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      compiled.forEach((c) => c.dispose());
      tf.dispose([image, frames]);
      handles.forEach((h) => h.remove());
    }
  });

  it("new channel clusters make a new structure (the cluster's channels are compiled in)", () => {
    const handle = maps.bend(new tb.Blur(1, { cluster: "conv1:c1" }), "conv1");
    try {
      const before = native.structureKey(maps, "forward", [MAP_SHAPE]);
      maps.clusterChannels("conv1", { k: 3, samples: 4, seed: 8 });
      expect(native.structureKey(maps, "forward", [MAP_SHAPE])).not.toBe(before);
    } finally {
      handle.remove();
    }
  });
});
