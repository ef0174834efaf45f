// Lowerings of the statistics the interpreter's nn~ code computes beside sum/mean/norm (ops.ts):
// max/min/product over axes, variance and standard deviation with a correction, layer norm as
// a function, einsum, and the inverse trigonometric functions. Each follows its wasm op.
import { float } from "./onnx-builder.js";
import {
  axis, isTensorValue, NotCompilable, registerFunctionLowering, tensorArg,
  type FunctionLowering, type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";
import { ints, nodeShape } from "./ops.js";

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

/** The axes a reduction's `dim` names (all of them when None). */
function reductionAxes(x: TensorValue, dim: LoweredArg): number[] {
  if (dim === null || dim === undefined) return x.shape.map((_, i) => i);
  return ints(dim, 1, 0).map((d) => axis(d, x.shape.length));
}

function register(names: string[], lowering: FunctionLowering): void {
  for (const n of names) registerFunctionLowering(n, lowering);
}

for (const [name, op] of [["amax", "ReduceMax"], ["amin", "ReduceMin"], ["prod", "ReduceProd"]] as const) {
  register([name], (ctx, args) => {
    const x = tensorArg(ctx, args, 0);
    return value(ctx.builder.op1(op, [x.name], { axes: reductionAxes(x, args[1]), keepdims: args[2] === true ? 1 : 0 }), nodeShape(ctx.node));
  });
}

/** Σ(x − mean)² / max(n − correction, 0) over the axes, as the wasm op. */
function variance(ctx: LoweringContext, args: LoweredArg[]): TensorValue {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const axes = reductionAxes(x, args[1]);
  const correction = typeof args[2] === "number" ? args[2] : 1;
  const n = axes.reduce((p, a) => p * x.shape[a], 1);
  const mean = b.op1("ReduceMean", [x.name], { axes, keepdims: 1 });
  const centred = b.op1("Sub", [x.name, mean]);
  const squares = b.op1("ReduceSum", [b.op1("Mul", [centred, centred]), b.int64s(axes)], { keepdims: args[3] === true ? 1 : 0 });
  return value(b.op1("Div", [squares, b.scalar(Math.max(n - correction, 0))]), nodeShape(ctx.node));
}
register(["var"], (ctx, args) => variance(ctx, args));
register(["std"], (ctx, args) => {
  const v = variance(ctx, args);
  return value(ctx.builder.op1("Sqrt", [v.name]), v.shape);
});

/** layer_norm(x, normalized_shape, weight, bias, eps) over the last axes. */
register(["layer_norm"], (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const normalized = ints(args[1], 1, 0);
  const size = normalized.reduce((p, d) => p * d, 1);
  const weight = isTensorValue(args[2]) ? args[2].name : b.floatConstant("ones", new Float32Array(size).fill(1), normalized);
  const inputs = [x.name, weight];
  if (isTensorValue(args[3])) inputs.push(args[3].name);
  const eps = typeof args[4] === "number" ? args[4] : 1e-5;
  return value(b.op1("LayerNormalization", inputs, { axis: x.shape.length - normalized.length, epsilon: float(eps) }), x.shape);
});

register(["einsum"], (ctx, args) => {
  const equation = args[0];
  const operands = args[1];
  if (typeof equation !== "string" || !Array.isArray(operands) || !operands.every(isTensorValue)) {
    throw new NotCompilable(ctx.node.name, "einsum of something that is not an equation and a list of tensors");
  }
  return value(ctx.builder.op1("Einsum", (operands as TensorValue[]).map((t) => t.name), { equation: equation.replace(/\s+/g, "") }), nodeShape(ctx.node));
});

register(["inverse_trig"], (ctx, args) => {
  const x = tensorArg(ctx, args, 1);
  if (args[0] !== "acos" && args[0] !== "asin") throw new NotCompilable(ctx.node.name, `inverse_trig '${String(args[0])}' has no native lowering`);
  return value(ctx.builder.op1(args[0] === "acos" ? "Acos" : "Asin", [x.name]), x.shape);
});
