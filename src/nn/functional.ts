// The functional namespace `F`: the ops user code calls, with PyTorch conventions
// (channels-first layouts, `dim` arguments, PyTorch weight layouts). Each op is
// reported as one call_function node when traced; its internals stay opaque.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { dispatch } from "./hooks.js";
import { derived } from "./derived.js";

/** A tensor's shape as a plain array (tfjs types it per rank). */
function dims(t: Tensor): number[] {
  return t.shape;
}

type OpImpl = (...args: never[]) => unknown;

/** Every F op by name, for graph replay. */
export const FUNCTIONS = new Map<string, (...args: unknown[]) => unknown>();

function defineOp<T extends OpImpl>(name: string, impl: T): T {
  const observed = ((...args: unknown[]) =>
    dispatch("call_function", name, args, () => (impl as unknown as (...a: unknown[]) => unknown)(...args))) as unknown as T;
  FUNCTIONS.set(name, impl as unknown as (...args: unknown[]) => unknown);
  Object.defineProperty(observed, "name", { value: name });
  return observed;
}

export type Padding = number | "same" | "valid" | number[];

export interface ConvOptions {
  stride?: number | number[];
  padding?: Padding;
  dilation?: number | number[];
  groups?: number;
}

export interface ConvTransposeOptions {
  stride?: number | number[];
  padding?: number | number[];
  outputPadding?: number | number[];
  dilation?: number | number[];
  groups?: number;
}

function tuple(value: number | number[] | undefined, n: number, fallback: number): number[] {
  if (value === undefined) return new Array<number>(n).fill(fallback);
  if (typeof value === "number") return new Array<number>(n).fill(value);
  if (value.length !== n) throw new BendingError(`expected ${n} values, got [${value.join(", ")}]`);
  return value;
}

function axis(dim: number, rank: number): number {
  const a = dim < 0 ? dim + rank : dim;
  if (a < 0 || a >= rank) throw new BendingError(`dim ${dim} is out of range for a tensor of rank ${rank}`);
  return a;
}

/** Explicit [before, after] padding per spatial dim for PyTorch's padding argument. */
function convPadding(padding: Padding | undefined, kernel: number[], dilation: number[]): [number, number][] {
  const n = kernel.length;
  if (padding === undefined || padding === "valid") return kernel.map(() => [0, 0]);
  if (padding === "same") {
    return kernel.map((k, i) => {
      const total = dilation[i] * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  return tuple(padding, n, 0).map((p) => [p, p]);
}

/**
 * Channels-first N-d convolution (1-d as 2-d with height 1) on tfjs's channels-last
 * kernels. `filter` is already [kh, kw, in/groups, out].
 */
function convNd(
  xNHWC: Tensor, filter: Tensor, bias: Tensor | null, stride: [number, number], dilation: [number, number],
  pad: [number, number][], groups: number,
): Tensor {
  // tfjs refuses stride > 1 together with dilation > 1: convolve densely, then subsample.
  const subsample = (stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1);
  const strides: [number, number] = subsample ? [1, 1] : stride;
  const explicit = [[0, 0], pad[0], pad[1], [0, 0]] as tf.backend_util.ExplicitPadding;
  const run = (x: tf.Tensor4D, f: tf.Tensor4D, b: Tensor | null): tf.Tensor4D =>
    tf.fused.conv2d({
      x, filter: f, strides, pad: explicit, dataFormat: "NHWC", dilations: dilation,
      bias: b ?? undefined,
    });
  let y: tf.Tensor4D;
  if (groups === 1) {
    y = run(xNHWC as tf.Tensor4D, filter as tf.Tensor4D, bias);
  } else {
    const xs = tf.split(xNHWC, groups, 3);
    const fs = tf.split(filter, groups, 3);
    const bs = bias === null ? null : tf.split(bias, groups, 0);
    y = tf.concat(xs.map((xg, g) => run(xg as tf.Tensor4D, fs[g] as tf.Tensor4D, bs === null ? null : bs[g])), 3);
  }
  if (subsample) {
    y = tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, stride[0], stride[1], 1]) as tf.Tensor4D;
  }
  return y;
}

function checkChannels(op: string, x: Tensor, rank: number, inChannels: number): void {
  if (x.rank !== rank) {
    throw new BendingError(`${op} expects a ${rank}-d input (${rank === 3 ? "N, C, L" : "N, C, H, W"}), got shape [${x.shape.join(", ")}]`);
  }
  if (dims(x)[1] !== inChannels) {
    throw new BendingError(`${op} expects ${inChannels} input channels, got shape [${x.shape.join(", ")}]`);
  }
}

/** PyTorch conv1d: x (N, Cin, L), weight (Cout, Cin/groups, k). */
export const conv1d = defineOp("conv1d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor => {
  const groups = options.groups ?? 1;
  const [, inPerGroup, k] = weight.shape;
  checkChannels("conv1d", x, 3, inPerGroup * groups);
  const stride = tuple(options.stride, 1, 1)[0];
  const dilation = tuple(options.dilation, 1, 1)[0];
  const pad = convPadding(options.padding, [k], [dilation])[0];
  const filter = derived("conv1d.filter", [weight], () => tf.reshape(tf.transpose(weight, [2, 1, 0]), [1, k, inPerGroup, weight.shape[0]]));
  const xNHWC = tf.reshape(tf.transpose(x, [0, 2, 1]), [dims(x)[0], 1, dims(x)[2], dims(x)[1]]);
  const y = convNd(xNHWC, filter, bias, [1, stride], [1, dilation], [[0, 0], pad], groups);
  return tf.transpose(tf.reshape(y, [dims(y)[0], dims(y)[2], dims(y)[3]]), [0, 2, 1]);
});

