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

/**
 * An activation a convolution applies in its own kernel (tf.fused.conv2d) after the bias.
 * The convolution sets `applied` when it did; nn.convActivation relies on that.
 */
export interface FusedActivation {
  kind: "relu" | "leakyrelu";
  /** LeakyReLU's negative slope. */
  alpha?: number;
  applied?: boolean;
}

export interface ConvOptions {
  stride?: number | number[];
  padding?: Padding;
  dilation?: number | number[];
  groups?: number;
  fusedActivation?: FusedActivation | null;
}

export interface ConvTransposeOptions {
  stride?: number | number[];
  padding?: number | number[];
  outputPadding?: number | number[];
  dilation?: number | number[];
  groups?: number;
  fusedActivation?: FusedActivation | null;
}

/** tf.fused.conv2d's activation arguments for `activation` (marking it applied). */
function fusedArgs(activation: FusedActivation | null | undefined): { activation?: tf.fused.Activation; leakyreluAlpha?: number } {
  if (!activation) return {};
  activation.applied = true;
  return { activation: activation.kind, leakyreluAlpha: activation.alpha };
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
  pad: [number, number][], groups: number, activation?: FusedActivation | null,
): Tensor {
  // tfjs refuses stride > 1 together with dilation > 1: convolve densely, then subsample.
  const subsample = (stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1);
  const strides: [number, number] = subsample ? [1, 1] : stride;
  const explicit = [[0, 0], pad[0], pad[1], [0, 0]] as tf.backend_util.ExplicitPadding;
  const fused = fusedArgs(activation);
  const run = (x: tf.Tensor4D, f: tf.Tensor4D, b: Tensor | null): tf.Tensor4D =>
    tf.fused.conv2d({
      x, filter: f, strides, pad: explicit, dataFormat: "NHWC", dilations: dilation,
      bias: b ?? undefined, ...fused,
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

// Channels-last copies of convolution outputs. tfjs-wasm convolves channels-last only, so
// each conv transposes its input in and its output back to PyTorch's layout; a conv whose
// input is exactly another conv's output (the same tensor: nothing changed it in between)
// reads the channels-last tensor that output was made from instead of transposing back.
// Tensors are immutable, so the copy stays exact while both are alive.
const channelsLastCopies = new WeakMap<Tensor, Tensor>();

/** x (N, C, ...) as channels-last `shape` (N, ..., C): the kept copy, or a transpose. */
function toChannelsLast(x: Tensor, shape: number[]): Tensor {
  const copy = channelsLastCopies.get(x);
  if (copy !== undefined && !copy.isDisposed && copy.shape.join() === shape.join()) return copy;
  const perm = [0, ...x.shape.slice(2).map((_, i) => i + 2), 1];
  return tf.reshape(tf.transpose(x, perm), shape);
}

/** y (N, ..., C) channels-last back to `shape` (N, C, ...), remembering y. */
function fromChannelsLast(y: Tensor, shape: number[]): Tensor {
  const spatial = shape.slice(2);
  const last = tf.reshape(y, [shape[0], ...spatial, shape[1]]);
  const out = tf.transpose(last, [0, spatial.length + 1, ...spatial.map((_, i) => i + 1)]);
  channelsLastCopies.set(out, y);
  return out;
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
  const xNHWC = toChannelsLast(x, [dims(x)[0], 1, dims(x)[2], dims(x)[1]]);
  const y = convNd(xNHWC, filter, bias, [1, stride], [1, dilation], [[0, 0], pad], groups, options.fusedActivation);
  return fromChannelsLast(y, [dims(y)[0], dims(y)[3], dims(y)[2]]);
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
  const xNHWC = toChannelsLast(x, [dims(x)[0], dims(x)[2], dims(x)[3], dims(x)[1]]);
  const y = convNd(xNHWC, filter, bias, stride, dilation, pad, groups, options.fusedActivation);
  return fromChannelsLast(y, [dims(y)[0], dims(y)[3], dims(y)[1], dims(y)[2]]);
});

/**
 * Where transposed convolutions switch from tfjs's scalar Conv2DBackpropInput to the polyphase
 * path: at `polyphaseMinMacs` multiply-adds per input sample and output phase (in·out/groups
 * channels × kernel taps). Measured in bench/conv-transpose.js (README "Speed"); mutable so that
 * the benchmark can time both paths.
 */
export const convTransposeTuning = { polyphaseMinMacs: 32 };

/** Kernel spread by `dilation` (zeros between taps) along spatial axes 2 and 3 of (Cin, O, kh, kw). */
function spreadKernel(weight: Tensor, dilation: [number, number]): Tensor {
  let w = weight;
  for (const a of [2, 3] as const) {
    const d = dilation[a - 2];
    if (d === 1) continue;
    const k = dims(w)[a];
    // (.., k, ..) → (.., k, d, ..) with zeros after each tap → (.., k·d, ..) → drop the trailing d−1
    const paddings = [...w.shape, 1].map((_, i): [number, number] => (i === a + 1 ? [0, d - 1] : [0, 0]));
    const spread = tf.pad(tf.expandDims(w, a + 1), paddings);
    const merged = tf.reshape(spread, w.shape.map((s, i) => (i === a ? s * d : s)));
    w = tf.slice(merged, merged.shape.map(() => 0), merged.shape.map((s, i) => (i === a ? d * (k - 1) + 1 : s)));
  }
  return w;
}

/**
 * Transposed convolution on channels-last input. Fast path (polyphase): output phase r of
 * stride s is an ordinary convolution of the input with taps r, r+s, r+2s, … of the kernel,
 * so one XNNPACK conv2d with s·out channels computes every phase at once, and a reshape
 * interleaves them (depth-to-space). Tiny layers use tfjs's conv2dTranspose. Dilation spreads
 * the kernel; PyTorch's padding/output_padding crop or extend the full output.
 */
function convTransposeNd(
  xNHWC: Tensor, weight: Tensor, bias: Tensor | null, stride: [number, number], padding: [number, number],
  outputPadding: [number, number], dilation: [number, number], groups: number, activation?: FusedActivation | null,
): Tensor {
  const [inCh, outPerGroup, kh, kw] = weight.shape;
  const ek = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
  const [n, h, w] = xNHWC.shape;
  const full = [(h - 1) * stride[0] + ek[0], (w - 1) * stride[1] + ek[1]];
  const out = [full[0] - 2 * padding[0] + outputPadding[0], full[1] - 2 * padding[1] + outputPadding[1]];
  const macs = (inCh / groups) * outPerGroup * kh * kw;
  if (macs >= convTransposeTuning.polyphaseMinMacs) {
    return polyphaseConvTranspose(xNHWC, weight, bias, stride, dilation, groups, ek, padding, out, activation);
  }
  let y = scalarConvTranspose(xNHWC, weight, stride, dilation, groups, full);
  // output_padding may reach past the full output: those samples only get the bias.
  const extraH = Math.max(0, padding[0] + out[0] - full[0]);
  const extraW = Math.max(0, padding[1] + out[1] - full[1]);
  if (extraH > 0 || extraW > 0) y = tf.pad(y, [[0, 0], [0, extraH], [0, extraW], [0, 0]]);
  y = tf.slice(y, [0, padding[0], padding[1], 0], [n, out[0], out[1], outPerGroup * groups]);
  if (bias !== null) y = tf.add(y, bias);
  if (!activation) return y;
  activation.applied = true;
  return activation.kind === "relu" ? tf.relu(y) : tf.leakyRelu(y, activation.alpha);
}

function polyphaseConvTranspose(
  xNHWC: Tensor, weight: Tensor, bias: Tensor | null, stride: [number, number], dilation: [number, number],
  groups: number, ek: number[], padding: [number, number], out: number[], activation?: FusedActivation | null,
): Tensor {
  const [inCh, outPerGroup] = weight.shape;
  const [sh, sw] = stride;
  const q = [Math.ceil(ek[0] / sh), Math.ceil(ek[1] / sw)];
  const phases = sh * sw;
  // filter [qh, qw, in, (sh, sw, out)]: tap j of phase r is kernel index (q−1−j)·s + r
  const filter = derived(`convT.polyphase.${stride.join("x")}.${dilation.join("x")}`, [weight], () => {
    const spread = spreadKernel(weight, dilation);
    const padded = tf.pad(spread, [[0, 0], [0, 0], [0, q[0] * sh - ek[0]], [0, q[1] * sw - ek[1]]]);
    const split = tf.reshape(padded, [inCh, outPerGroup, q[0], sh, q[1], sw]);
    const flipped = tf.reverse(split, [2, 4]);
    return tf.reshape(tf.transpose(flipped, [2, 4, 0, 3, 5, 1]), [q[0], q[1], inCh, phases * outPerGroup]);
  });
  // bias per group, repeated for every phase; built by concat because wasm's FusedConv2D reads
  // the rank of the underlying data, which a reshape keeps
  const phaseBias = bias === null ? null : Array.from({ length: groups }, (_, g) =>
    derived(`convT.polyphase.bias.${phases}.${groups}.${g}`, [bias], () => {
      const own = groups === 1 ? bias : tf.slice(bias, [g * outPerGroup], [outPerGroup]);
      return tf.concat(new Array<Tensor>(phases).fill(own), 0);
    }));
  // Only the output frames (s samples each) that the crop keeps are computed: frame m of the
  // full output reads input frames m−q+1 … m, so the input is padded (or trimmed) to match.
  const [n, ...size] = dims(xNHWC);
  const first = [Math.floor(padding[0] / sh), Math.floor(padding[1] / sw)];
  const frames = [Math.ceil((padding[0] + out[0]) / sh) - first[0], Math.ceil((padding[1] + out[1]) / sw) - first[1]];
  const before = [q[0] - 1 - first[0], q[1] - 1 - first[1]];
  const after = [0, 1].map((a) => frames[a] + q[a] - 1 - size[a] - before[a]);
  let x = xNHWC;
  if (before.some((b) => b < 0) || after.some((b) => b < 0)) {
    const begin = [0, Math.max(0, -before[0]), Math.max(0, -before[1]), 0];
    const keep = [n, size[0] - begin[1] - Math.max(0, -after[0]), size[1] - begin[2] - Math.max(0, -after[1]), inCh];
    x = tf.slice(x, begin, keep);
  }
  const pad = [[0, 0], [Math.max(0, before[0]), Math.max(0, after[0])], [Math.max(0, before[1]), Math.max(0, after[1])], [0, 0]] as tf.backend_util.ExplicitPadding;
  const fused = fusedArgs(activation);
  const run = (xg: Tensor, f: Tensor, b: Tensor | null): Tensor => {
    const y = tf.fused.conv2d({
      x: xg as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad, dataFormat: "NHWC", bias: b ?? undefined, ...fused,
    });
    if (sh === 1) return tf.reshape(y, [n, frames[0], frames[1] * sw, outPerGroup]);
    const split = tf.reshape(y, [n, frames[0], frames[1], sh, sw, outPerGroup]);
    return tf.reshape(tf.transpose(split, [0, 1, 3, 2, 4, 5]), [n, frames[0] * sh, frames[1] * sw, outPerGroup]);
  };
  let y: Tensor;
  if (groups === 1) {
    y = run(x, filter, phaseBias?.[0] ?? null);
  } else {
    const xs = tf.split(x, groups, 3);
    const fs = tf.split(filter, groups, 2);
    y = tf.concat(xs.map((xg, g) => run(xg, fs[g], phaseBias?.[g] ?? null)), 3);
  }
  const offset = [padding[0] - first[0] * sh, padding[1] - first[1] * sw];
  if (offset[0] === 0 && offset[1] === 0 && dims(y)[1] === out[0] && dims(y)[2] === out[1]) return y;
  return tf.slice(y, [0, offset[0], offset[1], 0], [n, out[0], out[1], outPerGroup * groups]);
}

function scalarConvTranspose(
  xNHWC: Tensor, weight: Tensor, stride: [number, number], dilation: [number, number], groups: number, full: number[],
): Tensor {
  const outPerGroup = dims(weight)[1];
  // tfjs filter layout: [kh, kw, outDepth, inDepth]
  const filter = derived(`convT.filter.${dilation.join("x")}`, [weight], () => tf.transpose(spreadKernel(weight, dilation), [2, 3, 1, 0]));
  const n = xNHWC.shape[0];
  const run = (x: Tensor, f: Tensor): Tensor =>
    tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [n, full[0], full[1], outPerGroup], stride, "valid");
  let y: Tensor;
  if (groups === 1) {
    y = run(xNHWC, filter);
  } else {
    const xs = tf.split(xNHWC, groups, 3);
    const fs = tf.split(filter, groups, 3);
    y = tf.concat(xs.map((xg, g) => run(xg, fs[g])), 3);
  }
  return y;
}

/** PyTorch conv_transpose1d: x (N, Cin, L), weight (Cin, Cout/groups, k). */
export const convTranspose1d = defineOp("conv_transpose1d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTransposeOptions = {}): Tensor => {
  const groups = options.groups ?? 1;
  checkChannels("conv_transpose1d", x, 3, weight.shape[0]);
  const w4 = derived("convT1d.weight4d", [weight], () => tf.expandDims(weight, 2));
  const xNHWC = toChannelsLast(x, [dims(x)[0], 1, dims(x)[2], dims(x)[1]]);
  const y = convTransposeNd(
    xNHWC, w4, bias, [1, tuple(options.stride, 1, 1)[0]], [0, tuple(options.padding, 1, 0)[0]],
    [0, tuple(options.outputPadding, 1, 0)[0]], [1, tuple(options.dilation, 1, 1)[0]], groups, options.fusedActivation,
  );
  return fromChannelsLast(y, [dims(y)[0], dims(y)[3], dims(y)[2]]);
});

