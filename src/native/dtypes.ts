// Integer and bool tensors in a compiled graph. The native engine keeps every value float32:
// an int32/int64 tensor is held as exact integral floats (exact up to 2^24, far beyond any
// index or count a block computes), a bool tensor as 0/1. Casts are ONNX Cast round trips
// (float → int32 truncates toward zero as tfjs's cast does; → bool is "not zero"), ops that
// need real integers or bools (Gather indices, Where conditions) Cast at the point of use,
// and factories with a dtype (arange, linspace, full, rfftfreq) become constants computed the
// way the wasm op computes them.
import { tf, type Tensor } from "../tf.js";
import { ONNX_TYPE, type OnnxGraphBuilder } from "./onnx-builder.js";
import {
  axis, floatData, NotCompilable, registerFunctionLowering, tensorArg,
  type FunctionLowering, type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";
import { broadcast, nodeShape } from "./ops.js";
import { frequencyValues } from "../torchscript/ops-torch2.js";

const { FLOAT: ONNX_FLOAT, INT32: ONNX_INT32, INT64: ONNX_INT64, BOOL: ONNX_BOOL } = ONNX_TYPE;

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

/** A value as ONNX bool (a condition or mask held as 0/1 floats). */
export function asBool(b: OnnxGraphBuilder, x: TensorValue): string {
  return b.op1("Cast", [x.name], { to: ONNX_BOOL });
}

/** A value as int64 indices (Gather, embedding). */
export function asIndices(b: OnnxGraphBuilder, x: TensorValue): string {
  return b.op1("Cast", [x.name], { to: ONNX_INT64 });
}

/** A bool (or int) ONNX value back to the float32 the graph carries. */
export function toFloat(b: OnnxGraphBuilder, name: string, shape: readonly number[]): TensorValue {
  return value(b.op1("Cast", [name], { to: ONNX_FLOAT }), shape);
}

/** `x` cast to a tfjs dtype, held as float32: truncated for int32, 0/1 for bool. */
export function castTo(ctx: LoweringContext, x: TensorValue, dtype: string): TensorValue {
  const b = ctx.builder;
  switch (dtype) {
    case "float32":
      return x;
    case "int32":
      return toFloat(b, b.op1("Cast", [x.name], { to: ONNX_INT32 }), x.shape);
    case "bool":
      return toFloat(b, asBool(b, x), x.shape);
    default:
      throw new NotCompilable(ctx.node.name, `a cast to ${dtype} has no native lowering`);
  }
}

/** A constant computed by tfjs at compile time as the wasm op computes it (factories of numbers alone). */
function constant(ctx: LoweringContext, base: string, make: () => Tensor): TensorValue {
  const t = tf.tidy(make);
  try {
    return value(ctx.builder.floatConstant(base, floatData(t), t.shape), t.shape);
  } finally {
    t.dispose();
  }
}

function numberArg(ctx: LoweringContext, a: LoweredArg, what: string): number {
  if (typeof a !== "number") throw new NotCompilable(ctx.node.name, `${ctx.node.target}: ${what} is not a number`);
  return a;
}

function dtypeArg(a: LoweredArg): string {
  return typeof a === "string" ? a : "float32";
}

function register(names: string[], lowering: FunctionLowering): void {
  for (const n of names) registerFunctionLowering(n, lowering);
}

register(["to"], (ctx, args) => {
  const dtype = args.slice(1).find((a) => typeof a === "string");
  return castTo(ctx, tensorArg(ctx, args, 0), dtype ?? "float32");
});

// factories: the values tfjs makes, cast as the wasm op casts them
register(["arange"], (ctx, args) => {
  const start = numberArg(ctx, args[0], "start");
  const end = numberArg(ctx, args[1], "end");
  const step = args[2] === undefined ? 1 : numberArg(ctx, args[2], "step");
  const dtype = dtypeArg(args[3]) as tf.DataType;
  return constant(ctx, "arange", () => tf.cast(tf.range(start, end, step, "float32"), dtype));
});
register(["linspace"], (ctx, args) => {
  const [start, end, steps] = [0, 1, 2].map((i) => numberArg(ctx, args[i], "a bound"));
  return constant(ctx, "linspace", () => tf.linspace(start, end, steps));
});
register(["full"], (ctx, args) => {
  const shape = nodeShape(ctx.node);
  const fill = args[1];
  const dtype = dtypeArg(args[2]);
  const number = typeof fill === "boolean" ? (fill ? 1 : 0) : numberArg(ctx, fill, "the fill value");
  const v = dtype === "bool" ? (number !== 0 ? 1 : 0) : dtype === "int32" ? Math.trunc(number) : number;
  if (dtype !== "float32" && dtype !== "int32" && dtype !== "bool") throw new NotCompilable(ctx.node.name, `full(dtype=${dtype}) has no native lowering`);
  return value(ctx.builder.floatConstant("full", new Float32Array(shape.reduce((a, c) => a * c, 1)).fill(v), shape), shape);
});
/** rfftfreq / fftfreq: the frequencies of the bins, as the interpreter's op lists them. */
for (const [name, onesided] of [["fft_rfftfreq", true], ["fft_fftfreq", false]] as const) {
  registerFunctionLowering(name, (ctx, args) => {
    const n = numberArg(ctx, args[0], "n");
    const d = typeof args[1] === "number" ? args[1] : 1;
    const values = frequencyValues(n, d, onesided);
    return value(ctx.builder.floatConstant(name, values, [values.length]), [values.length]);
  });
}

// comparisons and logic give 0/1
for (const [name, op, swap] of [["eq", "Equal", false], ["lt", "Less", false], ["gt", "Greater", false], ["le", "LessOrEqual", false], ["ge", "GreaterOrEqual", false], ["ne", "Equal", true]] as const) {
  register([name], (ctx, args) => {
    const b = ctx.builder;
    const x = ctx.operand(args[0]);
    const y = ctx.operand(args[1]);
    let out = b.op1(op, [x.name, y.name]);
    if (swap) out = b.op1("Not", [out]);
    return toFloat(b, out, broadcast(x.shape, y.shape));
  });
}
register(["logical_not"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  return toFloat(ctx.builder, ctx.builder.op1("Not", [asBool(ctx.builder, x)]), x.shape);
});
/** logical(op, a, b): and / or / xor of the operands taken as bools. */
register(["logical"], (ctx, args) => {
  const b = ctx.builder;
  const ops: Record<string, string> = { and: "And", or: "Or", xor: "Xor" };
  const op = ops[String(args[0])];
  if (op === undefined) throw new NotCompilable(ctx.node.name, `logical '${String(args[0])}' has no native lowering`);
  const x = ctx.operand(args[1]);
  const y = ctx.operand(args[2]);
  return toFloat(b, b.op1(op, [asBool(b, x), asBool(b, y)]), broadcast(x.shape, y.shape));
});
register(["where"], (ctx, args) => {
  const b = ctx.builder;
  const cond = tensorArg(ctx, args, 0);
  const x = ctx.operand(args[1]);
  const y = ctx.operand(args[2]);
  return value(b.op1("Where", [asBool(b, cond), x.name, y.name]), broadcast(broadcast(cond.shape, x.shape), y.shape));
});
register(["masked_fill"], (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const mask = tensorArg(ctx, args, 1);
  const v = ctx.operand(args[2]);
  return value(b.op1("Where", [asBool(b, mask), v.name, x.name]), x.shape);
});
for (const name of ["tril", "triu"] as const) {
  register([name], (ctx, args) => {
    const x = tensorArg(ctx, args, 0);
    const k = typeof args[1] === "number" ? args[1] : 0;
    return value(ctx.builder.op1("Trilu", [x.name, ctx.builder.int64s([k], [])], { upper: name === "triu" ? 1 : 0 }), x.shape);
  });
}

/** Python's modulo (the divisor's sign), as the wasm op: a − b·floor(a / b). */
register(["remainder"], (ctx, args) => {
  const b = ctx.builder;
  const x = ctx.operand(args[0]);
  const y = ctx.operand(args[1]);
  const q = b.op1("Floor", [b.op1("Div", [x.name, y.name])]);
  return value(b.op1("Sub", [x.name, b.op1("Mul", [y.name, q])]), broadcast(x.shape, y.shape));
});
register(["floor_divide"], (ctx, args) => {
  const x = ctx.operand(args[0]);
  const y = ctx.operand(args[1]);
  return value(ctx.builder.op1("Floor", [ctx.builder.op1("Div", [x.name, y.name])]), broadcast(x.shape, y.shape));
});

// index ops: integer values become int64 indices where they are used
register(["embedding"], (ctx, args) => {
  const indices = tensorArg(ctx, args, 0);
  const weight = tensorArg(ctx, args, 1);
  return value(ctx.builder.op1("Gather", [weight.name, asIndices(ctx.builder, indices)], { axis: 0 }), [...indices.shape, ...weight.shape.slice(1)]);
});
register(["index_select"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const index = tensorArg(ctx, args, 2);
  const a = axis(numberArg(ctx, args[1], "dim"), x.shape.length);
  return value(ctx.builder.op1("Gather", [x.name, asIndices(ctx.builder, index)], { axis: a }), nodeShape(ctx.node));
});
register(["argmax"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const b = ctx.builder;
  const keep = args[2] === true ? 1 : 0;
  // tfjs returns the first extreme, as ONNX does by default (select_last_index = 0)
  const out = typeof args[1] === "number"
    ? b.op1("ArgMax", [x.name], { axis: axis(args[1], x.shape.length), keepdims: keep })
    : b.op1("ArgMax", [b.op1("Reshape", [x.name, b.int64s([-1])])], { axis: 0, keepdims: 0 });
  return toFloat(b, out, nodeShape(ctx.node));
});

// a few ops the fixtures' integer and attention code runs next to them
register(["repeat"], (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const reps = args[1];
  if (!Array.isArray(reps) || !reps.every((r) => typeof r === "number")) throw new NotCompilable(ctx.node.name, "repeat with counts that are not numbers");
  const counts = reps as number[];
  const lead = counts.length - x.shape.length;
  const lifted = lead > 0 ? value(b.op1("Reshape", [x.name, b.int64s([...new Array<number>(lead).fill(1), ...x.shape])]), [...new Array<number>(lead).fill(1), ...x.shape]) : x;
  return value(b.op1("Tile", [lifted.name, b.int64s(counts)]), lifted.shape.map((d, i) => d * counts[i]));
});
register(["log_softmax"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  return value(ctx.builder.op1("LogSoftmax", [x.name], { axis: axis(typeof args[1] === "number" ? args[1] : -1, x.shape.length) }), x.shape);
});
register(["cumsum"], (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  return value(ctx.builder.op1("CumSum", [x.name, ctx.builder.int64s([axis(numberArg(ctx, args[1], "dim"), x.shape.length)], [])]), x.shape);
});
