// Lowerings of tb.F ops and tensor methods (call_function / call_method nodes) to ONNX.
// Shapes are static: a session is compiled for one input shape, so each node's recorded
// shape is its shape, and reshapes read it instead of computing one.
import { BendingError } from "../errors.js";
import type { Node } from "../graph/graph.js";
import { float, type OnnxGraphBuilder } from "./onnx-builder.js";
import { polyphaseBias, polyphaseFilter } from "./polyphase.js";
import {
  axis, isComplexValue, isTensorValue, NotCompilable, registerFunctionLowering, registerMethodLowering, tensorArg,
  type FunctionLowering, type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";

/** The node's recorded shape as one tensor's. */
export function nodeShape(node: Node): number[] {
  const s = node.shape;
  if (s === null || (s.length > 0 && Array.isArray(s[0]))) throw new NotCompilable(node.name, "its traced value is not one tensor");
  return s as number[];
}

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

/** Broadcast shape of two operands (numbers are scalars). */
export function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

function binary(type: string): FunctionLowering {
  return (ctx, args) => {
    const a = ctx.operand(args[0]);
    const b = ctx.operand(args[1]);
    return value(ctx.builder.op1(type, [a.name, b.name]), broadcast(a.shape, b.shape));
  };
}

function unary(type: string, attrs: Record<string, number | ReturnType<typeof float>> = {}): FunctionLowering {
  return (ctx, args) => {
    const x = tensorArg(ctx, args, 0);
    return value(ctx.builder.op1(type, [x.name], attrs), x.shape);
  };
}

/** x · sigmoid(x), shared by F.silu and nn.SiLU. */
export function silu(b: OnnxGraphBuilder, x: TensorValue): TensorValue {
  return value(b.op1("Mul", [x.name, b.op1("Sigmoid", [x.name])]), x.shape);
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function gelu(b: OnnxGraphBuilder, x: TensorValue): TensorValue {
  const erf = b.op1("Erf", [b.op1("Mul", [x.name, b.scalar(Math.SQRT1_2)])]);
  const half = b.op1("Mul", [x.name, b.scalar(0.5)]);
  return value(b.op1("Mul", [half, b.op1("Add", [erf, b.scalar(1)])]), x.shape);
}

export function leakyRelu(b: OnnxGraphBuilder, x: TensorValue, slope: number): TensorValue {
  return value(b.op1("LeakyRelu", [x.name], { alpha: float(slope) }), x.shape);
}

export function softmax(b: OnnxGraphBuilder, x: TensorValue, dim: number): TensorValue {
  return value(b.op1("Softmax", [x.name], { axis: axis(dim, x.shape.length) }), x.shape);
}

export function reshape(b: OnnxGraphBuilder, x: TensorValue, shape: readonly number[]): TensorValue {
  if (x.shape.join() === shape.join()) return x;
  return value(b.op1("Reshape", [x.name, b.int64s(shape)]), shape);
}

/** Slice of `length` along `dim` from `start` (step 1). */
export function narrow(b: OnnxGraphBuilder, x: TensorValue, dim: number, start: number, length: number): TensorValue {
  const a = axis(dim, x.shape.length);
  const shape = x.shape.map((d, i) => (i === a ? length : d));
  return value(b.op1("Slice", [x.name, b.int64s([start]), b.int64s([start + length]), b.int64s([a])]), shape);
}

export function concat(b: OnnxGraphBuilder, parts: TensorValue[], dim: number): TensorValue {
  const a = axis(dim, parts[0].shape.length);
  const shape = parts[0].shape.map((d, i) => (i === a ? parts.reduce((s, p) => s + p.shape[i], 0) : d));
  return value(b.op1("Concat", parts.map((p) => p.name), { axis: a }), shape);
}

export function addBias(b: OnnxGraphBuilder, y: TensorValue, bias: TensorValue | null, channelAxis: number): TensorValue {
  if (bias === null) return y;
  const shape = y.shape.map((d, i) => (i === channelAxis ? d : 1));
  return value(b.op1("Add", [y.name, reshape(b, bias, shape).name]), y.shape);
}

function options(a: LoweredArg): Record<string, LoweredArg> {
  return a !== null && typeof a === "object" && !Array.isArray(a) && !isTensorValue(a) && !isComplexValue(a) ? a : {};
}

export function ints(v: LoweredArg, n: number, fallback: number): number[] {
  if (v === undefined || v === null) return new Array<number>(n).fill(fallback);
  if (typeof v === "number") return new Array<number>(n).fill(v);
  if (Array.isArray(v) && v.every((x) => typeof x === "number")) return v as number[];
  throw new BendingError(`expected an integer or a list of integers, got ${JSON.stringify(v)}`);
}

/** ONNX pads [begins..., ends...] for a PyTorch conv padding (number, tuple, "same", "valid"). */
function convPads(padding: LoweredArg, kernel: number[], dilation: number[]): number[] {
  if (padding === undefined || padding === null || padding === "valid") return [...kernel.map(() => 0), ...kernel.map(() => 0)];
  if (padding === "same") {
    const total = kernel.map((k, i) => dilation[i] * (k - 1));
    return [...total.map((t) => Math.floor(t / 2)), ...total.map((t) => t - Math.floor(t / 2))];
  }
  const p = ints(padding, kernel.length, 0);
  return [...p, ...p];
}

export interface ConvSpec {
  stride?: LoweredArg;
  padding?: LoweredArg;
  dilation?: LoweredArg;
  groups?: LoweredArg;
  outputPadding?: LoweredArg;
}

/** PyTorch conv1d/2d (weight [out, in/groups, ...k]: ONNX's layout as is), bias added by the Conv. */
export function conv(b: OnnxGraphBuilder, x: TensorValue, w: TensorValue, bias: TensorValue | null, spec: ConvSpec, outShape: readonly number[]): TensorValue {
  const kernel = w.shape.slice(2);
  const dilations = ints(spec.dilation, kernel.length, 1);
  const attrs = {
    kernel_shape: kernel, strides: ints(spec.stride, kernel.length, 1), dilations,
    pads: convPads(spec.padding, kernel, dilations), group: typeof spec.groups === "number" ? spec.groups : 1,
  };
  if (kernel.length === 1) {
    // A 1-d conv runs as a 2-d conv of height 1: ONNX Runtime's CPU kernels for 2-d convs
    // (blocked channel layouts on AVX-512/AVX2) took 25% less time on the RAVE-sized decoder at
    // one frame (bench/native.js), same results within float rounding.
    const x4 = b.op1("Unsqueeze", [x.name, b.int64s([2])]);
    const w4 = b.op1("Unsqueeze", [w.name, b.int64s([2])]);
    const attrs2 = {
      kernel_shape: [1, kernel[0]], strides: [1, attrs.strides[0]], dilations: [1, dilations[0]],
      pads: [0, attrs.pads[0], 0, attrs.pads[1]], group: attrs.group,
    };
    const y4 = b.op1("Conv", [x4, w4, ...(bias ? [bias.name] : [])], attrs2);
    return value(b.op1("Squeeze", [y4, b.int64s([2])]), outShape);
  }
  return value(b.op1("Conv", [x.name, w.name, ...(bias ? [bias.name] : [])], attrs), outShape);
}

/** PyTorch conv_transpose1d/2d (weight [in, out/groups, ...k]: ONNX's layout as is). */
export function convTranspose(b: OnnxGraphBuilder, x: TensorValue, w: TensorValue, bias: TensorValue | null, spec: ConvSpec, outShape: readonly number[]): TensorValue {
  const kernel = w.shape.slice(2);
  const p = ints(spec.padding, kernel.length, 0);
  const attrs = {
    kernel_shape: kernel, strides: ints(spec.stride, kernel.length, 1), dilations: ints(spec.dilation, kernel.length, 1),
    pads: [...p, ...p], output_padding: ints(spec.outputPadding, kernel.length, 0), group: typeof spec.groups === "number" ? spec.groups : 1,
  };
  const phased = kernel.length === 1 && attrs.group === 1 && attrs.dilations[0] === 1 ? polyphaseConvTranspose1d(b, x, w, bias, attrs.strides[0], p[0], outShape) : null;
  return phased ?? value(b.op1("ConvTranspose", [x.name, w.name, ...(bias ? [bias.name] : [])], attrs), outShape);
}

/**
 * A ConvTranspose1d whose filter (and bias) are constants, as a Conv with one output channel per
 * phase and an interleave of the phases (polyphase.ts); null when they are not constants (a
 * filter bent by a live control is fed per block) or the output reaches past what the conv computes.
 */
function polyphaseConvTranspose1d(b: OnnxGraphBuilder, x: TensorValue, w: TensorValue, bias: TensorValue | null, stride: number, padding: number, outShape: readonly number[]): TensorValue | null {
  const weight = b.constantValues(w.name);
  const biasValues = bias === null ? null : b.constantValues(bias.name);
  if (weight === undefined || biasValues === undefined || x.shape.length !== 3 || outShape.length !== 3) return null;
  const [n, , length] = x.shape;
  const cout = w.shape[1];
  const outLength = outShape[2];
  const filter = polyphaseFilter(weight, w.shape, stride);
  const frames = length + filter.taps - 1;
  if (padding + outLength > frames * stride) return null;
  const channels = cout * stride;
  const phaseWeight = value(b.floatConstant("polyphase_weight", filter.data, filter.shape), filter.shape);
  const phaseBias = biasValues === null ? null : value(b.floatConstant("polyphase_bias", polyphaseBias(biasValues, stride), [channels]), [channels]);
  const phases = conv(b, x, phaseWeight, phaseBias, { padding: filter.taps - 1 }, [n, channels, frames]);
  const split = reshape(b, phases, [n, cout, stride, frames]);
  const interleaved = value(b.op1("Transpose", [split.name], { perm: [0, 1, 3, 2] }), [n, cout, frames, stride]);
  const full = reshape(b, interleaved, [n, cout, frames * stride]);
  return padding === 0 && outLength === frames * stride ? full : narrow(b, full, 2, padding, outLength);
}

/** PyTorch linear (weight [out, in]). */
export function linear(b: OnnxGraphBuilder, x: TensorValue, w: TensorValue, bias: TensorValue | null): TensorValue {
  const shape = [...x.shape.slice(0, -1), w.shape[0]];
  const y = value(b.op1("MatMul", [x.name, b.op1("Transpose", [w.name], { perm: [1, 0] })]), shape);
  return addBias(b, y, bias, shape.length - 1);
}

function optionalTensor(a: LoweredArg): TensorValue | null {
  return isTensorValue(a) ? a : null;
}

function register(names: string[], lowering: FunctionLowering): void {
  for (const n of names) registerFunctionLowering(n, lowering);
}

register(["add"], binary("Add"));
register(["sub"], binary("Sub"));
register(["mul"], binary("Mul"));
register(["div"], binary("Div"));
register(["pow"], binary("Pow"));
register(["maximum"], binary("Max"));
register(["minimum"], binary("Min"));
register(["neg"], unary("Neg"));
register(["abs"], (ctx, args) => {
  const z = args[0];
  if (!isComplexValue(z)) return unary("Abs")(ctx, args, {});
  // the modulus of a complex value: √(re² + im²), as the wasm op
  const b = ctx.builder;
  return value(b.op1("Sqrt", [b.op1("Add", [b.op1("Mul", [z.re.name, z.re.name]), b.op1("Mul", [z.im.name, z.im.name])])]), z.re.shape);
});
register(["exp"], unary("Exp"));
register(["log"], unary("Log"));
register(["sqrt"], unary("Sqrt"));
register(["sin"], unary("Sin"));
register(["cos"], unary("Cos"));
register(["sign"], unary("Sign"));
register(["tanh"], unary("Tanh"));
register(["sigmoid"], unary("Sigmoid"));
register(["relu"], unary("Relu"));
register(["softplus"], unary("Softplus"));
register(["elu"], (ctx, args) => value(ctx.builder.op1("Elu", [tensorArg(ctx, args, 0).name], { alpha: float(typeof args[1] === "number" ? args[1] : 1) }), tensorArg(ctx, args, 0).shape));
register(["square"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  return value(ctx.builder.op1("Mul", [x.name, x.name]), x.shape);
});
register(["silu"], (ctx, args) => silu(ctx.builder, tensorArg(ctx, args, 0)));
register(["gelu"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  if (args[1] === "tanh") {
    // 0.5·x·(tanh(√(2/π)·(x + 0.044715·x³)) + 1), in the wasm op's order
    const b = ctx.builder;
    const inner = b.op1("Mul", [b.op1("Add", [x.name, b.op1("Mul", [b.op1("Pow", [x.name, b.scalar(3)]), b.scalar(0.044715)])]), b.scalar(Math.sqrt(2 / Math.PI))]);
    return value(b.op1("Mul", [b.op1("Mul", [x.name, b.scalar(0.5)]), b.op1("Add", [b.op1("Tanh", [inner]), b.scalar(1)])]), x.shape);
  }
  if (args[1] !== undefined && args[1] !== "none") throw new NotCompilable(ctx.node.name, `gelu(approximate=${String(args[1])}) has no lowering`);
  return gelu(ctx.builder, x);
});
register(["leaky_relu"], (ctx, args) => leakyRelu(ctx.builder, tensorArg(ctx, args, 0), typeof args[1] === "number" ? args[1] : 0.01));
register(["hardtanh"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const lo = typeof args[1] === "number" ? args[1] : -1;
  const hi = typeof args[2] === "number" ? args[2] : 1;
  return value(ctx.builder.op1("Clip", [x.name, ctx.builder.scalar(lo), ctx.builder.scalar(hi)]), x.shape);
});
register(["clamp"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const bound = (a: LoweredArg, fallback: number): string =>
    a === null || a === undefined ? ctx.builder.scalar(fallback) : ctx.operand(a).name;
  const lo = bound(args[1], -Infinity);
  const hi = bound(args[2], Infinity);
  return value(ctx.builder.op1("Max", [ctx.builder.op1("Min", [x.name, hi]), lo]), x.shape);
});
register(["softmax"], (ctx, args) => softmax(ctx.builder, tensorArg(ctx, args, 0), typeof args[1] === "number" ? args[1] : -1));
register(["dropout", "clone", "contiguous"], (ctx, args) => tensorArg(ctx, args, 0));
register(["matmul"], (ctx, args) => {
  const a = tensorArg(ctx, args, 0);
  const b = tensorArg(ctx, args, 1);
  return value(ctx.builder.op1("MatMul", [a.name, b.name]), nodeShape(ctx.node));
});
// Shape ops: the recorded output shape is the shape.
register(["reshape", "flatten", "unsqueeze", "squeeze", "expand_dims", "view"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const y = reshape(ctx.builder, x, nodeShape(ctx.node));
  if (y !== x) ctx.markView(y, x, (b, base, v) => reshape(b, v, base.shape));
  return y;
});

function transposed(ctx: LoweringContext, x: TensorValue, perm: number[]): TensorValue {
  const y = value(ctx.builder.op1("Transpose", [x.name], { perm }), perm.map((p) => x.shape[p]));
  const inverse = perm.map((_, i) => perm.indexOf(i));
  ctx.markView(y, x, (b, _base, v) => value(b.op1("Transpose", [v.name], { perm: inverse }), inverse.map((p) => v.shape[p])));
  return y;
}
register(["permute"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  return transposed(ctx, x, ints(args[1], x.shape.length, 0).map((d) => axis(d, x.shape.length)));
});
register(["transpose"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const perm = x.shape.map((_, i) => i);
  const a = axis(args[1] as number, x.shape.length);
  const c = axis(args[2] as number, x.shape.length);
  [perm[a], perm[c]] = [perm[c], perm[a]];
  return transposed(ctx, x, perm);
});

/** A new value of `base` with positions begin, begin + step, ... < stop along `a` taken from `view`. */
function sliceWrite(b: OnnxGraphBuilder, base: TensorValue, view: TensorValue, a: number, begin: number, stop: number, step: number): TensorValue {
  const size = base.shape[a];
  if (step === 1) {
    const parts: TensorValue[] = [];
    if (begin > 0) parts.push(narrow(b, base, a, 0, begin));
    parts.push(view);
    if (stop < size) parts.push(narrow(b, base, a, stop, size - stop));
    return parts.length === 1 ? reshape(b, parts[0], base.shape) : concat(b, parts, a);
  }
  const index = Array.from({ length: size }, (_, j) => {
    const k = (j - begin) / step;
    return j >= begin && j < stop && Number.isInteger(k) ? size + k : j;
  });
  return value(b.op1("Gather", [concat(b, [base, view], a).name, b.int64s(index)], { axis: a }), base.shape);
}
register(["expand"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const shape = nodeShape(ctx.node);
  return value(ctx.builder.op1("Expand", [x.name, ctx.builder.int64s(shape)]), shape);
});
register(["cat"], (ctx, args) => {
  const parts = (args[0] as LoweredArg[]).filter(isTensorValue);
  return concat(ctx.builder, parts, typeof args[1] === "number" ? args[1] : 0);
});
register(["narrow"], (ctx, args) => narrow(ctx.builder, tensorArg(ctx, args, 0), args[1] as number, args[2] as number, args[3] as number));
register(["slice"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const a = axis(typeof args[1] === "number" ? args[1] : 0, x.shape.length);
  const size = x.shape[a];
  const clampBound = (v: LoweredArg, fallback: number): number => {
    if (typeof v !== "number") return fallback;
    return Math.min(Math.max(v < 0 ? v + size : v, 0), size);
  };
  const start = clampBound(args[2], 0);
  const end = Math.max(start, clampBound(args[3], size));
  const step = typeof args[4] === "number" ? args[4] : 1;
  // a whole-axis slice is the tensor itself, as in the interpreter: a write into it writes the tensor
  if (start === 0 && end === size && step === 1) return x;
  const b = ctx.builder;
  const y = value(b.op1("Slice", [x.name, b.int64s([start]), b.int64s([end]), b.int64s([a]), b.int64s([step])]), nodeShape(ctx.node));
  ctx.markView(y, x, (bb, base, v) => sliceWrite(bb, base, v, a, start, end, step));
  return y;
});
register(["select"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const a = axis(args[1] as number, x.shape.length);
  const i = (args[2] as number) < 0 ? (args[2] as number) + x.shape[a] : (args[2] as number);
  const y = reshape(ctx.builder, narrow(ctx.builder, x, a, i, 1), nodeShape(ctx.node));
  ctx.markView(y, x, (b, base, v) => sliceWrite(b, base, reshape(b, v, [...v.shape.slice(0, a), 1, ...v.shape.slice(a)]), a, i, i + 1, 1));
  return y;
});
const splitLowering: FunctionLowering = (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const shapes = ctx.node.shape as number[][];
  const a = axis(typeof args[2] === "number" ? args[2] : 0, x.shape.length);
  let offset = 0;
  return shapes.map((s) => {
    const part = narrow(ctx.builder, x, a, offset, s[a]);
    offset += s[a];
    return part;
  });
};
register(["split", "chunk"], splitLowering);
register(["flip"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  let y = x;
  for (const d of ints(args[1], 1, 0)) y = reverse(ctx.builder, y, d);
  return y;
});
register(["getitem"], (ctx, args) => {
  const [container, key] = args;
  if (Array.isArray(container) && typeof key === "number") return container[key];
  if (container !== null && typeof container === "object" && !isTensorValue(container) && typeof key === "string") {
    return (container as Record<string, LoweredArg>)[key];
  }
  throw new NotCompilable(ctx.node.name, "getitem on something that is not a list of tensors");
});
register(["pad"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const pads = ints(args[1], 0, 0);
  const mode = typeof args[2] === "string" ? args[2] : "constant";
  const rank = x.shape.length;
  const begins = new Array<number>(rank).fill(0);
  const ends = new Array<number>(rank).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    begins[rank - 1 - i] = pads[2 * i];
    ends[rank - 1 - i] = pads[2 * i + 1];
  }
  const onnxMode = mode === "replicate" ? "edge" : mode;
  const b = ctx.builder;
  const inputs = [x.name, b.int64s([...begins, ...ends])];
  if (onnxMode === "constant") inputs.push(b.scalar(typeof args[3] === "number" ? args[3] : 0));
  return value(b.op1("Pad", inputs, { mode: onnxMode }), nodeShape(ctx.node));
});
const reduce = (type: string): FunctionLowering => (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const dims = args[1] === undefined || args[1] === null ? x.shape.map((_, i) => i) : ints(args[1], 1, 0).map((d) => axis(d, x.shape.length));
  const keep = args[2] === true ? 1 : 0;
  return value(ctx.builder.op1(type, [x.name, ctx.builder.int64s(dims)], { keepdims: keep }), nodeShape(ctx.node));
};
register(["sum"], reduce("ReduceSum"));
register(["mean"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const dims = args[1] === undefined || args[1] === null ? x.shape.map((_, i) => i) : ints(args[1], 1, 0).map((d) => axis(d, x.shape.length));
  return value(ctx.builder.op1("ReduceMean", [x.name], { axes: dims, keepdims: args[2] === true ? 1 : 0 }), nodeShape(ctx.node));
});
register(["conv1d", "conv2d"], (ctx, args) => conv(ctx.builder, tensorArg(ctx, args, 0), tensorArg(ctx, args, 1), optionalTensor(args[2]), options(args[3]) as ConvSpec, nodeShape(ctx.node)));
register(["conv_transpose1d", "conv_transpose2d"], (ctx, args) =>
  convTranspose(ctx.builder, tensorArg(ctx, args, 0), tensorArg(ctx, args, 1), optionalTensor(args[2]), options(args[3]) as ConvSpec, nodeShape(ctx.node)));
register(["linear"], (ctx, args) => linear(ctx.builder, tensorArg(ctx, args, 0), tensorArg(ctx, args, 1), optionalTensor(args[2])));
register(["batch_norm"], (ctx, args) => {
  const [x, mean, variance] = [0, 1, 2].map((i) => tensorArg(ctx, args, i));
  return batchNorm(ctx.builder, x, mean, variance, optionalTensor(args[3]), optionalTensor(args[4]), typeof args[5] === "number" ? args[5] : 1e-5);
});
register(["upsample_nearest"], (ctx, args) => upsampleNearest(ctx.builder, tensorArg(ctx, args, 0), args[1] as number, nodeShape(ctx.node)));

/** Nearest-neighbour upsampling by an integer factor on every spatial axis (N, C, ...). */
export function upsampleNearest(b: OnnxGraphBuilder, x: TensorValue, factor: number, outShape: readonly number[]): TensorValue {
  const scales = b.floatConstant("scales", Float32Array.from(x.shape.map((_, i) => (i < 2 ? 1 : factor))), [x.shape.length]);
  const attrs = { mode: "nearest", nearest_mode: "floor", coordinate_transformation_mode: "asymmetric" };
  return value(b.op1("Resize", [x.name, "", scales], attrs), outShape);
}

/** Inference batch norm: (x − mean)/√(var + eps)·w + b along axis 1. */
export function batchNorm(b: OnnxGraphBuilder, x: TensorValue, mean: TensorValue, variance: TensorValue, w: TensorValue | null, bias: TensorValue | null, eps: number): TensorValue {
  const shape = x.shape.map((d, i) => (i === 1 ? d : 1));
  let scale = b.op1("Reciprocal", [b.op1("Sqrt", [b.op1("Add", [variance.name, b.scalar(eps)])])]);
  if (w) scale = b.op1("Mul", [scale, w.name]);
  let shift = b.op1("Neg", [b.op1("Mul", [mean.name, scale])]);
  if (bias) shift = b.op1("Add", [shift, bias.name]);
  const y = b.op1("Mul", [x.name, reshape(b, value(scale, [shape[1]]), shape).name]);
  return value(b.op1("Add", [y, reshape(b, value(shift, [shape[1]]), shape).name]), x.shape);
}

/** x reversed along `dim` (a negative-step Slice). */
export function reverse(b: OnnxGraphBuilder, x: TensorValue, dim: number): TensorValue {
  const a = axis(dim, x.shape.length);
  const n = x.shape[a];
  return value(b.op1("Slice", [x.name, b.int64s([n - 1]), b.int64s([-n - 1]), b.int64s([a]), b.int64s([-1])]), x.shape);
}

for (const [method, fn] of [["add", "Add"], ["sub", "Sub"], ["mul", "Mul"], ["div", "Div"]] as const) registerMethodLowering(method, binary(fn));
for (const [method, fn] of [["tanh", "Tanh"], ["sigmoid", "Sigmoid"], ["relu", "Relu"], ["neg", "Neg"], ["abs", "Abs"], ["exp", "Exp"]] as const) {
  registerMethodLowering(method, unary(fn));
}
registerMethodLowering("reshape", (ctx, args) => reshape(ctx.builder, tensorArg(ctx, args, 0), nodeShape(ctx.node)));
registerMethodLowering("clone", (ctx, args) => tensorArg(ctx, args, 0));

register(["stack"], (ctx, args) => {
  const parts = (args[0] as LoweredArg[]).filter(isTensorValue);
  const rank = parts[0].shape.length + 1;
  const d = typeof args[1] === "number" ? axis(args[1], rank) : 0;
  const expanded = parts.map((p) => reshape(ctx.builder, p, [...p.shape.slice(0, d), 1, ...p.shape.slice(d)]));
  return concat(ctx.builder, expanded, d);
});

/** F.unary's functions, each as ONNX ops on x. */
const UNARY: Record<string, (b: OnnxGraphBuilder, x: string) => string> = {
  floor: (b, x) => b.op1("Floor", [x]),
  ceil: (b, x) => b.op1("Ceil", [x]),
  round: (b, x) => b.op1("Round", [x]),
  reciprocal: (b, x) => b.op1("Reciprocal", [x]),
  rsqrt: (b, x) => b.op1("Reciprocal", [b.op1("Sqrt", [x])]),
  erf: (b, x) => b.op1("Erf", [x]),
  tan: (b, x) => b.op1("Tan", [x]),
  atan: (b, x) => b.op1("Atan", [x]),
  log1p: (b, x) => b.op1("Log", [b.op1("Add", [x, b.scalar(1)])]),
  expm1: (b, x) => b.op1("Sub", [b.op1("Exp", [x]), b.scalar(1)]),
  log_sigmoid: (b, x) => b.op1("Neg", [b.op1("Softplus", [b.op1("Neg", [x])])]),
};
register(["unary"], (ctx, args) => {
  const fn = UNARY[String(args[0])];
  if (fn === undefined) throw new NotCompilable(ctx.node.name, `unary '${String(args[0])}' has no native lowering`);
  const x = tensorArg(ctx, args, 1);
  return value(fn(ctx.builder, x.name), x.shape);
});

register(["randn"], (ctx) => ctx.random("normal", nodeShape(ctx.node)));
register(["rand"], (ctx) => ctx.random("uniform", nodeShape(ctx.node)));

/** torch.repeat_interleave with an int count: each element repeated in place along `dim` (flattened when null). */
register(["repeat_interleave"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const repeats = args[1];
  if (typeof repeats !== "number") throw new NotCompilable(ctx.node.name, "repeat_interleave with a tensor of counts has no native lowering");
  const y = typeof args[2] === "number" ? x : reshape(ctx.builder, x, [x.shape.reduce((a, c) => a * c, 1)]);
  const a = typeof args[2] === "number" ? axis(args[2], y.shape.length) : 0;
  const spread = [...y.shape.slice(0, a + 1), repeats, ...y.shape.slice(a + 1)];
  const lifted = reshape(ctx.builder, y, [...y.shape.slice(0, a + 1), 1, ...y.shape.slice(a + 1)]);
  const tiled = value(ctx.builder.op1("Expand", [lifted.name, ctx.builder.int64s(spread)]), spread);
  return reshape(ctx.builder, tiled, y.shape.map((d, i) => (i === a ? d * repeats : d)));
});

/** torch.norm: the p-norm over `dim` (all axes when null), as the wasm op computes it. */
register(["norm"], (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const p = typeof args[1] === "number" ? args[1] : 2;
  const dims = args[2] === undefined || args[2] === null ? x.shape.map((_, i) => i) : ints(args[2], 1, 0).map((d) => axis(d, x.shape.length));
  const attrs = { keepdims: args[3] === true ? 1 : 0 };
  const sum = (t: string): string => b.op1("ReduceSum", [t, b.int64s(dims)], attrs);
  const a = b.op1("Abs", [x.name]);
  let out: string;
  if (p === Infinity || p === -Infinity) out = b.op1(p > 0 ? "ReduceMax" : "ReduceMin", [a], { ...attrs, axes: dims });
  else if (p === 0) out = sum(b.op1("Cast", [b.op1("Not", [b.op1("Equal", [x.name, b.scalar(0)])])], { to: 1 }));
  else if (p === 2) out = b.op1("Sqrt", [sum(b.op1("Mul", [x.name, x.name]))]);
  else if (p === 1) out = sum(a);
  else out = b.op1("Pow", [sum(b.op1("Pow", [a, b.scalar(p)])), b.scalar(1 / p)]);
  return value(out, nodeShape(ctx.node));
});
