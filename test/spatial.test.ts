// Spatial bendings of (N, C, H, W) feature maps: each against a hand-computed small case,
// neutral settings returning the very input, channel selections, JSON round trips, live
// controls taking effect on the next pass, and memory flat over many passes.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;

/** A module whose activation `maps` is its input unchanged (an eval-mode dropout). */
class Maps extends tb.nn.Module {
  maps = new tb.nn.Dropout(0.5);
  override forward(x: tb.Tensor): tb.Tensor {
    return this.maps.call(x) as tb.Tensor;
  }
}

function bendedMaps(shape: number[]): { bended: tb.BendedModule; x: tb.Tensor } {
  const bended = new tb.BendedModule(new Maps().eval());
  const x = tf.randomNormal(shape, 0, 1, "float32", 3);
  bended.trace({ x });
  return { bended, x };
}

/** One pass, its output disposed unless it is the input itself (Maps passes its input on at neutral settings). */
function pass(bended: tb.BendedModule, x: tb.Tensor): void {
  const out = bended.forward(x);
  if (out !== x) out.dispose();
}

/** The callback applied once to `x` (N, C, H, W) given as nested arrays; returns nested arrays. */
function run(callback: tb.BendingCallback, x: number[][][][]): number[][][][] {
  const input = tf.tensor4d(x);
  const target: tb.BendingTarget = { kind: "activation", name: "maps", fn: "forward", shape: input.shape, seed: 1 };
  const state = callback.init(target);
  const out = tf.tidy(() => callback.apply(input, state, target));
  const values = out.arraySync() as number[][][][];
  callback.disposeState(state);
  tf.dispose([input, out]);
  return values;
}

/** An h×w map, zero but for `ones` ([row, column] pairs). */
function map(h: number, w: number, ones: [number, number][], value = 1): number[][] {
  const m = Array.from({ length: h }, () => new Array<number>(w).fill(0));
  for (const [r, c] of ones) m[r][c] = value;
  return m;
}

function close(a: number[][], b: number[][], tolerance = 1e-5): void {
  expect(a.length).toBe(b.length);
  a.forEach((row, r) => row.forEach((v, c) => expect(Math.abs(v - b[r][c])).toBeLessThanOrEqual(tolerance)));
}

