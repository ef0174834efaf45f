// The F op registry: one op per name (a second definition is refused), and the op that
// graph replay runs under each once-duplicated name is the full PyTorch one.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { defineOp, FUNCTIONS } from "../dist/nn/ops/registry.js";
import { clampSliceBound, pyEquals, wrapDim } from "../dist/util/python.js";
import { maxAbsDiff } from "./helpers.js";

const { nn, F, tf } = tb;

describe("op registry", () => {
  it("refuses a second op under a taken name and keeps the first", () => {
    const before = FUNCTIONS.get("gelu");
    expect(() => defineOp("gelu", (x: tb.Tensor) => x)).toThrow(/the op 'gelu' is defined twice/);
    expect(FUNCTIONS.get("gelu")).toBe(before);
    expect(FUNCTIONS.has("op_registry_test_fresh")).toBe(false);
    defineOp("op_registry_test_fresh", (x: tb.Tensor) => x);
    expect(FUNCTIONS.has("op_registry_test_fresh")).toBe(true);
  });

  it("graph replay runs the full op under abs, clamp, elu, gelu, softplus", () => {
    class Ops extends nn.Module {
      override forward(x: tb.Tensor): tb.Tensor {
        const parts = [
          F.abs(x),
          F.clamp(x, null, 0.25), // one bound only
          F.clamp(x, -0.5, 0.5),
          F.elu(x, 0.5),
          F.gelu(x, "tanh"),
          F.gelu(x),
          F.softplus(x, 2, 1),
          F.softplus(x),
        ];
        return tf.concat(parts.map((p) => tf.reshape(p, [-1])));
      }
    }
    const bended = new tb.BendedModule(new Ops());
    const x = tf.tensor1d([-2, -0.75, -0.1, 0.2, 0.9, 3]);
    bended.trace({ x });
    bended.graph().lint();
    const replay = bended.graphModule().forward(x) as tb.Tensor;
    // PyTorch's definitions, written out
    const v = Array.from(x.dataSync());
    const erf = (z: number) => tf.tidy(() => tf.erf(tf.scalar(z)).dataSync()[0]);
    const expected = [
      v.map((a) => Math.abs(a)),
      v.map((a) => Math.min(a, 0.25)),
      v.map((a) => Math.min(Math.max(a, -0.5), 0.5)),
      v.map((a) => (a > 0 ? a : 0.5 * Math.expm1(a))),
      v.map((a) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)))),
      v.map((a) => 0.5 * a * (1 + erf(a / Math.SQRT2))),
      v.map((a) => (2 * a > 1 ? a : Math.log1p(Math.exp(2 * a)) / 2)),
      v.map((a) => Math.log1p(Math.exp(a))),
    ].flat();
    expect(maxAbsDiff(replay, tf.tensor1d(expected))).toBeLessThan(1e-5);
    const direct = bended.forward(x);
    expect(maxAbsDiff(replay, direct)).toBe(0);
    // the one abs is also the modulus of a complex tensor (traced graphs carry no complex values)
    const modulus = F.abs(F.viewAsComplex(tf.reshape(x, [3, 2])));
    expect(maxAbsDiff(modulus, tf.tensor1d([0, 1, 2].map((i) => Math.hypot(v[2 * i], v[2 * i + 1]))))).toBeLessThan(1e-6);
    tf.dispose([x, replay, direct, modulus]);
  });
});

describe("Python's index rules", () => {
  it("wrapDim follows PyTorch: [-max(rank, 1), max(rank, 1)), so a 0-d tensor takes 0 and -1", () => {
    expect([0, 1, 2, -1, -3].map((d) => wrapDim(d, 3))).toEqual([0, 1, 2, 2, 0]);
    expect(wrapDim(0, 0)).toBe(0);
    expect(wrapDim(-1, 0)).toBe(0);
    expect(() => wrapDim(1, 0)).toThrow("dim 1 is out of range for a tensor of rank 0");
    expect(() => wrapDim(-4, 3)).toThrow(tb.BendingError);
    expect(() => wrapDim(1.5, 3)).toThrow(/dim 1.5 is out of range/);
    expect(() => wrapDim(3, 3, "shape [1, 2, 3]", "Permute(3)")).toThrow("Permute(3): dim 3 is out of range for shape [1, 2, 3]");
  });

  it("clampSliceBound clamps like x[a:b] and pyEquals compares lists item by item", () => {
    const list = [0, 1, 2, 3, 4];
    const slice = (a: number | null, b: number | null) => list.slice(clampSliceBound(a, 5, 0), clampSliceBound(b, 5, 5));
    expect(slice(-2, null)).toEqual([3, 4]);
    expect(slice(null, -1)).toEqual([0, 1, 2, 3]);
    expect(slice(-9, 99)).toEqual(list);
    expect(slice(7, 9)).toEqual([]);
    expect(pyEquals([1, [2, "a"]], [1, [2, "a"]])).toBe(true);
    expect(pyEquals([1, [2, "a"]], [1, [2, "b"]])).toBe(false);
    expect(pyEquals([1], [1, 1])).toBe(false);
    expect(pyEquals(null, null)).toBe(true);
    expect(pyEquals(1, "1")).toBe(false);
  });

  it("F ops and the catalogue wrap dims by that rule", () => {
    const x = tf.ones([2, 3]);
    expect(() => F.softmax(x, 2)).toThrow("dim 2 is out of range for a tensor of rank 2");
    expect(F.cat([x, x], -1).shape).toEqual([2, 6]);
    expect(F.stack([x, x], -1).shape).toEqual([2, 3, 2]);
    expect(() => F.unsqueeze(x, 3)).toThrow("dim 3 is out of range for a tensor of rank 3");
    const scalar = tf.scalar(5);
    const reversed = new tb.Reverse(-1).apply(scalar);
    expect(reversed.dataSync()[0]).toBe(5);
    tf.dispose([x, scalar]);
  });
});
