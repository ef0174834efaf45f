// Convolutions with PyTorch's layouts (channels-first input, (out, in/groups, k...) weights)
// on tfjs's channels-last kernels, and transposed convolutions (polyphase for all but tiny layers).
import { tf, type Tensor } from "../../tf.js";
import { BendingError } from "../../errors.js";
import { derived } from "../derived.js";
import { defineOp, dims } from "./registry.js";

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
