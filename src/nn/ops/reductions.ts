// Reductions over dims: mean, sum, variance, extrema, norms, cumulative sums.
import { tf, type Tensor } from "../../tf.js";
import { wrapDim } from "../../util/python.js";
import { defineOp, dims } from "./registry.js";

export const mean = defineOp("mean", (x: Tensor, dim?: number | number[], keepdim = false): Tensor => tf.mean(x, dim, keepdim));
export const sum = defineOp("sum", (x: Tensor, dim?: number | number[], keepdim = false): Tensor => tf.sum(x, dim, keepdim));

function reductionAxes(x: Tensor, dim: number | number[] | null): number[] {
  if (dim === null) return x.shape.map((_, i) => i);
  return (typeof dim === "number" ? [dim] : dim).map((d) => wrapDim(d, x.rank));
}

/** torch.var with Bessel's correction by default (`correction` 1). */
export const variance = defineOp("var", (x: Tensor, dim: number | number[] | null = null, correction = 1, keepdim = false): Tensor => {
  const axes = reductionAxes(x, dim);
  const n = axes.reduce((p, a) => p * dims(x)[a], 1);
  const mean = tf.mean(x, axes, true);
  const sq = tf.sum(tf.square(tf.sub(x, mean)), axes, keepdim);
  return tf.div(sq, Math.max(n - correction, 0));
});

export const std = defineOp("std", (x: Tensor, dim: number | number[] | null = null, correction = 1, keepdim = false): Tensor =>
  tf.sqrt(variance(x, dim, correction, keepdim)));

export const amax = defineOp("amax", (x: Tensor, dim: number | number[] | null = null, keepdim = false): Tensor => tf.max(x, reductionAxes(x, dim), keepdim));
export const amin = defineOp("amin", (x: Tensor, dim: number | number[] | null = null, keepdim = false): Tensor => tf.min(x, reductionAxes(x, dim), keepdim));
export const prod = defineOp("prod", (x: Tensor, dim: number | null = null, keepdim = false): Tensor => tf.prod(x, reductionAxes(x, dim), keepdim));
export const argmax = defineOp("argmax", (x: Tensor, dim: number | null = null, keepdim = false): Tensor => {
  if (dim === null) return tf.argMax(tf.reshape(x, [-1]));
  const y = tf.argMax(x, wrapDim(dim, x.rank));
  return keepdim ? tf.expandDims(y, wrapDim(dim, x.rank)) : y;
});
export const cumsum = defineOp("cumsum", (x: Tensor, dim: number): Tensor => tf.cumsum(x, wrapDim(dim, x.rank)));

/** torch.norm / linalg.vector_norm: (Σ|x|^p)^(1/p) over `dim` (all dims when null); p = ±Infinity gives max/min |x|. */
export const norm = defineOp("norm", (x: Tensor, p = 2, dim: number | number[] | null = null, keepdim = false): Tensor => {
  const axes = reductionAxes(x, dim);
  const a = tf.abs(x);
  if (p === Infinity) return tf.max(a, axes, keepdim);
  if (p === -Infinity) return tf.min(a, axes, keepdim);
  if (p === 0) return tf.sum(tf.cast(tf.notEqual(x, 0), "float32"), axes, keepdim);
  if (p === 2) return tf.sqrt(tf.sum(tf.square(x), axes, keepdim));
  if (p === 1) return tf.sum(a, axes, keepdim);
  return tf.pow(tf.sum(tf.pow(a, p), axes, keepdim), 1 / p);
});