/** PyTorch conv2d: x (N, Cin, H, W), weight (Cout, Cin/groups, kh, kw). */
export const conv2d = defineOp("conv2d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor => {
  const groups = options.groups ?? 1;
  const [, inPerGroup, kh, kw] = weight.shape;
  checkChannels("conv2d", x, 4, inPerGroup * groups);
  const stride = tuple(options.stride, 2, 1) as [number, number];
  const dilation = tuple(options.dilation, 2, 1) as [number, number];
  const pad = convPadding(options.padding, [kh, kw], dilation);
  const filter = derived("conv2d.filter", [weight], () => tf.transpose(weight, [2, 3, 1, 0]));
  const y = convNd(tf.transpose(x, [0, 2, 3, 1]), filter, bias, stride, dilation, pad, groups);
  return tf.transpose(y, [0, 3, 1, 2]);
});

/**
 * Transposed convolution on channels-last input via tfjs conv2dTranspose; dilation by
 * spreading the kernel, PyTorch's padding/output_padding by cropping the full output.
 */
function convTransposeNd(
  xNHWC: Tensor, weight: Tensor, bias: Tensor | null, stride: [number, number], padding: [number, number],
  outputPadding: [number, number], dilation: [number, number], groups: number,
): Tensor {
  const [inCh, outPerGroup, kh, kw] = weight.shape;
  const ekh = dilation[0] * (kh - 1) + 1;
  const ekw = dilation[1] * (kw - 1) + 1;
  // tfjs filter layout: [kh, kw, outDepth, inDepth]
  const filter = derived(`convT.filter.${dilation.join("x")}`, [weight], () => {
    let f: Tensor = tf.transpose(weight, [2, 3, 1, 0]);
    if (ekh !== kh || ekw !== kw) {
      const buf = tf.buffer([ekh, ekw, outPerGroup, inCh]);
      const src = f.arraySync() as number[][][][];
      for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let o = 0; o < outPerGroup; o++) for (let c = 0; c < inCh; c++) {
        buf.set(src[i][j][o][c], i * dilation[0], j * dilation[1], o, c);
      }
      f = buf.toTensor();
    }
    return f;
  });
  const [n, h, w] = xNHWC.shape;
  const fullH = (h - 1) * stride[0] + ekh;
  const fullW = (w - 1) * stride[1] + ekw;
  const run = (x: Tensor, f: Tensor, outCh: number): Tensor =>
    tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [n, fullH, fullW, outCh], stride, "valid");
  let y: Tensor;
  if (groups === 1) {
    y = run(xNHWC, filter, outPerGroup);
  } else {
    const xs = tf.split(xNHWC, groups, 3);
    const fs = tf.split(filter, groups, 3);
    y = tf.concat(xs.map((xg, g) => run(xg, fs[g], outPerGroup)), 3);
  }
  const outH = fullH - 2 * padding[0] + outputPadding[0];
  const outW = fullW - 2 * padding[1] + outputPadding[1];
  // output_padding may reach past the full output: those samples only get the bias.
  const extraH = Math.max(0, padding[0] + outH - fullH);
  const extraW = Math.max(0, padding[1] + outW - fullW);
  if (extraH > 0 || extraW > 0) y = tf.pad(y, [[0, 0], [0, extraH], [0, extraW], [0, 0]]);
  y = tf.slice(y, [0, padding[0], padding[1], 0], [n, outH, outW, outPerGroup * groups]);
  if (bias !== null) y = tf.add(y, bias);
  return y;
}

