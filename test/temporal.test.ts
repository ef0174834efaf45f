// Time and spectrum bendings of (N, C, L) activations: each against a hand-computed case,
// neutral settings returning the very input, JSON round trips, live controls and memory.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;

/** A module whose activation `frames` is its input unchanged (an eval-mode dropout). */
class Frames extends tb.nn.Module {
  frames = new tb.nn.Dropout(0.5);
  override forward(x: tb.Tensor): tb.Tensor {
    return this.frames.call(x) as tb.Tensor;
  }
}

/** The callback applied once to `x` (N, C, L) as nested arrays. */
function run(callback: tb.BendingCallback, x: number[][][], seed = 1): number[][][] {
  const input = tf.tensor3d(x);
  const target: tb.BendingTarget = { kind: "activation", name: "frames", fn: "forward", shape: input.shape, seed };
  const state = callback.init(target);
  const out = tf.tidy(() => callback.apply(input, state, target));
  const values = out.arraySync() as number[][][];
  callback.disposeState(state);
  tf.dispose([input, out]);
  return values;
}

const ramp = (l: number) => Array.from({ length: l }, (_, t) => t);
const cosine = (l: number, k: number) => Array.from({ length: l }, (_, t) => Math.cos((2 * Math.PI * k * t) / l));

function close(a: number[], b: number[], tolerance = 1e-4): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]), `at ${i}: ${v} vs ${b[i]}`).toBeLessThanOrEqual(tolerance));
}

/** |DFT| of a real sequence, bins 0..L/2. */
function magnitudes(x: number[]): number[] {
  const l = x.length;
  return Array.from({ length: Math.floor(l / 2) + 1 }, (_, k) => {
    let re = 0;
    let im = 0;
    x.forEach((v, t) => {
      re += v * Math.cos((2 * Math.PI * k * t) / l);
      im -= v * Math.sin((2 * Math.PI * k * t) / l);
    });
    return Math.hypot(re, im);
  });
}