describe("spatial transforms on hand-computed cases", () => {
  it("Translate moves a one-hot by fractions of the map, with zeros or wrapping at the edges", () => {
    const x = [[map(4, 4, [[1, 3]])]];
    close(run(new tb.Translate(-0.25, 0.5), x)[0][0], map(4, 4, [[3, 2]]));
    close(run(new tb.Translate(0.25, 0), x)[0][0], map(4, 4, []));
    close(run(new tb.Translate(0.25, 0, { wrap: true }), x)[0][0], map(4, 4, [[1, 0]]));
  });

  it("Translate by half a pixel spreads a one-hot over two pixels", () => {
    const out = run(new tb.Translate(0.125, 0), [[map(4, 4, [[2, 1]])]])[0][0];
    close(out, map(4, 4, [[2, 1], [2, 2]], 0.5));
  });

  it("Rotate turns a one-hot counterclockwise about the centre; quarter turns are exact", () => {
    const x = [[map(5, 5, [[0, 2]])]];
    expect(run(new tb.Rotate(90), x)[0][0]).toEqual(map(5, 5, [[2, 0]]));
    expect(run(new tb.Rotate(-90), x)[0][0]).toEqual(map(5, 5, [[2, 4]]));
    expect(run(new tb.Rotate(180), x)[0][0]).toEqual(map(5, 5, [[4, 2]]));
    // 45°: the top-centre pixel (2 above the centre) lands √2 up and √2 left, between pixels
    const turned = run(new tb.Rotate(45), [[map(5, 5, [[0, 2]])]])[0][0];
    const total = turned.flat().reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0.99);
    expect(turned[0][0] + turned[0][1] + turned[1][0] + turned[1][1]).toBeCloseTo(total, 5);
  });

  it("Zoom scales about the centre", () => {
    // a pixel one right of the centre of a 5×5 moves two right at factor 2
    expect(run(new tb.Zoom(2), [[map(5, 5, [[2, 3]])]])[0][0][2][4]).toBeCloseTo(1, 6);
    // zooming out by 2 brings the corner pixel halfway to the centre
    expect(run(new tb.Zoom(0.5), [[map(5, 5, [[0, 0]])]])[0][0][1][1]).toBeCloseTo(1, 6);
  });

  it("Flip mirrors along x, y or both", () => {
    const x = [[[[1, 2], [3, 4]]]];
    expect(run(new tb.Flip("x"), x)[0][0]).toEqual([[2, 1], [4, 3]]);
    expect(run(new tb.Flip("y"), x)[0][0]).toEqual([[3, 4], [1, 2]]);
    expect(run(new tb.Flip("xy"), x)[0][0]).toEqual([[4, 3], [2, 1]]);
  });

  it("Erode shrinks a 3×3 square to its centre; Dilate grows a dot to a square", () => {
    const square = map(7, 7, [[2, 2], [2, 3], [2, 4], [3, 2], [3, 3], [3, 4], [4, 2], [4, 3], [4, 4]]);
    expect(run(new tb.Erode(1), [[square]])[0][0]).toEqual(map(7, 7, [[3, 3]]));
    expect(run(new tb.Dilate(1), [[map(7, 7, [[3, 3]])]])[0][0]).toEqual(square);
    // at the border only what is inside counts: a full map stays full
    const ones = map(3, 3, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]]);
    expect(run(new tb.Erode(1), [[ones]])[0][0]).toEqual(ones);
  });

  it("Blur spreads a dot as a normalised Gaussian and keeps a flat map flat", () => {
    const out = run(new tb.Blur(1), [[map(9, 9, [[4, 4]])]])[0][0];
    const g = [-1, 0, 1].map((d) => Math.exp(-(d * d) / 2));
    const norm = [-3, -2, -1, 0, 1, 2, 3].map((d) => Math.exp(-(d * d) / 2)).reduce((a, b) => a + b, 0);
    expect(out[4][4]).toBeCloseTo((g[1] / norm) ** 2, 5);
    expect(out[4][5]).toBeCloseTo((g[1] / norm) * (g[2] / norm), 5);
    expect(out.flat().reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const flat = run(new tb.Blur(2), [[map(4, 4, [], 0).map((r) => r.map(() => 3))]])[0][0];
    flat.flat().forEach((v) => expect(v).toBeCloseTo(3, 5));
  });

  it("Sharpen adds amount times the detail lost to a blur", () => {
    const x = [[map(9, 9, [[4, 4]])]];
    const blurred = run(new tb.Blur(1), x)[0][0];
    const sharp = run(new tb.Sharpen(2, { sigma: 1 }), x)[0][0];
    expect(sharp[4][4]).toBeCloseTo(1 + 2 * (1 - blurred[4][4]), 5);
    expect(sharp[4][5]).toBeCloseTo(-2 * blurred[4][5], 5);
  });

  it("Invert mirrors each channel about its own range, per batch item", () => {
    const x = [[[[0, 1], [2, 4]], [[-1, -1], [3, 1]]], [[[5, 5], [5, 6]], [[0, 0], [0, 0]]]];
    expect(run(new tb.Invert(), x)).toEqual([[[[4, 3], [2, 0]], [[3, 3], [-1, 1]]], [[[6, 6], [6, 5]], [[0, 0], [0, 0]]]]);
    expect(run(new tb.Invert(0.5), x)[0][0]).toEqual([[2, 2], [2, 2]]);
  });

  it("Warp displaces by a sine across the other axis", () => {
    // freq 1, amount 1/8 of an 8-wide map: row 2 (a quarter period) reads one pixel to the right
    const x = [[Array.from({ length: 8 }, () => [0, 1, 2, 3, 4, 5, 6, 7])]];
    const out = run(new tb.Warp(1, 0.125), x)[0][0];
    expect(out[2][3]).toBeCloseTo(4, 5);
    expect(out[0][3]).toBeCloseTo(3, 5); // sin(0) = 0
    expect(out[6][3]).toBeCloseTo(2, 5); // three quarters: one pixel to the left
  });
});

describe("neutral settings and channel selection", () => {
  it("returns the very input tensor at neutral settings", () => {
    const x = tf.randomNormal([1, 3, 5, 5]);
    const target: tb.BendingTarget = { kind: "activation", name: "maps", fn: "forward", shape: x.shape, seed: 1 };
    const neutral = [new tb.Translate(0, 0), new tb.Rotate(0), new tb.Rotate(360), new tb.Zoom(1), new tb.Erode(0), new tb.Dilate(0),
      new tb.Blur(0), new tb.Sharpen(0), new tb.Invert(0), new tb.Warp(0, 0.3), new tb.Warp(2, 0), new tb.Translate(0.3, 0, { fraction: 0 })];
    for (const c of neutral) {
      const state = c.init(target);
      expect(c.apply(x, state, target), String(c)).toBe(x);
      c.disposeState(state);
    }
    x.dispose();
  });

  it("bends only the selected channels; the others keep their exact values", () => {
    const x = tf.randomNormal([2, 4, 5, 5], 0, 1, "float32", 9);
    const input = x.arraySync() as number[][][][];
    const out = run(new tb.Flip("x", { channels: [1, 3] }), input);
    for (const b of [0, 1]) {
      expect(out[b][0]).toEqual(input[b][0]);
      expect(out[b][2]).toEqual(input[b][2]);
      expect(out[b][1]).toEqual(input[b][1].map((r) => [...r].reverse()));
      expect(out[b][3]).toEqual(input[b][3].map((r) => [...r].reverse()));
    }
    x.dispose();
  });

  it("a fraction bends round(fraction·C) channels, the same ones for the same seed, growing as it moves", () => {
    const x = tf.randomNormal([1, 10, 4, 4], 0, 1, "float32", 9);
    const input = x.arraySync() as number[][][][];
    const changed = (fraction: number, seed: number) => {
      const out = run(new tb.Invert(1, { fraction, seed }), input);
      return out[0].map((m, c) => JSON.stringify(m) !== JSON.stringify(input[0][c])).flatMap((d, c) => (d ? [c] : []));
    };
    expect(changed(0.3, 5)).toHaveLength(3);
    expect(changed(0.3, 5)).toEqual(changed(0.3, 5));
    expect(changed(0.6, 5)).toEqual(expect.arrayContaining(changed(0.3, 5)));
    x.dispose();
  });

  it("refuses weights, other ranks, two selections and channels the activation lacks", () => {
    const { bended } = bendedMaps([1, 3, 4, 4]);
    expect(() => new tb.Flip("x", { channels: [0], fraction: 0.5 })).toThrow(/one of channels, cluster, fraction/);
    expect(() => bended.bend(new tb.Flip("x", { channels: [5] }), "maps")).toThrow(/selects channel 5.*3 channels/);
    expect(() => bended.bend(new tb.Flip("x", { cluster: "nope:c0" }), "maps")).toThrow(/no channel cluster 'nope:c0'/);
    const flat = bendedMaps([2, 3, 8]);
    expect(() => flat.bended.bend(new tb.Rotate(10), "maps")).toThrow(/\(N, C, H, W\)/);
    expect(new tb.Rotate(10).weightCompatible).toBe(false);
  });
});