/** PyTorch conv_transpose1d: x (N, Cin, L), weight (Cin, Cout/groups, k). */
export const convTranspose1d = defineOp("conv_transpose1d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTransposeOptions = {}): Tensor => {
  const groups = options.groups ?? 1;
  checkChannels("conv_transpose1d", x, 3, weight.shape[0]);
  const w4 = derived("convT1d.weight4d", [weight], () => tf.expandDims(weight, 2));
  const xNHWC = tf.reshape(tf.transpose(x, [0, 2, 1]), [dims(x)[0], 1, dims(x)[2], dims(x)[1]]);
  const y = convTransposeNd(
    xNHWC, w4, bias, [1, tuple(options.stride, 1, 1)[0]], [0, tuple(options.padding, 1, 0)[0]],
    [0, tuple(options.outputPadding, 1, 0)[0]], [1, tuple(options.dilation, 1, 1)[0]], groups,
  );
  return tf.transpose(tf.reshape(y, [dims(y)[0], dims(y)[2], dims(y)[3]]), [0, 2, 1]);
});

/** PyTorch conv_transpose2d: x (N, Cin, H, W), weight (Cin, Cout/groups, kh, kw). */
export const convTranspose2d = defineOp("conv_transpose2d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTransposeOptions = {}): Tensor => {
  checkChannels("conv_transpose2d", x, 4, weight.shape[0]);
  const y = convTransposeNd(
    tf.transpose(x, [0, 2, 3, 1]), weight, bias, tuple(options.stride, 2, 1) as [number, number],
    tuple(options.padding, 2, 0) as [number, number], tuple(options.outputPadding, 2, 0) as [number, number],
    tuple(options.dilation, 2, 1) as [number, number], options.groups ?? 1,
  );
  return tf.transpose(y, [0, 3, 1, 2]);
});

/** PyTorch linear: x (..., in), weight (out, in). */
export const linear = defineOp("linear", (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => {
  const [out, inFeatures] = weight.shape;
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new BendingError(`linear expects ${inFeatures} input features, got shape [${x.shape.join(", ")}]`);
  }
  const x2 = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D;
  // Not tf.fused.matMul: its transposeB path gives wrong results on the wasm backend (tfjs 4.22).
  const product = tf.matMul(x2, weight as tf.Tensor2D, false, true);
  const y = bias === null ? product : tf.add(product, bias);
  return tf.reshape(y, [...x.shape.slice(0, -1), out]);
});

function channelShape(x: Tensor): number[] {
  return x.shape.map((d, i) => (i === 1 ? d : 1));
}

