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
      const minusOne = trial % 7 === 0 ? between(0, shape.length - 1) : -1;
      const size = shape.map((s, i) => (i === minusOne ? -1 : between(1, s - begin[i])));
      const ours = tf.tidy(() => tf.slice(x, begin, size).arraySync());
      const theirs = withOwnKernels(() => tf.tidy(() => tf.slice(x, begin, size).arraySync()));
      expect(ours, `slice of [${shape}] at [${begin}] size [${size}] (${dtype})`).toEqual(theirs);
      x.dispose();
    }
  });

  it("slices long rows (copied natively) exactly, and refuses out-of-range slices instead of reading other tensors", () => {
    const x = tf.randomNormal([3, 5, 100]);
    for (const [begin, size] of [[[0, 1, 3], [3, 3, 90]], [[1, 0, 0], [2, 5, 100]], [[2, 4, 50], [1, 1, 50]], [[0, 0, 60], [3, 5, 40]]]) {
      const ours = tf.tidy(() => tf.slice(x, begin, size).arraySync());
      expect(ours, `[${begin}] size [${size}]`).toEqual(withOwnKernels(() => tf.tidy(() => tf.slice(x, begin, size).arraySync())));
    }
    const before = tf.memory().numTensors;
    expect(() => tf.slice(x, [0, 0, 50], [3, 5, 60])).toThrow(/overflow/);
    expect(() => tf.slice(x, [0, -2, 0], [1, 2, 10])).toThrow(/negative/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it("copies the right words above 2 GiB of wasm memory", async () => {
    // a child process: it reserves 2.2 GB of wasm memory (untouched, so barely resident) so that
    // its tensors sit past 2^31 bytes, where a signed offset would turn negative
    const { spawnSync } = await import("node:child_process");
    const entry = new URL("../dist/index.js", import.meta.url).href;
    const script = `
const tb = await import(${JSON.stringify(entry)});
const { tf } = tb;
const reserved = tf.backend().wasm._malloc(2_240_000_000);
const x = tf.tensor3d(Array.from({ length: 240 }, (_, i) => i), [2, 3, 40]);
const offset = tf.backend().dataIdMap.get(x.dataId).memoryOffset >>> 0;
const run = () => [tf.concat([x, x], 2), tf.slice(x, [0, 1, 3], [2, 2, 2]), tf.slice(x, [1, 0, 0], [1, 3, 40]), tf.slice(x, [0, 0, 1], [2, 3, 39])].map((t) => Array.from(t.dataSync()));
const ours = run();
tb.unregisterFastCopies();
console.log(JSON.stringify({ offset, ours, theirs: run() }));
tf.backend().wasm._free(reserved);`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, TFBEND_BACKEND: "wasm", TFBEND_THREADS: "1" } });
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!);
    expect(result.offset).toBeGreaterThanOrEqual(2 ** 31);
    expect(result.ours).toEqual(result.theirs);
    expect(result.ours[1]).toEqual([43, 44, 83, 84, 163, 164, 203, 204]);
  }, 60_000);

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
    // checked on every input, empty ones too, as tfjs's kernel does
    const a = tf.ones([2, 2]);
    expect(() => tf.concat([tf.zeros([5, 0]), a, a], 1)).toThrow(/shape/i);
    expect(tf.concat([tf.zeros([2, 0], "int32"), a.toInt(), a.toInt()], 1).dtype).toBe("int32");
    a.dispose();
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
