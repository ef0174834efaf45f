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

describe("F.leakyRelu (branch-free above 4096 values)", () => {
  it("gives tfjs's LeakyReLU values for every slope, size and special value, without leaking", () => {
    const special = [Number.NaN, 0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45, -1e-45, 3, -3];
    for (const size of [100, 5000, 32 * 8192]) {
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = i < special.length ? special[i] : Math.sin(i * 12.9898) * 43758.5453 % 4;
      const x = tf.tensor(data, [1, 1, size]);
      for (const slope of [0, 0.01, 0.2, 1, 1.5, -0.5]) {
        tf.dispose([tb.F.leakyRelu(x, slope), tf.leakyRelu(x, slope)]); // what a first call keeps is not counted
        const before = tf.memory().numTensors;
        const ours = tb.F.leakyRelu(x, slope);
        const theirs = tf.leakyRelu(x, slope);
        const [a, b] = [ours.dataSync(), theirs.dataSync()];
        for (let i = 0; i < size; i++) {
          // equal values; a zero may lose its sign
          if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) throw new Error(`slope ${slope}, x[${i}] = ${data[i]}: ${a[i]} ≠ ${b[i]}`);
        }
        tf.dispose([ours, theirs]);
        expect(tf.memory().numTensors).toBe(before);
      }
      x.dispose();
    }
  });
});
