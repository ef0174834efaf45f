// tfjs-core's Node bundle does not register the chained tensor methods (x.add(y), ...).
// tfbend registers them itself, each one reported as a call_method to whoever observes.
import type {} from "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js";
import { tf } from "../tf.js";
import { dispatch } from "./hooks.js";

/** Tensor methods that are ops (pure functions of the tensor and arguments). */
export const TENSOR_METHODS = [
  "abs", "acos", "acosh", "add", "all", "any", "argMax", "argMin", "asin", "asinh", "atan", "atan2",
  "atanh", "avgPool", "batchToSpaceND", "batchNorm", "broadcastTo", "cast", "ceil", "clipByValue",
  "concat", "conv1d", "conv2d", "conv2dTranspose", "cos", "cosh", "cumprod", "cumsum", "depthToSpace",
  "depthwiseConv2d", "dilation2d", "div", "divNoNan", "dot", "elu", "equal", "erf", "euclideanNorm",
  "exp", "expandDims", "expm1", "fft", "flatten", "floor", "floorDiv", "gather", "greater",
  "greaterEqual", "ifft", "irfft", "isFinite", "isInf", "isNaN", "leakyRelu", "less", "lessEqual",
  "localResponseNormalization", "log", "log1p", "logSigmoid", "logSoftmax", "logSumExp", "logicalAnd",
  "logicalNot", "logicalOr", "logicalXor", "matMul", "max", "maxPool", "maximum", "mean", "min",
  "minimum", "mirrorPad", "mod", "mul", "neg", "norm", "notEqual", "oneHot", "onesLike", "pad", "pool",
  "pow", "prelu", "prod", "reciprocal", "relu", "relu6", "reshape", "resizeBilinear",
  "resizeNearestNeighbor", "reverse", "rfft", "round", "rsqrt", "selu", "separableConv2d", "sigmoid",
  "sign", "sin", "sinh", "slice", "softmax", "softplus", "spaceToBatchND", "split", "sqrt", "square",
  "squaredDifference", "squeeze", "stack", "step", "stridedSlice", "sub", "sum", "tan", "tanh", "tile",
  "topk", "transpose", "unique", "unsortedSegmentSum", "unstack", "where", "zerosLike",
] as const;

const WRAPPED = Symbol("tfbend.method");
type Method = ((...args: unknown[]) => unknown) & { [WRAPPED]?: true };

/** Extra methods tfjs defines on top of ops. */
const ALIASES: Record<string, (x: tf.Tensor, ...args: unknown[]) => unknown> = {
  reshapeAs: (x, other) => tf.reshape(x, (other as tf.Tensor).shape),
  asType: (x, dtype) => tf.cast(x, dtype as tf.DataType),
  toFloat: (x) => tf.cast(x, "float32"),
  toInt: (x) => tf.cast(x, "int32"),
  toBool: (x) => tf.cast(x, "bool"),
  as1D: (x) => tf.reshape(x, [-1]),
  as2D: (x, r, c) => tf.reshape(x, [r as number, c as number]),
  asScalar: (x) => tf.reshape(x, []),
};

let registered = false;

export function registerTensorMethods(): void {
  if (registered) return;
  registered = true;
  const proto = tf.Tensor.prototype as unknown as Record<string, Method | undefined>;
  const ops = tf as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
  const impls: [string, (self: tf.Tensor, args: unknown[]) => unknown][] = [];
  for (const name of TENSOR_METHODS) {
    const op = ops[name];
    if (op !== undefined) impls.push([name, (self, args) => op(self, ...args)]);
  }
  for (const [name, fn] of Object.entries(ALIASES)) impls.push([name, (self, args) => fn(self, ...args)]);
  for (const [name, impl] of impls) {
    const existing = proto[name];
    if (existing?.[WRAPPED]) continue;
    // Keep a method another package (e.g. @tensorflow/tfjs) registered; only observe it.
    const run: (self: tf.Tensor, args: unknown[]) => unknown =
      existing !== undefined ? (self, args) => existing.apply(self, args) : impl;
    const method: Method = function (this: tf.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return dispatch("call_method", name, [this, ...args], () => run(this, args));
    };
    method[WRAPPED] = true;
    proto[name] = method;
  }
}
