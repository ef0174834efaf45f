// Shared by the native parity suites: streams blocks through the wasm pass and a compiled
// session and expects them within 1e-5 of the peak, block by block.
import { join } from "node:path";
import { expect } from "vitest";
import * as tb from "tfbend";

const { tf, native } = tb;
export const root = join(import.meta.dirname, "..");

export const TOLERANCE = 1e-5;

export function peak(t: tb.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
}

export function diff(a: tb.Tensor, b: tb.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function noise(shape: number[], seed: number): tb.Tensor {
  return tf.randomNormal(shape, 0, 1, "float32", seed);
}

export function blocks(shape: number[], n: number, seed = 1): tb.Tensor[] {
  return Array.from({ length: n }, (_, i) => noise(shape, seed + i));
}

/** Expects `actual` within TOLERANCE of `expected`'s peak (1e-3 at least), naming the block. */
export function expectClose(actual: tb.Tensor, expected: tb.Tensor, label: string): void {
  expect(actual.shape, label).toEqual(expected.shape);
  const p = peak(expected);
  expect(diff(actual, expected), `${label} (peak ${p})`).toBeLessThanOrEqual(TOLERANCE * Math.max(p, 1e-3));
}

/** Streams `blocks` through the wasm pass and a compiled session; `between` runs before each block. */
export async function expectStreamParity(
  bended: tb.BendedModule, fn: string, xs: tb.Tensor[], between: (i: number) => void = () => undefined,
  options: tb.native.CompileOptions = {},
): Promise<tb.native.CompiledMethod> {
  const compiled = await native.compileMethod(bended, fn, [xs[0].shape], options);
  for (const [i, x] of xs.entries()) {
    between(i);
    const expected = bended.call(fn, x) as tb.Tensor;
    const actual = compiled.run(x) as tb.Tensor;
    expectClose(actual, expected, `block ${i} of ${fn}`);
    tf.dispose([expected, actual]);
  }
  return compiled;
}

/**
 * Streams a TorchScript fixture on two loads with one seed, wasm on one and native on the
 * other, so that both draw the same random numbers; returns the session's state count.
 * `xs` defaults to 3 blocks of the method's example shape.
 */
export async function expectTwinParity(name: string, fn: string, given?: tb.Tensor[]): Promise<number> {
  const file = join(root, `test/fixtures/torchscript/${name}.ts`);
  const [wasmTwin, nativeTwin] = await Promise.all([1, 2].map(() => tb.load(file, { seed: 5 })));
  const shape = nativeTwin.exampleShapes.get(fn)?.[0];
  if (given === undefined && shape === undefined) throw new Error(`${name}.${fn} has no example shape: give the blocks`);
  const xs = given ?? blocks(shape!, 3);
  const compiled = await native.compileMethod(nativeTwin, fn, [xs[0].shape]);
  const example = tf.zeros(xs[0].shape);
  wasmTwin.trace(fn, [example]); // compiling traced the method once, which may draw: so does the twin
  example.dispose();
  for (const [i, x] of xs.entries()) {
    const expected = wasmTwin.call(fn, x) as tb.Tensor;
    const actual = compiled.run(x) as tb.Tensor;
    expectClose(actual, expected, `block ${i} of ${name}.${fn}`);
    tf.dispose([expected, actual]);
  }
  const states = compiled.stateShapes.length;
  compiled.dispose();
  wasmTwin.dispose();
  nativeTwin.dispose();
  return states;
}