describe("time and spectrum transforms on hand-computed cases", () => {
  it("TimeShift rolls the block, or lets zeros in", () => {
    expect(run(new tb.TimeShift(2), [[ramp(6)]])[0][0]).toEqual([4, 5, 0, 1, 2, 3]);
    expect(run(new tb.TimeShift(-1), [[ramp(6)]])[0][0]).toEqual([1, 2, 3, 4, 5, 0]);
    expect(run(new tb.TimeShift(2, { wrap: false }), [[ramp(6)]])[0][0]).toEqual([0, 0, 0, 1, 2, 3]);
    expect(run(new tb.TimeShift(-2, { wrap: false }), [[ramp(6)]])[0][0]).toEqual([2, 3, 4, 5, 0, 0]);
  });

  it("Stretch reads frame t at t / factor", () => {
    close(run(new tb.Stretch(2), [[ramp(8)]])[0][0], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
    close(run(new tb.Stretch(0.5), [[ramp(8)]])[0][0], [0, 2, 4, 6, 0, 2, 4, 6]);
    close(run(new tb.Stretch(0.5, { wrap: false }), [[ramp(8)]])[0][0], [0, 2, 4, 6, 7, 7, 7, 7]);
  });

  it("Smear is a one-pole smoothing that keeps a constant constant", () => {
    const out = run(new tb.Smear(0.5), [[[0, 4, 4, 0], [3, 3, 3, 3]]])[0];
    close(out[0], [0, 2, 3, 1.5]);
    close(out[1], [3, 3, 3, 3]);
  });

  it("Filter multiplies each frequency by the second-order gain", () => {
    const l = 32;
    for (const kind of ["lowpass", "highpass", "bandpass"] as const) {
      for (const k of [1, 4, 12]) {
        const out = run(new tb.Filter(kind, 0.25, 2), [[cosine(l, k)]])[0][0];
        const gain = tb.filterGain(kind, (2 * k) / l / 0.25, 2);
        close(out, cosine(l, k).map((v) => v * gain));
      }
    }
    // mix blends with the input
    const half = run(new tb.Filter("lowpass", 0.1, 1, { mix: 0.5 }), [[cosine(l, 12)]])[0][0];
    const gain = tb.filterGain("lowpass", 24 / l / 0.1, 1);
    close(half, cosine(l, 12).map((v) => v * (0.5 + 0.5 * gain)));
  });

  it("Unphase keeps every frequency's magnitude, changes the signal, and is the same for the same seed", () => {
    const x = Array.from({ length: 24 }, (_, t) => Math.sin(t * 0.7) + 0.3 * Math.cos(t * 2.1) + (t % 5) / 5);
    const out = run(new tb.Unphase(1), [[x]])[0][0];
    close(magnitudes(out), magnitudes(x), 1e-3);
    expect(Math.max(...out.map((v, t) => Math.abs(v - x[t])))).toBeGreaterThan(0.1);
    expect(run(new tb.Unphase(1), [[x]])[0][0]).toEqual(out);
    expect(run(new tb.Unphase(1), [[x]], 2)[0][0]).not.toEqual(out);
  });
});

describe("time bendings: neutral settings, selection, JSON, controls, memory", () => {
  it("returns the very input tensor at neutral settings", () => {
    const x = tf.randomNormal([1, 3, 16]);
    const target: tb.BendingTarget = { kind: "activation", name: "frames", fn: "forward", shape: x.shape, seed: 1 };
    for (const c of [new tb.TimeShift(0), new tb.Stretch(1), new tb.Smear(0), new tb.Filter("highpass", 0.3, 1, { mix: 0 }), new tb.Unphase(0)]) {
      const state = c.init(target);
      expect(c.apply(x, state, target), String(c)).toBe(x);
      c.disposeState(state);
    }
    x.dispose();
  });

  it("bends only the selected channels and refuses feature maps", () => {
    const out = run(new tb.TimeShift(1, { channels: [1] }), [[ramp(4), ramp(4), ramp(4)]])[0];
    expect(out).toEqual([[0, 1, 2, 3], [3, 0, 1, 2], [0, 1, 2, 3]]);
    const bended = new tb.BendedModule(new Frames().eval());
    bended.trace({ x: tf.zeros([1, 2, 4, 4]) });
    expect(() => bended.bend(new tb.Smear(0.5), "frames")).toThrow(/\(N, C, L\)/);
    // the matrix callbacks refuse, at bend time, blocks longer than their matrix allows
    bended.trace({ x: tf.zeros([1, 2, tb.MAX_MATRIX_LENGTH + 1]) });
    expect(() => bended.bend(new tb.Filter("lowpass", 0.5, 1), "frames")).toThrow(/at most 2048 frames/);
    expect(bended.bend(new tb.TimeShift(3), "frames").targets).toEqual(["frames"]);
  });

  it("round-trips through JSON, follows a live control on the next pass, and keeps memory flat", () => {
    const bended = new tb.BendedModule(new Frames().eval());
    const x = tf.randomNormal([1, 4, 64], 0, 1, "float32", 4);
    bended.trace({ x });
    const cutoff = new tb.BendingParameter("cutoff", 0.5, { range: [0.001, 1] });
    const callbacks = [new tb.TimeShift(3, { wrap: false }), new tb.Stretch(1.3), new tb.Smear(0.4, { fraction: 0.5, seed: 8 }),
      new tb.Filter("bandpass", cutoff, 3), new tb.Unphase(0.5, { seed: 11 })];
    for (const c of callbacks) {
      const back = tb.callbackFromJSON(JSON.parse(JSON.stringify(c.toJSON())), () => cutoff);
      expect(String(back)).toBe(String(c));
      expect(back.equals(c)).toBe(true);
    }
    bended.bend(callbacks[3], "frames");
    const a = bended.forward(x);
    bended.update("cutoff", 0.1);
    const b = bended.forward(x);
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
    for (const c of [callbacks[0], callbacks[1], callbacks[2], callbacks[4]]) bended.bend(c, "frames");
    tf.dispose(bended.forward(x));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) {
      bended.update("cutoff", 0.05 + (i % 9) / 10);
      tf.dispose(bended.forward(x));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