describe("spatial bendings in a bended module", () => {
  const all = (): tb.BendingCallback[] => [
    new tb.Translate(0.1, -0.2, { wrap: true }), new tb.Rotate(30, { channels: [0, 2] }), new tb.Zoom(1.5), new tb.Flip("y"),
    new tb.Erode(1, { fraction: 0.5, seed: 3 }), new tb.Dilate(2), new tb.Blur(0.8), new tb.Sharpen(1.5, { sigma: 0.7 }),
    new tb.Invert(0.7), new tb.Warp(3, 0.05),
  ];

  it("each round-trips through JSON to the same repr and output", () => {
    const { bended, x } = bendedMaps([1, 3, 8, 8]);
    for (const c of all()) {
      const json = JSON.parse(JSON.stringify(c.toJSON()));
      const back = tb.callbackFromJSON(json, (p) => new tb.BendingParameter(p.control, p.value));
      expect(String(back)).toBe(String(c));
      expect(back.equals(c)).toBe(true);
      bended.bend(c, "maps");
      const a = bended.forward(x);
      bended.reset();
      bended.bend(back, "maps");
      const b = bended.forward(x);
      bended.reset();
      expect(Array.from(b.dataSync()), String(c)).toEqual(Array.from(a.dataSync()));
      expect(Array.from(a.dataSync())).not.toEqual(Array.from(x.dataSync()));
      tf.dispose([a, b]);
    }
  });

  it("a live control change takes effect on the next pass, and saves as the control", () => {
    const { bended, x } = bendedMaps([1, 2, 5, 5]);
    const angle = new tb.BendingParameter("angle", 0);
    bended.bend(new tb.Rotate(angle), "maps");
    const still = bended.forward(x);
    expect(still).toBe(x); // Rotate(0) passes the very tensor on
    bended.update("angle", 90);
    const turned = bended.forward(x);
    const expected = tf.tidy(() => tf.reverse(tf.transpose(x, [0, 1, 3, 2]), [2]));
    expect(Array.from(turned.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(new tb.Rotate(angle).toJSON().args.degrees).toMatchObject({ control: "angle", value: 90 });
    tf.dispose([turned, expected]);
  });

  it("a live fraction control changes how many channels the next pass bends", () => {
    const { bended, x } = bendedMaps([1, 8, 4, 4]);
    const share = new tb.BendingParameter("share", 0.25, { range: [0, 1] });
    bended.bend(new tb.Invert(1, { fraction: share, seed: 6 }), "maps");
    const bentChannels = (): number => {
      const out = bended.forward(x);
      const [a, b] = [out.arraySync(), x.arraySync()] as number[][][][][];
      if (out !== x) out.dispose();
      return a[0].filter((m, c) => JSON.stringify(m) !== JSON.stringify(b[0][c])).length;
    };
    expect(bentChannels()).toBe(2);
    bended.update("share", 0.75);
    expect(bentChannels()).toBe(6);
    bended.update("share", 0);
    expect(bentChannels()).toBe(0);
  });

  it("keeps tf.memory().numTensors flat over 1,000 passes while controls move", () => {
    const { bended, x } = bendedMaps([1, 4, 16, 16]);
    const move = new tb.BendingParameter("move", 0.1);
    bended.bend(new tb.Translate(move, move), "maps");
    bended.bend(new tb.Rotate(move.times(100), { fraction: 0.5, seed: 2 }), "maps");
    bended.bend(new tb.Warp(2, move), "maps");
    bended.bend(new tb.Blur(move.times(10)), "maps");
    pass(bended, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      bended.update("move", (i % 7) / 20);
      pass(bended, x);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