/** PyTorch conv_transpose2d: x (N, Cin, H, W), weight (Cin, Cout/groups, kh, kw). */
export const convTranspose2d = defineOp("conv_transpose2d", (x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTransposeOptions = {}): Tensor => {
  checkChannels("conv_transpose2d", x, 4, weight.shape[0]);
  const y = convTransposeNd(
    toChannelsLast(x, [dims(x)[0], dims(x)[2], dims(x)[3], dims(x)[1]]), weight, bias, tuple(options.stride, 2, 1) as [number, number],
    tuple(options.padding, 2, 0) as [number, number], tuple(options.outputPadding, 2, 0) as [number, number],
    tuple(options.dilation, 2, 1) as [number, number], options.groups ?? 1, options.fusedActivation,
  );
  return fromChannelsLast(y, [dims(y)[0], dims(y)[3], dims(y)[1], dims(y)[2]]);
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

// --- more PyTorch ops (what TorchScript exports call) ------------------------------------

/** PyTorch's clamping of a slice bound (None, negative, past the end). */
function sliceBound(value: number | null, size: number, fallback: number): number {
  if (value === null) return fallback;
  const v = value < 0 ? value + size : value;
  return Math.min(Math.max(v, 0), size);
}

/** torch.slice / x[a:b:c] along `dim` (step ≥ 1; zero-length results allowed). */
export const slice = defineOp("slice", (x: Tensor, dim = 0, start: number | null = null, end: number | null = null, step = 1): Tensor => {
  if (step < 1) throw new BendingError(`slice step must be positive, got ${step}`);
  const a = axis(dim, x.rank);
  const size = dims(x)[a];
  const begin = sliceBound(start, size, 0);
  const stop = Math.max(begin, sliceBound(end, size, size));
  if (begin === 0 && stop === size && step === 1) return x;
  if (step === 1) return tf.slice(x, x.shape.map((_, i) => (i === a ? begin : 0)), x.shape.map((d, i) => (i === a ? stop - begin : d)));
  const count = Math.ceil((stop - begin) / step);
  if (count === 0) return tf.slice(x, x.shape.map(() => 0), x.shape.map((d, i) => (i === a ? 0 : d)));
  return tf.stridedSlice(x, x.shape.map((_, i) => (i === a ? begin : 0)), x.shape.map((d, i) => (i === a ? begin + (count - 1) * step + 1 : d)),
    x.shape.map((_, i) => (i === a ? step : 1)));
});

/** torch.select: the `index`-th entry of `dim` (the dim is removed). */
export const select = defineOp("select", (x: Tensor, dim: number, index: number): Tensor => {
  const a = axis(dim, x.rank);
  const size = dims(x)[a];
  const i = index < 0 ? index + size : index;
  if (i < 0 || i >= size) throw new BendingError(`index ${index} is out of range for dim ${dim} of size ${size}`);
  const part = tf.slice(x, x.shape.map((_, d) => (d === a ? i : 0)), x.shape.map((s, d) => (d === a ? 1 : s)));
  return tf.reshape(part, x.shape.filter((_, d) => d !== a));
});

/** torch.split: pieces of `size` along `dim` (the last may be smaller), or pieces of the given sizes. */
export const split = defineOp("split", (x: Tensor, size: number | number[], dim = 0): Tensor[] => {
  const a = axis(dim, x.rank);
  const total = dims(x)[a];
  let sizes: number[];
  if (typeof size === "number") {
    if (size <= 0) throw new BendingError(`split size must be positive, got ${size}`);
    sizes = [];
    for (let left = total; left > 0; left -= size) sizes.push(Math.min(size, left));
    if (sizes.length === 0) sizes = [0];
  } else {
    sizes = size;
    if (sizes.reduce((s, v) => s + v, 0) !== total) throw new BendingError(`split sizes [${sizes.join(", ")}] do not add up to ${total}`);
  }
  let offset = 0;
  return sizes.map((s) => {
    const part = tf.slice(x, x.shape.map((_, i) => (i === a ? offset : 0)), x.shape.map((d, i) => (i === a ? s : d)));
    offset += s;
    return part;
  });
});

/** torch.chunk: `chunks` pieces of ceil(n / chunks) along `dim`. */
export const chunk = defineOp("chunk", (x: Tensor, chunks: number, dim = 0): Tensor[] => {
  const total = dims(x)[axis(dim, x.rank)];
  return opaqueSplit(x, Math.max(1, Math.ceil(total / chunks)), dim);
});

function opaqueSplit(x: Tensor, size: number, dim: number): Tensor[] {
  const a = axis(dim, x.rank);
  const total = dims(x)[a];
  const out: Tensor[] = [];
  for (let offset = 0; offset < total || out.length === 0; offset += size) {
    const s = Math.min(size, total - offset);
    out.push(tf.slice(x, x.shape.map((_, i) => (i === a ? offset : 0)), x.shape.map((d, i) => (i === a ? s : d))));
    if (s <= 0) break;
  }
  return out;
}

export const flip = defineOp("flip", (x: Tensor, dimsToFlip: number[]): Tensor => tf.reverse(x, dimsToFlip.map((d) => axis(d, x.rank))));

/** torch.roll: elements shifted along each dim (wrapping around). */
export const roll = defineOp("roll", (x: Tensor, shifts: number | number[], dimsToRoll: number | number[] = []): Tensor => {
  const s = typeof shifts === "number" ? [shifts] : shifts;
  const d = typeof dimsToRoll === "number" ? [dimsToRoll] : dimsToRoll;
  if (d.length === 0) return tf.reshape(roll(tf.reshape(x, [-1]), s, [0]), x.shape);
  let y = x;
  d.forEach((dim, i) => {
    const a = axis(dim, y.rank);
    const n = dims(y)[a];
    const k = ((s[i] % n) + n) % n;
    if (k === 0) return;
    const head = tf.slice(y, y.shape.map((_, j) => (j === a ? n - k : 0)), y.shape.map((v, j) => (j === a ? k : v)));
    const tail = tf.slice(y, y.shape.map(() => 0), y.shape.map((v, j) => (j === a ? n - k : v)));
    y = tf.concat([head, tail], a);
  });
  return y;
});

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new BendingError(`shapes [${a.join(", ")}] and [${b.join(", ")}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

export const where = defineOp("where", (condition: Tensor, a: Operand, b: Operand): Tensor => {
  const ta = typeof a === "number" ? tf.scalar(a) : a;
  const tb = typeof b === "number" ? tf.scalar(b) : b;
  const shape = broadcastShapes(broadcastShapes(condition.shape, ta.shape), tb.shape);
  const [x, y] = ta.dtype === tb.dtype ? [ta, tb] : [tf.cast(ta, "float32"), tf.cast(tb, "float32")];
  return tf.where(tf.broadcastTo(tf.cast(condition, "bool"), shape), tf.broadcastTo(x, shape), tf.broadcastTo(y, shape));
});

/** torch.clamp with either bound optional; bounds may be tensors. */
export const clampBounds = defineOp("clamp", (x: Tensor, min: Operand | null = null, max: Operand | null = null): Tensor => {
  let y = x;
  if (typeof min === "number" && typeof max === "number") return tf.clipByValue(x, min, max);
  if (min !== null) y = tf.maximum(y, min);
  if (max !== null) y = tf.minimum(y, max);
  return y;
});

function reductionAxes(x: Tensor, dim: number | number[] | null): number[] {
  if (dim === null) return x.shape.map((_, i) => i);
  return (typeof dim === "number" ? [dim] : dim).map((d) => axis(d, x.rank));
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
  const y = tf.argMax(x, axis(dim, x.rank));
  return keepdim ? tf.expandDims(y, axis(dim, x.rank)) : y;
});
export const cumsum = defineOp("cumsum", (x: Tensor, dim: number): Tensor => tf.cumsum(x, axis(dim, x.rank)));

function fftScale(norm: string | null, n: number, forward: boolean): number {
  const mode = norm ?? "backward";
  if (mode === "ortho") return 1 / Math.sqrt(n);
  if (mode === "forward") return forward ? 1 / n : 1;
  if (mode === "backward") return forward ? 1 : 1 / n;
  throw new BendingError(`unknown fft norm '${mode}'`);
}

/**
 * A complex tensor as its real and imaginary parts. tfjs's wasm backend has no complex
 * kernels, so complex values (FFTs, view_as_complex) are pairs of float32 tensors.
 */
export class Complex {
  constructor(readonly re: Tensor, readonly im: Tensor) {}
  get shape(): number[] {
    return this.re.shape;
  }
}

/** Longest transform computed (as a DFT matrix product: no complex kernels on wasm). */
const MAX_FFT = 8192;

/** cos and −sin DFT matrices [n, bins], made once per length and kept, least recently used first. */
const dftMatrices = new Map<number, { cos: Tensor; sin: Tensor }>();
/** Bytes the kept DFT matrices may hold (one length of 8192 takes 268 MB). */
const DFT_CACHE_BYTES = 512 << 20;
let dftCacheBytes = 0;
function dft(n: number): { cos: Tensor; sin: Tensor } {
  if (n > MAX_FFT) throw new BendingError(`FFTs longer than ${MAX_FFT} are not supported (got ${n})`);
  let m = dftMatrices.get(n);
  if (m !== undefined) {
    dftMatrices.delete(n);
    dftMatrices.set(n, m);
  } else {
    const bins = Math.floor(n / 2) + 1;
    const c = new Float32Array(n * bins);
    const s = new Float32Array(n * bins);
    for (let t = 0; t < n; t++) {
      for (let k = 0; k < bins; k++) {
        const phase = (2 * Math.PI * ((k * t) % n)) / n;
        c[t * bins + k] = Math.cos(phase);
        s[t * bins + k] = -Math.sin(phase);
      }
    }
    const bytes = 2 * c.byteLength;
    for (const [length, old] of dftMatrices) {
      if (dftCacheBytes + bytes <= DFT_CACHE_BYTES) break;
      tf.dispose([old.cos, old.sin]);
      dftMatrices.delete(length);
      dftCacheBytes -= 2 * old.cos.size * 4;
    }
    m = { cos: tf.keep(tf.tensor2d(c, [n, bins])), sin: tf.keep(tf.tensor2d(s, [n, bins])) };
    dftMatrices.set(n, m);
    dftCacheBytes += bytes;
  }
  return m;
}

/** `x @ m` over the last axis of x. */
function lastAxisMatmul(x: Tensor, m: Tensor): Tensor {
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D, m as tf.Tensor2D);
  return tf.reshape(y, [...lead, m.shape[1] as number]);
}

function moveAxisLast(x: Tensor, dim: number): { y: Tensor; back: (t: Tensor) => Tensor } {
  const a = axis(dim, x.rank);
  if (a === x.rank - 1) return { y: x, back: (t) => t };
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
  return { y: tf.transpose(x, perm), back: (t) => tf.transpose(t, perm) };
}

function fitLast(x: Tensor, size: number): Tensor {
  const len = x.shape[x.rank - 1];
  if (size < len) return tf.slice(x, x.shape.map(() => 0), x.shape.map((d, i) => (i === x.rank - 1 ? size : d)));
  if (size > len) return tf.pad(x, x.shape.map((_, i) => (i === x.rank - 1 ? [0, size - len] : [0, 0])) as [number, number][]);
  return x;
}

/** torch.fft.rfft: real input, n/2 + 1 complex bins along `dim`. */
export const rfft = defineOp("fft_rfft", (x: Tensor, n: number | null = null, dim = -1, norm: string | null = null): Complex => {
  const { y, back } = moveAxisLast(tf.cast(x, "float32"), dim);
  const size = n ?? y.shape[y.rank - 1];
  const input = fitLast(y, size);
  const { cos, sin } = dft(size);
  const scale = fftScale(norm, size, true);
  const re = lastAxisMatmul(input, cos);
  const im = lastAxisMatmul(input, sin);
  return new Complex(back(scale === 1 ? re : tf.mul(re, scale)), back(scale === 1 ? im : tf.mul(im, scale)));
});

/** torch.fft.irfft: m complex bins, n = 2(m − 1) real samples (or `n`) along `dim`. */
export const irfft = defineOp("fft_irfft", (x: Complex | Tensor, n: number | null = null, dim = -1, norm: string | null = null): Tensor => {
  const z = x instanceof Complex ? x : new Complex(tf.cast(x, "float32"), tf.zerosLike(tf.cast(x, "float32")));
  const { y: re0, back } = moveAxisLast(z.re, dim);
  const { y: im0 } = moveAxisLast(z.im, dim);
  const bins = re0.shape[re0.rank - 1];
  const size = n ?? 2 * (bins - 1);
  const need = Math.floor(size / 2) + 1;
  // x_t = Σ_k w_k (re_k cos − im_k sin) with w = 1 at DC and Nyquist, 2 elsewhere
  const weights = new Float32Array(need).map((_, k) => (k === 0 || (size % 2 === 0 && k === size / 2) ? 1 : 2));
  const w = tf.tensor1d(weights);
  const re = tf.mul(fitLast(re0, need), w);
  const im = tf.mul(fitLast(im0, need), w);
  const { cos, sin } = dft(size);
  // sin holds −sin: re·cos + im·(−sin)
  const out = tf.add(lastAxisMatmul(re, tf.transpose(cos)), lastAxisMatmul(im, tf.transpose(sin)));
  return back(tf.mul(out, fftScale(norm, size, false)));
});

export const viewAsComplex = defineOp("view_as_complex", (x: Tensor): Complex => {
  if (x.shape[x.rank - 1] !== 2) throw new BendingError(`view_as_complex needs a last dim of size 2, got shape [${x.shape.join(", ")}]`);
  const parts = tf.unstack(x, x.rank - 1);
  return new Complex(parts[0], parts[1]);
});
export const viewAsReal = defineOp("view_as_real", (x: Complex): Tensor => tf.stack([x.re, x.im], x.re.rank));
export const real = defineOp("real", (x: Complex | Tensor): Tensor => (x instanceof Complex ? x.re : x));
export const imag = defineOp("imag", (x: Complex): Tensor => x.im);
/** |x|, also the modulus of a complex tensor. */
export const complexAbs = defineOp("abs", (x: Complex | Tensor): Tensor => (x instanceof Complex ? tf.sqrt(tf.add(tf.square(x.re), tf.square(x.im))) : tf.abs(x)));
/** Complex arithmetic (either side may be real). */
export const complexOp = defineOp("complex_op", (op: "add" | "sub" | "mul", a: Complex | Tensor | number, b: Complex | Tensor | number): Complex => {
  const parts = (v: Complex | Tensor | number): [Tensor | number, Tensor | number] => (v instanceof Complex ? [v.re, v.im] : [v, 0]);
  const [ar, ai] = parts(a);
  const [br, bi] = parts(b);
  if (op === "mul") return new Complex(tf.sub(tf.mul(ar, br), tf.mul(ai, bi)), tf.add(tf.mul(ar, bi), tf.mul(ai, br)));
  const f = op === "add" ? tf.add : tf.sub;
  return new Complex(f(ar, br) as Tensor, f(ai, bi) as Tensor);
});
export const hannWindow = defineOp("hann_window", (length: number, periodic = true): Tensor => {
  const n = periodic ? length : length - 1;
  return tf.tensor1d(Float32Array.from({ length }, (_, i) => (n === 0 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n))));
});

/** Draws `shape` numbers from `draw` (the model's random source). */
export type RandomDraw = (kind: "normal" | "uniform", shape: number[]) => Float32Array;

export const randn = defineOp("randn", (shape: number[], draw: RandomDraw): Tensor => tf.tensor(draw("normal", shape), shape, "float32"));
export const rand = defineOp("rand", (shape: number[], draw: RandomDraw): Tensor => tf.tensor(draw("uniform", shape), shape, "float32"));

export const full = defineOp("full", (shape: number[], value: number, dtype: tf.DataType = "float32"): Tensor => tf.fill(shape, value, dtype));
export const arange = defineOp("arange", (start: number, end: number, step = 1, dtype: tf.DataType = "float32"): Tensor =>
  tf.cast(tf.range(start, end, step, "float32"), dtype));
export const linspace = defineOp("linspace", (start: number, end: number, steps: number): Tensor => tf.linspace(start, end, steps));

/** torch.expand: -1 keeps a dim; new leading dims broadcast. */
export const expand = defineOp("expand", (x: Tensor, sizes: number[]): Tensor => {
  const lead = sizes.length - x.rank;
  const shape = sizes.map((s, i) => (s === -1 ? dims(x)[i - lead] : s));
  return tf.broadcastTo(lead > 0 ? tf.reshape(x, [...new Array<number>(lead).fill(1), ...x.shape]) : x, shape);
});
/** torch.repeat (tile), with new leading dims. */
export const repeat = defineOp("repeat", (x: Tensor, reps: number[]): Tensor => {
  const lead = reps.length - x.rank;
  return tf.tile(lead > 0 ? tf.reshape(x, [...new Array<number>(lead).fill(1), ...x.shape]) : x, reps);
});
export const clone = defineOp("clone", (x: Tensor): Tensor => tf.clone(x));
export const cast = defineOp("to", (x: Tensor, dtype: tf.DataType): Tensor => (x.dtype === dtype ? x : tf.cast(x, dtype)));
export const floorDivide = defineOp("floor_divide", (a: Operand, b: Operand): Tensor => tf.floor(tf.div(tf.cast(a, "float32"), b)));
/** Python's modulo (the sign of the divisor). */
export const remainder = defineOp("remainder", (a: Operand, b: Operand): Tensor => {
  const x = typeof a === "number" ? tf.scalar(a) : a;
  return tf.sub(x, tf.mul(b, tf.floor(tf.div(tf.cast(x, "float32"), b))));
});
export const eq = defineOp("eq", (a: Operand, b: Operand): Tensor => tf.equal(a, b));
export const ne = defineOp("ne", (a: Operand, b: Operand): Tensor => tf.notEqual(a, b));
export const lt = defineOp("lt", (a: Operand, b: Operand): Tensor => tf.less(a, b));
export const le = defineOp("le", (a: Operand, b: Operand): Tensor => tf.lessEqual(a, b));
export const gt = defineOp("gt", (a: Operand, b: Operand): Tensor => tf.greater(a, b));
export const ge = defineOp("ge", (a: Operand, b: Operand): Tensor => tf.greaterEqual(a, b));
export const logical = defineOp("logical", (op: "and" | "or" | "xor", a: Tensor, b: Tensor): Tensor => {
  const fns = { and: tf.logicalAnd, or: tf.logicalOr, xor: tf.logicalXor };
  return fns[op](tf.cast(a, "bool"), tf.cast(b, "bool"));
});
export const logicalNot = defineOp("logical_not", (x: Tensor): Tensor => tf.logicalNot(tf.cast(x, "bool")));
export const maskedFill = defineOp("masked_fill", (x: Tensor, mask: Tensor, value: Operand): Tensor =>
  tf.where(tf.broadcastTo(tf.cast(mask, "bool"), x.shape), tf.broadcastTo(tf.cast(value, x.dtype), x.shape), x));
/** Elementwise ops by tfjs name (exp, log1p, floor, ...), each one traced node named after the PyTorch op. */
export const unary = defineOp("unary", (name: "log1p" | "floor" | "ceil" | "round" | "reciprocal" | "rsqrt" | "erf" | "tan" | "atan" | "expm1" | "log_sigmoid" | "trunc", x: Tensor): Tensor => {
  switch (name) {
    case "log1p": return tf.log1p(x);
    case "floor": return tf.floor(x);
    case "ceil": return tf.ceil(x);
    case "round": return tf.round(x);
    case "reciprocal": return tf.reciprocal(x);
    case "rsqrt": return tf.rsqrt(x);
    case "erf": return tf.erf(x);
    case "tan": return tf.tan(x);
    case "atan": return tf.atan(x);
    case "expm1": return tf.expm1(x);
    case "log_sigmoid": return tf.logSigmoid(x);
    case "trunc": return tf.mul(tf.sign(x), tf.floor(tf.abs(x)));
  }
});
export const softplusBeta = defineOp("softplus", (x: Tensor, beta = 1, threshold = 20): Tensor => {
  if (beta === 1 && threshold >= 20) return tf.softplus(x);
  const bx = tf.mul(x, beta);
  return tf.where(tf.greater(bx, threshold), x, tf.div(tf.softplus(bx), beta));
});
export const eluAlpha = defineOp("elu", (x: Tensor, alpha = 1): Tensor => (alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(tf.expm1(x), alpha))));
/** GELU, exact or with the tanh approximation. */
export const geluApprox = defineOp("gelu", (x: Tensor, approximate = "none"): Tensor => {
  if (approximate === "tanh") {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
});
export const hardtanh = defineOp("hardtanh", (x: Tensor, min = -1, max = 1): Tensor => tf.clipByValue(x, min, max));
export const logSoftmax = defineOp("log_softmax", (x: Tensor, dim = -1): Tensor => tf.sub(x, tf.logSumExp(x, axis(dim, x.rank), true)));
/**
 * torch.einsum for explicit subscripts ("bct,bct->bt", "ij,jk"), as broadcast products summed
 * over the contracted letters (the wasm backend has no Einsum kernel).
 */
export const einsum = defineOp("einsum", (equation: string, tensors: Tensor[]): Tensor => {
  const eq = equation.replace(/\s+/g, "");
  if (eq.includes(".")) throw new BendingError(`einsum '${equation}': ellipsis (...) is not supported`);
  const [lhs, given] = eq.split("->");
  const inputs = lhs.split(",");
  if (inputs.length !== tensors.length) throw new BendingError(`einsum '${equation}' names ${inputs.length} operands, got ${tensors.length}`);
  const letters = [...new Set(inputs.join(""))];
  // implicit output: the letters that appear once, in alphabetical order
  const output = given ?? letters.filter((l) => inputs.join("").split(l).length === 2).sort().join("");
  const sizes = new Map<string, number>();
  let product: Tensor | null = null;
  inputs.forEach((subs, i) => {
    const t = tensors[i];
    if (subs.length !== t.rank) throw new BendingError(`einsum '${equation}': operand ${i} has rank ${t.rank}, subscripts '${subs}'`);
    if (new Set(subs).size !== subs.length) throw new BendingError(`einsum '${equation}': repeated subscripts in one operand are not supported`);
    [...subs].forEach((l, d) => {
      const n = dims(t)[d];
      const known = sizes.get(l);
      if (known !== undefined && known !== n && known !== 1 && n !== 1) throw new BendingError(`einsum '${equation}': '${l}' is ${known} and ${n}`);
      if (known === undefined || known === 1) sizes.set(l, n);
    });
    const present = letters.filter((l) => subs.includes(l));
    const moved = tf.transpose(t, present.map((l) => subs.indexOf(l)));
    const aligned = tf.reshape(moved, letters.map((l) => (subs.includes(l) ? dims(t)[subs.indexOf(l)] : 1)));
    product = product === null ? aligned : tf.mul(product, aligned);
  });
  const summed = letters.map((l, i) => (output.includes(l) ? -1 : i)).filter((i) => i >= 0);
  let y = summed.length > 0 ? tf.sum(product!, summed) : product!;
  const kept = letters.filter((l) => output.includes(l));
  y = tf.transpose(y, [...output].map((l) => kept.indexOf(l)));
  return y;
});
export const indexSelect = defineOp("index_select", (x: Tensor, dim: number, index: Tensor): Tensor => tf.gather(x, tf.cast(index, "int32"), axis(dim, x.rank)));

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

/** Inverse trigonometric functions (PyTorch's acos/asin, alias arccos/arcsin). */
export const inverseTrig = defineOp("inverse_trig", (name: "acos" | "asin", x: Tensor): Tensor => (name === "acos" ? tf.acos(x) : tf.asin(x)));

/** torch.repeat_interleave with an int count: each element `repeats` times along `dim` (flattened when dim is null). */
export const repeatInterleave = defineOp("repeat_interleave", (x: Tensor, repeats: number, dim: number | null = null): Tensor => {
  const y = dim === null ? tf.reshape(x, [-1]) : x;
  const a = dim === null ? 0 : axis(dim, y.rank);
  const reps = new Array<number>(y.rank + 1).fill(1);
  reps[a + 1] = repeats;
  const tiled = tf.tile(tf.expandDims(y, a + 1), reps);
  const shape = [...y.shape];
  shape[a] *= repeats;
  return tf.reshape(tiled, shape);
});

/**
 * torch.stft on an already padded signal ([T] or [B, T]): frames of `nFft` every `hop`
 * samples times the window (centred zero-padded to nFft), one-sided DFT. Returned as a
 * Complex [.., nFft/2 + 1, frames] (or [.., bins, frames, 2] when not complex). Computed as
 * one strided conv1d with window·cos and −window·sin kernels (wasm has no FFT kernel).
 */
export const stft = defineOp("stft", (x: Tensor, nFft: number, hop: number | null = null, winLength: number | null = null,
  window: Tensor | null = null, normalized = false, onesided: boolean | null = null, returnComplex: boolean | null = null): Complex | Tensor => {
  if (x.rank !== 1 && x.rank !== 2) throw new BendingError(`stft needs a 1-d or 2-d signal, got shape [${x.shape.join(", ")}]`);
  if (onesided === false) throw new BendingError("stft with onesided=False is not supported");
  const step = hop ?? Math.floor(nFft / 4);
  const length = winLength ?? nFft;
  if (x.shape[x.rank - 1] < nFft) throw new BendingError(`stft: the signal (${x.shape[x.rank - 1]} samples) is shorter than n_fft ${nFft}`);
  const win = window === null ? tf.ones([length]) : window;
  if (win.shape[0] !== length) throw new BendingError(`stft: the window has ${win.shape[0]} samples, win_length is ${length}`);
  const left = Math.floor((nFft - length) / 2);
  const padded = length === nFft ? win : tf.pad(win, [[left, nFft - length - left]]);
  const { cos, sin } = dft(nFft);
  const bins = Math.floor(nFft / 2) + 1;
  // kernels [2·bins, 1, nFft]: window·cos rows then window·(−sin) rows
  const basis = tf.concat([tf.transpose(cos), tf.transpose(sin)], 0);
  const kernel = tf.reshape(tf.mul(basis, tf.reshape(tf.cast(padded, "float32"), [1, nFft])), [2 * bins, 1, nFft]);
  const batched = tf.reshape(tf.cast(x, "float32"), [-1, 1, x.shape[x.rank - 1]]);
  let y = conv1d(batched, kernel, null, { stride: step });
  if (normalized) y = tf.mul(y, 1 / Math.sqrt(nFft));
  const lead = x.rank === 2 ? [dims(x)[0]] : [];
  const frames = dims(y)[2];
  const re = tf.reshape(tf.slice(y, [0, 0, 0], [-1, bins, -1]), [...lead, bins, frames]);
  const im = tf.reshape(tf.slice(y, [0, bins, 0], [-1, bins, -1]), [...lead, bins, frames]);
  if (returnComplex === false) return tf.stack([re, im], re.rank);
  return new Complex(re, im);
});

/**
 * torch.gru (batch-first or time-first input, unidirectional, no dropout): gates r, z, n in
 * PyTorch's order; `params` = [w_ih, w_hh, (b_ih, b_hh)] per layer. Returns [output, h_n].
 */
export const gru = defineOp("gru", (x: Tensor, h0: Tensor, params: Tensor[], hasBiases: boolean, numLayers: number, batchFirst: boolean): [Tensor, Tensor] => {
  const perLayer = hasBiases ? 4 : 2;
  if (params.length !== perLayer * numLayers) throw new BendingError(`gru expects ${perLayer * numLayers} weights for ${numLayers} layers, got ${params.length}`);
  let seq = batchFirst ? tf.transpose(x, [1, 0, 2]) : x; // [T, B, F]
  const [steps, batch] = dims(seq);
  const finals: Tensor[] = [];
  for (let l = 0; l < numLayers; l++) {
    const [wIh, wHh] = [params[l * perLayer], params[l * perLayer + 1]];
    const bIh = hasBiases ? params[l * perLayer + 2] : null;
    const bHh = hasBiases ? params[l * perLayer + 3] : null;
    const hidden = dims(wHh)[1];
    // input projections of every step at once: [T·B, 3H]
    const gi = linear(tf.reshape(seq, [steps * batch, dims(seq)[2]]), wIh, bIh);
    const giSteps = tf.split(tf.reshape(gi, [steps, batch, 3 * hidden]), steps, 0).map((t) => tf.reshape(t, [batch, 3 * hidden]));
    let h = tf.reshape(tf.slice(h0, [l, 0, 0], [1, batch, hidden]), [batch, hidden]);
    const outs: Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      const gh = linear(h, wHh, bHh);
      const [ir, iz, inn] = tf.split(giSteps[t], 3, 1);
      const [hr, hz, hn] = tf.split(gh, 3, 1);
      const r = tf.sigmoid(tf.add(ir, hr));
      const z = tf.sigmoid(tf.add(iz, hz));
      const n = tf.tanh(tf.add(inn, tf.mul(r, hn)));
      h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
      outs.push(h);
    }
    seq = tf.stack(outs, 0);
    finals.push(h);
  }
  return [batchFirst ? tf.transpose(seq, [1, 0, 2]) : seq, tf.stack(finals, 0)];
});
