// Element-wise ops: arithmetic, activations, comparisons, logic, clamping and casts.
import { tf, type Tensor } from "../../tf.js";
import { BendingError } from "../../errors.js";
import { wrapDim } from "../../util/python.js";
import { Complex } from "./spectral.js";
import { defineOp, type Operand } from "./registry.js";

// --- element-wise and activations ---------------------------------------------------
export const add = defineOp("add", (a: Operand, b: Operand): Tensor => tf.add(a, b));
export const sub = defineOp("sub", (a: Operand, b: Operand): Tensor => tf.sub(a, b));
export const mul = defineOp("mul", (a: Operand, b: Operand): Tensor => tf.mul(a, b));
export const div = defineOp("div", (a: Operand, b: Operand): Tensor => tf.div(a, b));
export const pow = defineOp("pow", (a: Operand, b: Operand): Tensor => tf.pow(a, b));
export const maximum = defineOp("maximum", (a: Operand, b: Operand): Tensor => tf.maximum(a, b));
export const minimum = defineOp("minimum", (a: Operand, b: Operand): Tensor => tf.minimum(a, b));
export const neg = defineOp("neg", (x: Tensor): Tensor => tf.neg(x));
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
export const silu = defineOp("silu", (x: Tensor): Tensor => tf.mul(x, tf.sigmoid(x)));
export const softmax = defineOp("softmax", (x: Tensor, dim = -1): Tensor =>
  wrapDim(dim, x.rank) === x.rank - 1 ? tf.softmax(x) : tf.exp(tf.sub(x, tf.logSumExp(x, wrapDim(dim, x.rank), true))));
export const dropout = defineOp("dropout", (x: Tensor): Tensor => x);


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
export const clamp = defineOp("clamp", (x: Tensor, min: Operand | null = null, max: Operand | null = null): Tensor => {
  let y = x;
  if (typeof min === "number" && typeof max === "number") return tf.clipByValue(x, min, max);
  if (min !== null) y = tf.maximum(y, min);
  if (max !== null) y = tf.minimum(y, max);
  return y;
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
/** torch.nn.functional.softplus: log(1 + e^(βx))/β, linear above `threshold`. */
export const softplus = defineOp("softplus", (x: Tensor, beta = 1, threshold = 20): Tensor => {
  if (beta === 1 && threshold >= 20) return tf.softplus(x);
  const bx = tf.mul(x, beta);
  return tf.where(tf.greater(bx, threshold), x, tf.div(tf.softplus(bx), beta));
});
export const elu = defineOp("elu", (x: Tensor, alpha = 1): Tensor => (alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(tf.expm1(x), alpha))));
/** GELU: exact (PyTorch's default, x·Φ(x)) or with the tanh approximation. */
export const gelu = defineOp("gelu", (x: Tensor, approximate = "none"): Tensor => {
  if (approximate === "tanh") {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
});
export const hardtanh = defineOp("hardtanh", (x: Tensor, min = -1, max = 1): Tensor => tf.clipByValue(x, min, max));
export const logSoftmax = defineOp("log_softmax", (x: Tensor, dim = -1): Tensor => tf.sub(x, tf.logSumExp(x, wrapDim(dim, x.rank), true)));

/** |x|, also the modulus of a complex tensor. */
export const abs = defineOp("abs", (x: Complex | Tensor): Tensor => (x instanceof Complex ? tf.sqrt(tf.add(tf.square(x.re), tf.square(x.im))) : tf.abs(x)));

/** Inverse trigonometric functions (PyTorch's acos/asin, alias arccos/arcsin). */
export const inverseTrig = defineOp("inverse_trig", (name: "acos" | "asin", x: Tensor): Tensor => (name === "acos" ? tf.acos(x) : tf.asin(x)));