/** PyTorch batch_norm in inference form (running statistics); see nn.BatchNorm for training. */
export const batchNorm = defineOp("batch_norm", (
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5,
): Tensor => {
  const shape = channelShape(x);
  const sources = [runningMean, runningVar, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const scale = derived(`bn.scale.${eps}.${shape.length}`, sources, () => {
    const s = tf.rsqrt(tf.add(runningVar, eps));
    return tf.reshape(weight ? tf.mul(s, weight) : s, shape);
  });
  const shift = derived(`bn.shift.${eps}.${shape.length}`, sources, () => {
    const s = tf.rsqrt(tf.add(runningVar, eps));
    const sc = weight ? tf.mul(s, weight) : s;
    const sh = tf.neg(tf.mul(runningMean, sc));
    return tf.reshape(bias ? tf.add(sh, bias) : sh, shape);
  });
  return tf.add(tf.mul(x, scale), shift);
});

/** Normalisation with the batch's own statistics over every axis but the channel axis. */
export function batchStatistics(x: Tensor): { mean: Tensor; variance: Tensor } {
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const { mean, variance } = tf.moments(x, axes);
  return { mean, variance };
}

export const layerNorm = defineOp("layer_norm", (
  x: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5,
): Tensor => {
  const axes = normalizedShape.map((_, i) => x.rank - normalizedShape.length + i);
  const { mean, variance } = tf.moments(x, axes, true);
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
});

export const embedding = defineOp("embedding", (indices: Tensor, weight: Tensor): Tensor =>
  tf.gather(weight, indices.dtype === "int32" ? indices : tf.cast(indices, "int32")));

// --- element-wise and activations ---------------------------------------------------
type Operand = Tensor | number;
export const add = defineOp("add", (a: Operand, b: Operand): Tensor => tf.add(a, b));
export const sub = defineOp("sub", (a: Operand, b: Operand): Tensor => tf.sub(a, b));
export const mul = defineOp("mul", (a: Operand, b: Operand): Tensor => tf.mul(a, b));
export const div = defineOp("div", (a: Operand, b: Operand): Tensor => tf.div(a, b));
export const pow = defineOp("pow", (a: Operand, b: Operand): Tensor => tf.pow(a, b));
export const maximum = defineOp("maximum", (a: Operand, b: Operand): Tensor => tf.maximum(a, b));
export const minimum = defineOp("minimum", (a: Operand, b: Operand): Tensor => tf.minimum(a, b));
export const neg = defineOp("neg", (x: Tensor): Tensor => tf.neg(x));
export const abs = defineOp("abs", (x: Tensor): Tensor => tf.abs(x));
export const exp = defineOp("exp", (x: Tensor): Tensor => tf.exp(x));
export const log = defineOp("log", (x: Tensor): Tensor => tf.log(x));
export const sqrt = defineOp("sqrt", (x: Tensor): Tensor => tf.sqrt(x));
export const square = defineOp("square", (x: Tensor): Tensor => tf.square(x));
export const sin = defineOp("sin", (x: Tensor): Tensor => tf.sin(x));
export const cos = defineOp("cos", (x: Tensor): Tensor => tf.cos(x));
export const sign = defineOp("sign", (x: Tensor): Tensor => tf.sign(x));
export const tanh = defineOp("tanh", (x: Tensor): Tensor => tf.tanh(x));
export const sigmoid = defineOp("sigmoid", (x: Tensor): Tensor => tf.sigmoid(x));
export const relu = defineOp("relu", (x: Tensor): Tensor => tf.relu(x));
export const leakyRelu = defineOp("leaky_relu", (x: Tensor, negativeSlope = 0.01): Tensor => tf.leakyRelu(x, negativeSlope));
export const elu = defineOp("elu", (x: Tensor): Tensor => tf.elu(x));
export const softplus = defineOp("softplus", (x: Tensor): Tensor => tf.softplus(x));
export const silu = defineOp("silu", (x: Tensor): Tensor => tf.mul(x, tf.sigmoid(x)));
/** Exact GELU (PyTorch's default): x·Φ(x). */
export const gelu = defineOp("gelu", (x: Tensor): Tensor => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
export const clamp = defineOp("clamp", (x: Tensor, min: number, max: number): Tensor => tf.clipByValue(x, min, max));
export const softmax = defineOp("softmax", (x: Tensor, dim = -1): Tensor =>
  axis(dim, x.rank) === x.rank - 1 ? tf.softmax(x) : tf.exp(tf.sub(x, tf.logSumExp(x, axis(dim, x.rank), true))));
export const dropout = defineOp("dropout", (x: Tensor): Tensor => x);

// --- shapes ----------------------------------------------------------------------------
export const matmul = defineOp("matmul", (a: Tensor, b: Tensor): Tensor => tf.matMul(a, b));
export const reshape = defineOp("reshape", (x: Tensor, shape: number[]): Tensor => tf.reshape(x, shape));
/** Swaps two dims (torch.transpose). */
export const transpose = defineOp("transpose", (x: Tensor, dim0: number, dim1: number): Tensor => {
  const perm = x.shape.map((_, i) => i);
  const a = axis(dim0, x.rank);
  const b = axis(dim1, x.rank);
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return tf.transpose(x, perm);
});
export const permute = defineOp("permute", (x: Tensor, dims: number[]): Tensor => tf.transpose(x, dims.map((d) => axis(d, x.rank))));
export const cat = defineOp("cat", (tensors: Tensor[], dim = 0): Tensor => tf.concat(tensors, axis(dim, tensors[0].rank)));
export const stack = defineOp("stack", (tensors: Tensor[], dim = 0): Tensor => tf.stack(tensors, dim < 0 ? dim + tensors[0].rank + 1 : dim));
export const unsqueeze = defineOp("unsqueeze", (x: Tensor, dim: number): Tensor => tf.expandDims(x, dim < 0 ? dim + x.rank + 1 : dim));
export const squeeze = defineOp("squeeze", (x: Tensor, dim?: number): Tensor => tf.squeeze(x, dim === undefined ? undefined : [axis(dim, x.rank)]));
export const flatten = defineOp("flatten", (x: Tensor, startDim = 1, endDim = -1): Tensor => {
  const s = axis(startDim, x.rank);
  const e = axis(endDim, x.rank);
  const merged = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return tf.reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
});
/** torch.narrow: `length` elements of `dim` from `start`. */
export const narrow = defineOp("narrow", (x: Tensor, dim: number, start: number, length: number): Tensor => {
  const a = axis(dim, x.rank);
  const begin = x.shape.map((_, i) => (i === a ? start : 0));
  const size = x.shape.map((d, i) => (i === a ? length : d));
  return tf.slice(x, begin, size);
});
/** torch.nn.functional.pad with PyTorch's pad order (last dim first: [left, right, top, bottom, ...]). */
export const pad = defineOp("pad", (x: Tensor, pads: number[], mode: "constant" | "reflect" | "replicate" = "constant", value = 0): Tensor => {
  const paddings: [number, number][] = x.shape.map(() => [0, 0]);
  for (let i = 0; i < pads.length / 2; i++) paddings[x.rank - 1 - i] = [pads[2 * i], pads[2 * i + 1]];
  if (mode === "constant") return tf.pad(x, paddings, value);
  if (mode === "reflect") return tf.mirrorPad(x, paddings, "reflect");
  // replicate: repeat edge slices
  let y = x;
  paddings.forEach(([before, after], d) => {
    if (before === 0 && after === 0) return;
    const first = tf.slice(y, y.shape.map(() => 0), y.shape.map((s, i) => (i === d ? 1 : s)));
    const last = tf.slice(y, y.shape.map((s, i) => (i === d ? s - 1 : 0)), y.shape.map((s, i) => (i === d ? 1 : s)));
    const parts = [...new Array<Tensor>(before).fill(first), y, ...new Array<Tensor>(after).fill(last)];
    y = tf.concat(parts, d);
  });
  return y;
});
export const mean = defineOp("mean", (x: Tensor, dim?: number | number[], keepdim = false): Tensor => tf.mean(x, dim, keepdim));
export const sum = defineOp("sum", (x: Tensor, dim?: number | number[], keepdim = false): Tensor => tf.sum(x, dim, keepdim));
/** Nearest-neighbour upsampling by an integer factor on every spatial dim (N, C, ...). */
export const upsampleNearest = defineOp("upsample_nearest", (x: Tensor, scaleFactor: number): Tensor => {
  if (!Number.isInteger(scaleFactor) || scaleFactor < 1) {
    throw new BendingError(`upsample_nearest needs a positive integer scale factor, got ${scaleFactor}`);
  }
  const spatial = dims(x).slice(2);
  const expanded = [dims(x)[0], dims(x)[1], ...spatial.flatMap((d) => [d, 1])];
  const reps = [1, 1, ...spatial.flatMap(() => [1, scaleFactor])];
  return tf.reshape(tf.tile(tf.reshape(x, expanded), reps), [dims(x)[0], dims(x)[1], ...spatial.map((d) => d * scaleFactor)]);
});
