// The fast wasm tanh kernel: accurate, leak-free, and tfjs's own can be restored.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;

describe("fast tanh on wasm", () => {
  it("matches Math.tanh within 3e-7 over a wide range, without leaking", () => {
    const values = Array.from({ length: 4001 }, (_, i) => (i - 2000) / 100); // -20 .. 20
    const x = tf.tensor(values);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) tf.tanh(x).dispose();
    expect(tf.memory().numTensors).toBe(before);
    const y = tf.tanh(x).dataSync();
    let worst = 0;
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(y[i] - Math.tanh(v)))));
    expect(worst).toBeLessThan(3e-7);
    tb.unregisterFastTanh();
    const own = tf.tanh(x).dataSync();
    tb.registerFastTanh();
    values.forEach((v, i) => expect(Math.abs(own[i] - y[i])).toBeLessThan(3e-7));
  });
});

describe("in-place Concat and Slice on wasm", () => {
  // A seeded generator: the same shapes every run, so that a failure can be reproduced.
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const between = (a: number, b: number) => a + Math.floor(next() * (b - a + 1));
  const randomShape = (rank: number) => Array.from({ length: rank }, () => between(1, rank > 4 ? 4 : 12));
  const withOwnKernels = <T>(run: () => T): T => {
    tb.unregisterFastCopies();
    try {
      return run();
    } finally {
      tb.registerFastCopies();
    }
  };

  it("slices exactly as tfjs's own kernel, for every rank and dtype", () => {
    for (let trial = 0; trial < 200; trial++) {
      const shape = randomShape(between(1, 6));
      const dtype = (["float32", "int32", "bool"] as const)[trial % 3];
      const x = tf.tidy(() => tf.cast(tf.mul(tf.randomNormal(shape), 100), dtype));
      const begin = shape.map((s) => between(0, s - 1));
      const size = shape.map((s, i) => (trial % 7 === 0 && i === 0 ? -1 : between(1, s - begin[i])));
      const ours = tf.tidy(() => tf.slice(x, begin, size).arraySync());
      const theirs = withOwnKernels(() => tf.tidy(() => tf.slice(x, begin, size).arraySync()));
      expect(ours, `slice of [${shape}] at [${begin}] size [${size}] (${dtype})`).toEqual(theirs);
      x.dispose();
    }
  });

  it("concatenates exactly as tfjs's own kernel, along every axis, keeping NaN and -0 bits", () => {
    for (let trial = 0; trial < 200; trial++) {
      const rank = between(1, 5);
      const shape = randomShape(rank);
      const axis = between(0, rank - 1);
      const dtype = (["float32", "int32", "bool"] as const)[trial % 3];
      const parts = Array.from({ length: between(2, 4) }, (_, i) => tf.tidy(() => {
        const part = tf.randomNormal(shape.map((s, d) => (d === axis ? (i === 1 && trial % 5 === 0 ? 0 : between(1, 5)) : s)));
        return tf.cast(tf.mul(part, 100), dtype);
      }));
      const ours = tf.tidy(() => tf.concat(parts, axis).arraySync());
      const theirs = withOwnKernels(() => tf.tidy(() => tf.concat(parts, axis).arraySync()));
      expect(ours, `concat of [${parts.map((p) => `[${p.shape}]`)}] along ${axis} (${dtype})`).toEqual(theirs);
      tf.dispose(parts);
    }
    const special = tf.tensor3d([NaN, -0, Infinity, -Infinity], [1, 2, 2]);
    const joined = tf.concat([special, special], 2);
    const bits = new Uint32Array(joined.dataSync().buffer.slice(0));
    const source = new Uint32Array(special.dataSync().buffer.slice(0));
    expect([...bits]).toEqual([source[0], source[1], source[0], source[1], source[2], source[3], source[2], source[3]]);
    const cut = tf.slice(joined, [0, 0, 1], [1, 2, 2]);
    expect([...new Uint32Array(cut.dataSync().buffer.slice(0))]).toEqual([source[1], source[0], source[3], source[2]]);
    tf.dispose([special, joined, cut]);
  });

  it("leaves no tensor behind, and can give tfjs's kernels back", () => {
    const x = tf.randomNormal([1, 1536, 3]);
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let i = 0; i < 20; i++) tf.tidy(() => { tf.slice(tf.concat([x, x], 2), [0, 0, 2], [-1, -1, 3]).dataSync(); });
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytes);
    const ours = tf.getKernel("Concat", "wasm")!.kernelFunc;
    tb.unregisterFastCopies();
    expect(tf.getKernel("Concat", "wasm")!.kernelFunc).not.toBe(ours);
    expect(tb.registerFastCopies()).toBe(true);
    x.dispose();
  });
});
