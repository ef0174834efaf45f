// The one op table: TorchScript ops (`torch.x`, `ops.prim.x`, builtins, tensor and list
// methods) with their schema's parameter names and defaults, onto tfbend's F ops (so
// tracing sees call_function nodes) or plain JS for shapes, ints, lists and strings.
// In-place ops (`copy_`, `add_`, `zero_`, and `<op>_` of any tensor op here) write
// through CallContext.assign, which updates the buffer a view was taken from.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { dispatch } from "../nn/hooks.js";
import { clampSliceBound, pyEquals, wrapDim } from "../util/python.js";
import { checkListLength, checkStringLength, type CallContext } from "./context.js";
import { concatStrings, formatValue, joinStrings, repeatString, sliceString } from "./strings.js";

type Value = unknown;
type OpFn = (a: Value[], ctx: CallContext) => Value;

export interface OpDef {
  name: string;
  params: string[];
  defaults: Value[];
  fn: OpFn;
  inPlace: boolean;
}

const REQUIRED = Symbol("required");
/** Ops that write their first argument. */
const IN_PLACE = new Set(["copy_", "zero_", "fill_"]);
const TABLE = new Map<string, OpDef>();

function literal(text: string): Value {
  const t = text.trim();
  if (t === "None") return null;
  if (t === "True") return true;
  if (t === "False") return false;
  const list = /^\[(.*)\]$/.exec(t);
  if (list !== null) return Object.freeze(list[1].trim() === "" ? [] : list[1].split(";").map(literal));
  if (/^".*"$/.test(t)) return t.slice(1, -1);
  const n = Number(t);
  if (Number.isNaN(n)) throw new Error(`bad default ${t}`);
  return n;
}

/** Registers `fn` under each name, with a schema like "self, dim=0, start=None". */
function op(names: string | string[], signature: string, fn: OpFn): void {
  const params: string[] = [];
  const defaults: Value[] = [];
  for (const part of signature.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    params.push(eq < 0 ? part : part.slice(0, eq).trim());
    defaults.push(eq < 0 ? REQUIRED : literal(part.slice(eq + 1)));
  }
  for (const name of typeof names === "string" ? [names] : names) {
    if (TABLE.has(name)) throw new BendingError(`the TorchScript op '${name}' is defined twice`);
    TABLE.set(name, { name, params, defaults, fn, inPlace: IN_PLACE.has(name) });
  }
}

/** Fills missing arguments from the defaults (in place; `args` is fresh per call). */
export function bindDefaults(def: OpDef, args: Value[]): Value[] {
  const n = def.params.length;
  for (let i = 0; i < n; i++) {
    if (args[i] === undefined) {
      const d = def.defaults[i];
      if (d === REQUIRED) throw new BendingError(`${def.name}() is missing argument '${def.params[i]}'`);
      args[i] = d;
    }
  }
  return args;
}

/** The op for a name, including the in-place form `<op>_` of a tensor op. */
export function findOp(name: string): OpDef | null {
  const hit = TABLE.get(name);
  if (hit !== undefined) return hit;
  if (name.endsWith("_") && !name.endsWith("__")) {
    const base = TABLE.get(name.slice(0, -1));
    if (base === undefined || !TENSOR_OPS.has(base.name)) return null;
    const def: OpDef = {
      name, params: base.params, defaults: base.defaults, inPlace: true,
      fn: (a, ctx) => inPlace(name, a, ctx, () => base.fn(a, ctx) as Tensor),
    };
    TABLE.set(name, def);
    return def;
  }
  return null;
}

/** Names of every op in the table (for the README's coverage list and tests). */
export function opNames(): string[] {
  return [...TABLE.keys()].sort();
}

// --- value helpers -----------------------------------------------------------------

function isT(v: Value): v is Tensor {
  return v instanceof tf.Tensor;
}

function T(v: Value, name = "argument"): Tensor {
  if (v instanceof tf.Tensor) return v;
  throw new BendingError(`expected a tensor for ${name}, got ${v === null ? "None" : typeof v}`);
}

function C(v: Value): F.Complex {
  if (v instanceof F.Complex) return v;
  throw new BendingError(`expected a complex tensor, got ${v instanceof tf.Tensor ? "a real tensor" : typeof v}`);
}

function num(v: Value, name = "argument"): number {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof tf.Tensor && v.size === 1) return v.dataSync()[0];
  throw new BendingError(`expected a number for ${name}, got ${v === null ? "None" : typeof v}`);
}

function ints(v: Value): number[] {
  if (typeof v === "number") return [v];
  if (Array.isArray(v)) return v.map((x) => num(x));
  throw new BendingError(`expected a list of ints, got ${v === null ? "None" : typeof v}`);
}

function optDims(v: Value): number | number[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.length === 0 ? null : v.map((x) => num(x));
  return num(v);
}

/** PyTorch ScalarType codes → tfjs dtypes (int64 and float64 run as int32 and float32). */
export function tfDtype(code: Value, fallback: tf.DataType = "float32"): tf.DataType {
  if (code === null || code === undefined) return fallback;
  switch (code) {
    case 0: case 1: case 2: case 3: case 4: return "int32";
    case 5: case 6: case 7: case 15: return "float32";
    case 8: case 9: case 10: return "complex64";
    case 11: return "bool";
    default: throw new BendingError(`unsupported dtype code ${String(code)}`);
  }
}

function dtypeCode(t: Tensor): number {
  switch (t.dtype) {
    case "float32": return 6;
    case "int32": return 4;
    case "bool": return 11;
    case "complex64": return 9;
    default: return 6;
  }
}

function floatOf(x: Tensor): Tensor {
  return x.dtype === "float32" || x.dtype === "complex64" ? x : tf.cast(x, "float32");
}

// --- in-place writes and views -------------------------------------------------------

/** Ops whose first argument is the tensor an in-place form writes. */
const TENSOR_OPS = new Set<string>();

function inPlace(name: string, a: Value[], ctx: CallContext, compute: () => Tensor): Tensor {
  const self = T(a[0], "self");
  if (ctx === null) throw new BendingError(`${name} needs a call context`);
  const value = dispatch("call_function", name, a, () => tf.tidy(() => {
    let v = compute();
    if (v.dtype !== self.dtype) v = tf.cast(v, self.dtype);
    if (v.shape.join() !== self.shape.join()) v = tf.broadcastTo(v, self.shape);
    return v === self ? tf.clone(v) : v;
  }));
  return ctx.assign(self, value);
}

function sliceWriter(a: number, begin: number, stop: number, step: number): (base: Tensor, view: Tensor) => Tensor {
  return (base, view) => {
    const size = base.shape[a];
    if (step === 1) {
      const parts: Tensor[] = [];
      if (begin > 0) parts.push(tf.slice(base, base.shape.map(() => 0), base.shape.map((d, i) => (i === a ? begin : d))));
      parts.push(view);
      if (stop < size) parts.push(tf.slice(base, base.shape.map((_, i) => (i === a ? stop : 0)), base.shape.map((d, i) => (i === a ? size - stop : d))));
      return parts.length === 1 ? parts[0] : tf.concat(parts, a);
    }
    // strided: pick each position from the base or from the view
    const index = new Int32Array(size);
    for (let j = 0; j < size; j++) {
      const k = (j - begin) / step;
      index[j] = j >= begin && j < stop && Number.isInteger(k) ? size + k : j;
    }
    return tf.gather(tf.concat([base, view], a), tf.tensor1d(index, "int32"), a);
  };
}

function reshapeWriter(base: Tensor, view: Tensor): Tensor {
  return tf.reshape(view, base.shape);
}

function sliceOp(x: Tensor, dim: number, start: number | null, end: number | null, step: number, ctx: CallContext | null): Tensor {
  const out = F.slice(x, dim, start, end, step);
  if (ctx !== null && ctx.trackViews && out !== x) {
    const a = wrapDim(dim, x.rank);
    const size = x.shape[a];
    const begin = clampSliceBound(start, size, 0);
    ctx.view(x, out, sliceWriter(a, begin, Math.max(begin, clampSliceBound(end, size, size)), step));
  }
  return out;
}

function selectOp(x: Tensor, dim: number, index: number, ctx: CallContext | null): Tensor {
  const out = F.select(x, dim, index);
  if (ctx !== null && ctx.trackViews) {
    const a = wrapDim(dim, x.rank);
    const i = index < 0 ? index + x.shape[a] : index;
    const write = sliceWriter(a, i, i + 1, 1);
    ctx.view(x, out, (base, view) => write(base, tf.expandDims(view, a)));
  }
  return out;
}

function reshapeView(x: Tensor, out: Tensor, ctx: CallContext | null): Tensor {
  if (ctx !== null && ctx.trackViews && out !== x) ctx.view(x, out, reshapeWriter);
  return out;
}

function permuteView(x: Tensor, perm: number[], ctx: CallContext | null): Tensor {
  const out = F.permute(x, perm);
  if (ctx !== null && ctx.trackViews) {
    const p = perm.map((d) => wrapDim(d, x.rank));
    const inverse = p.map((_, i) => p.indexOf(i));
    ctx.view(x, out, (_base, view) => tf.transpose(view, inverse));
  }
  return out;
}

function resolveShape(x: Tensor, shape: number[]): number[] {
  return shape.map((s) => num(s));
}

// --- Python values -----------------------------------------------------------------

function pyIndex(i: number, length: number): number {
  const at = i < 0 ? i + length : i;
  if (at < 0 || at >= length) throw new BendingError(`index ${i} is out of range for length ${length}`);
  return at;
}


interface SliceLike {
  start: number | null;
  stop: number | null;
  step: number | null;
}

function isSlice(v: Value): v is SliceLike {
  return typeof v === "object" && v !== null && "start" in v && "stop" in v && "step" in v;
}

function positiveStep(step: number): number {
  if (!(step > 0)) throw new BendingError("list slices with a non-positive step are not supported");
  return step;
}

function sliceList<T>(list: T[], s: SliceLike): T[] {
  const step = positiveStep(s.step ?? 1);
  const n = list.length;
  const start = clampSliceBound(s.start, n, 0);
  const stop = clampSliceBound(s.stop, n, n);
  const out: T[] = [];
  for (let i = start; i < stop; i += step) out.push(list[i]);
  return out;
}

/** x[index] for tensors: ints select, slices slice, None adds a dim, Ellipsis skips dims. */
function tensorIndex(x: Tensor, index: Value, ctx: CallContext | null): Tensor {
  const items = Array.isArray(index) ? index : [index];
  let y = x;
  let dim = 0;
  const consumed = items.filter((i) => i !== null && typeof i !== "symbol").length;
  for (const item of items) {
    if (typeof item === "symbol") dim += y.rank - dim - (consumed - items.slice(0, items.indexOf(item)).filter((i) => i !== null && typeof i !== "symbol").length);
    else if (item === null) {
      y = reshapeView(y, tf.expandDims(y, dim), ctx);
      dim++;
    } else if (typeof item === "number") y = selectOp(y, dim, item, ctx);
    else if (isSlice(item)) {
      y = sliceOp(y, dim, item.start, item.stop, item.step ?? 1, ctx);
      dim++;
    } else throw new BendingError("unsupported tensor index");
  }
  return y;
}

// --- the table -----------------------------------------------------------------------

const LIKE = "dtype=None, layout=None, device=None, pin_memory=None, memory_format=None";
const FACTORY = "dtype=None, layout=None, device=None, pin_memory=None";

function tensorOp(names: string | string[], signature: string, fn: OpFn): void {
  op(names, signature, fn);
  for (const n of typeof names === "string" ? [names] : names) TENSOR_OPS.add(n);
}

// arithmetic (tensors, numbers, lists, strings)
tensorOp("add", "self, other, alpha=1", ([x, y, alpha], ctx) => {
  if (x instanceof F.Complex || y instanceof F.Complex) return F.complexOp("add", x as F.Complex, alpha === 1 ? (y as F.Complex) : F.complexOp("mul", y as F.Complex, num(alpha)));
  if (isT(x) || isT(y)) return F.add(x as Tensor | number, alpha === 1 ? (y as Tensor | number) : F.mul(y as Tensor | number, num(alpha)));
  if (Array.isArray(x)) {
    checkListLength(x.length + (y as Value[]).length, "list +", ctx);
    return x.concat(y as Value[]);
  }
  if (typeof x === "string") return concatStrings(x, typeof y === "string" ? y : formatValue(y), ctx);
  return num(x) + num(y) * num(alpha);
});
tensorOp("sub", "self, other, alpha=1", ([x, y, alpha]) => {
  if (x instanceof F.Complex || y instanceof F.Complex) return F.complexOp("sub", x as F.Complex, alpha === 1 ? (y as F.Complex) : F.complexOp("mul", y as F.Complex, num(alpha)));
  if (isT(x) || isT(y)) return F.sub(x as Tensor | number, alpha === 1 ? (y as Tensor | number) : F.mul(y as Tensor | number, num(alpha)));
  return num(x) - num(y) * num(alpha);
});
tensorOp("rsub", "self, other, alpha=1", ([x, y, alpha]) => F.sub(y as Tensor | number, F.mul(x as Tensor | number, num(alpha))));
tensorOp("mul", "self, other", ([x, y], ctx) => {
  if (x instanceof F.Complex || y instanceof F.Complex) return F.complexOp("mul", x as F.Complex, y as F.Complex);
  if (isT(x) || isT(y)) return F.mul(x as Tensor | number, y as Tensor | number);
  if (Array.isArray(x)) {
    const times = Math.max(0, num(y));
    checkListLength(x.length * times, "list *", ctx);
    const out: Value[] = [];
    for (let i = 0; i < times; i++) for (const v of x) out.push(v);
    return out;
  }
  if (typeof x === "string") return repeatString(x, num(y), ctx);
  return num(x) * num(y);
});
tensorOp("div", "self, other, rounding_mode=None", ([x, y, mode]) => {
  if (isT(x) || isT(y)) {
    const q = F.div(isT(x) ? floatOf(x) : (x as number), isT(y) ? floatOf(y) : (y as number));
    if (mode === "floor") return F.unary("floor", q);
    if (mode === "trunc") return F.unary("trunc", q);
    return q;
  }
  const q = num(x) / num(y);
  return mode === "floor" ? Math.floor(q) : mode === "trunc" ? Math.trunc(q) : q;
});
op("floordiv", "self, other", ([x, y]) => (isT(x) || isT(y) ? F.floorDivide(x as Tensor, y as Tensor) : Math.floor(num(x) / num(y))));
tensorOp("floor_divide", "self, other", ([x, y]) => (isT(x) || isT(y) ? F.floorDivide(x as Tensor, y as Tensor) : Math.floor(num(x) / num(y))));
tensorOp("remainder", "self, other", ([x, y]) => {
  if (isT(x) || isT(y)) return F.remainder(x as Tensor, y as Tensor);
  const a = num(x);
  const b = num(y);
  return a - b * Math.floor(a / b);
});
tensorOp("fmod", "self, other", ([x, y]) => (isT(x) ? F.sub(x, F.mul(F.unary("trunc", F.div(floatOf(x), y as Tensor)), y as Tensor)) : num(x) % num(y)));
tensorOp("pow", "self, exponent", ([x, y]) => (isT(x) || isT(y) ? F.pow(isT(x) ? floatOf(x) : (x as number), y as Tensor | number) : num(x) ** num(y)));
tensorOp("neg", "self", ([x]) => (isT(x) ? F.neg(x) : -num(x)));
tensorOp("abs", "self", ([x]) => (isT(x) || x instanceof F.Complex ? F.abs(x) : Math.abs(num(x))));
tensorOp(["maximum", "max_other"], "self, other", ([x, y]) => F.maximum(T(x), T(y)));
tensorOp(["minimum", "min_other"], "self, other", ([x, y]) => F.minimum(T(x), T(y)));
tensorOp("atan2", "self, other", ([x, y]) => F.unary("atan", F.div(T(x), T(y))));
tensorOp("matmul", "self, other", ([x, y]) => F.matmul(T(x), T(y)));
tensorOp(["mm", "bmm"], "self, mat2", ([x, y]) => F.matmul(T(x), T(y)));

// comparisons and logic
for (const c of ["eq", "ne", "lt", "le", "gt", "ge"] as const) {
  const js: Record<typeof c, (a: number, b: number) => boolean> = {
    eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
  };
  tensorOp(c, "self, other", ([x, y]) => {
    if (isT(x) || isT(y)) return F[c](x as Tensor, y as Tensor);
    if (c === "eq") return pyEquals(x, y);
    if (c === "ne") return !pyEquals(x, y);
    if (typeof x === "string" && typeof y === "string") return js[c](x < y ? -1 : x > y ? 1 : 0, 0);
    return js[c](num(x), num(y));
  });
}
op("__is__", "self, obj", ([a, b]) => a === b);
op("__isnot__", "self, obj", ([a, b]) => a !== b);
op("__not__", "self", ([a]) => !a);
for (const [name, logical, js] of [["__and__", "and", (a: boolean, b: boolean) => a && b], ["__or__", "or", (a: boolean, b: boolean) => a || b],
  ["__xor__", "xor", (a: boolean, b: boolean) => a !== b]] as const) {
  op(name, "self, other", ([a, b]) => {
    if (isT(a) || isT(b)) return F.logical(logical, T(a), T(b));
    if (typeof a === "number" && typeof b === "number") return name === "__and__" ? a & b : name === "__or__" ? a | b : a ^ b;
    return js(Boolean(a), Boolean(b));
  });
}
tensorOp("logical_and", "self, other", ([a, b]) => F.logical("and", T(a), T(b)));
tensorOp("logical_or", "self, other", ([a, b]) => F.logical("or", T(a), T(b)));
tensorOp("logical_xor", "self, other", ([a, b]) => F.logical("xor", T(a), T(b)));
tensorOp(["logical_not", "bitwise_not"], "self", ([a]) => (isT(a) ? F.logicalNot(a) : ~num(a)));
tensorOp("where", "condition, self=None, other=None", ([c, a, b]) => F.where(T(c), a as Tensor, b as Tensor));
tensorOp("masked_fill", "self, mask, value", ([x, m, v]) => F.maskedFill(T(x), T(m), v as Tensor));
tensorOp("isnan", "self", ([x]) => F.ne(T(x), T(x)));

// elementwise and activations
tensorOp("exp", "self", ([x]) => (isT(x) ? F.exp(x) : Math.exp(num(x))));
tensorOp("log", "self", ([x]) => (isT(x) ? F.log(floatOf(x)) : Math.log(num(x))));
tensorOp("sqrt", "self", ([x]) => (isT(x) ? F.sqrt(floatOf(x)) : Math.sqrt(num(x))));
tensorOp("square", "self", ([x]) => F.square(T(x)));
tensorOp("sin", "self", ([x]) => (isT(x) ? F.sin(x) : Math.sin(num(x))));
tensorOp("cos", "self", ([x]) => (isT(x) ? F.cos(x) : Math.cos(num(x))));
tensorOp("sign", "self", ([x]) => F.sign(T(x)));
tensorOp("tanh", "self", ([x]) => F.tanh(T(x)));
tensorOp("sigmoid", "self", ([x]) => F.sigmoid(T(x)));
tensorOp("relu", "self", ([x]) => F.relu(T(x)));
tensorOp("silu", "self", ([x]) => F.silu(T(x)));
for (const name of ["log1p", "floor", "ceil", "round", "reciprocal", "rsqrt", "erf", "tan", "atan", "expm1", "trunc"] as const) {
  tensorOp(name, "self", ([x]) => {
    if (!isT(x) && (name === "floor" || name === "ceil" || name === "round" || name === "trunc")) return Math[name](num(x));
    return F.unary(name, floatOf(T(x)));
  });
}
tensorOp("log_sigmoid", "self", ([x]) => F.unary("log_sigmoid", T(x)));
tensorOp("leaky_relu", "self, negative_slope=0.01", ([x, s]) => F.leakyRelu(T(x), num(s)));
tensorOp("elu", "self, alpha=1, scale=1, input_scale=1", ([x, alpha, scale, inputScale]) => {
  if (scale !== 1 || inputScale !== 1) throw new BendingError("elu with scale/input_scale is not supported");
  return F.elu(T(x), num(alpha));
});
tensorOp("gelu", "self, approximate=\"none\"", ([x, approx]) => F.gelu(T(x), String(approx)));
tensorOp("softplus", "self, beta=1, threshold=20", ([x, beta, threshold]) => F.softplus(T(x), num(beta), num(threshold)));
tensorOp("hardtanh", "self, min_val=-1, max_val=1", ([x, lo, hi]) => F.hardtanh(T(x), num(lo), num(hi)));
tensorOp("softmax", "self, dim, dtype=None", ([x, d]) => F.softmax(T(x), num(d)));
tensorOp("log_softmax", "self, dim, dtype=None", ([x, d]) => F.logSoftmax(T(x), num(d)));
tensorOp(["clamp", "clip"], "self, min=None, max=None", ([x, lo, hi]) => F.clamp(T(x), lo as number | null, hi as number | null));
tensorOp("clamp_min", "self, min", ([x, lo]) => F.clamp(T(x), lo as number, null));
tensorOp("clamp_max", "self, max", ([x, hi]) => F.clamp(T(x), null, hi as number));
op(["dropout", "feature_dropout", "alpha_dropout"], "input, p=0.5, train=False", ([x, , train]) => {
  if (train === true) throw new BendingError("dropout in training mode is not supported (call eval() before exporting)");
  return x;
});

// reductions
tensorOp("sum", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.sum(T(x), optDims(d) ?? undefined, Boolean(k)));
tensorOp("mean", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.mean(floatOf(T(x)), optDims(d) ?? undefined, Boolean(k)));
for (const [name, fn] of [["std", F.std], ["var", F.variance]] as const) {
  tensorOp(name, "self, dim=None, unbiased=True, keepdim=False, correction=None", ([x, d, unbiased, k, correction]) => {
    if (typeof d === "boolean") return fn(T(x), null, d ? 1 : 0, false);
    const corr = correction !== null ? num(correction) : unbiased === false ? 0 : 1;
    return fn(T(x), optDims(d), corr, Boolean(k));
  });
}
for (const [name, reduce, elementwise] of [["max", F.amax, F.maximum], ["min", F.amin, F.minimum]] as const) {
  tensorOp(name, "self, dim=None, keepdim=False", ([x, d, k]) => {
    if (!isT(x) && Array.isArray(x)) return Math[name](...x.map((v) => num(v)));
    if (!isT(x)) return Math[name](num(x), num(d));
    if (d === null) return reduce(x, null, false);
    if (isT(d)) return elementwise(x, d);
    const values = reduce(x, num(d), Boolean(k));
    const indices = F.argmax(name === "max" ? x : F.neg(x), num(d), Boolean(k));
    return [values, indices];
  });
}
tensorOp("amax", "self, dim=[], keepdim=False", ([x, d, k]) => F.amax(T(x), optDims(d), Boolean(k)));
tensorOp("amin", "self, dim=[], keepdim=False", ([x, d, k]) => F.amin(T(x), optDims(d), Boolean(k)));
tensorOp("argmax", "self, dim=None, keepdim=False", ([x, d, k]) => F.argmax(T(x), d === null ? null : num(d), Boolean(k)));
tensorOp("prod", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.prod(T(x), d === null ? null : num(d), Boolean(k)));
tensorOp("cumsum", "self, dim, dtype=None", ([x, d]) => F.cumsum(T(x), num(d)));

// convolutions and layers
function first(v: Value): number {
  return Array.isArray(v) ? num(v[0]) : num(v);
}
tensorOp("conv1d", "input, weight, bias=None, stride=[1], padding=[0], dilation=[1], groups=1", ([x, w, b, s, p, d, g]) =>
  F.conv1d(T(x), T(w), (b as Tensor | null) ?? null, { stride: first(s), padding: typeof p === "string" ? (p as "same" | "valid") : first(p), dilation: first(d), groups: num(g) }));
tensorOp("conv2d", "input, weight, bias=None, stride=[1], padding=[0], dilation=[1], groups=1", ([x, w, b, s, p, d, g]) => {
  const pair = (v: Value): number[] => (Array.isArray(v) ? (v.length === 1 ? [num(v[0]), num(v[0])] : v.map((e) => num(e))) : [num(v), num(v)]);
  return F.conv2d(T(x), T(w), (b as Tensor | null) ?? null, { stride: pair(s), padding: typeof p === "string" ? (p as "same" | "valid") : pair(p), dilation: pair(d), groups: num(g) });
});
tensorOp("conv_transpose1d", "input, weight, bias=None, stride=[1], padding=[0], output_padding=[0], groups=1, dilation=[1]", ([x, w, b, s, p, op2, g, d]) =>
  F.convTranspose1d(T(x), T(w), (b as Tensor | null) ?? null, { stride: first(s), padding: first(p), outputPadding: first(op2), groups: num(g), dilation: first(d) }));
tensorOp("conv_transpose2d", "input, weight, bias=None, stride=[1], padding=[0], output_padding=[0], groups=1, dilation=[1]", ([x, w, b, s, p, op2, g, d]) => {
  const pair = (v: Value): number[] => (Array.isArray(v) ? (v.length === 1 ? [num(v[0]), num(v[0])] : v.map((e) => num(e))) : [num(v), num(v)]);
  return F.convTranspose2d(T(x), T(w), (b as Tensor | null) ?? null, { stride: pair(s), padding: pair(p), outputPadding: pair(op2), groups: num(g), dilation: pair(d) });
});
tensorOp("linear", "input, weight, bias=None", ([x, w, b]) => F.linear(T(x), T(w), (b as Tensor | null) ?? null));
tensorOp("batch_norm", "input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled", ([x, w, b, m, v, training, , eps]) => {
  if (training === true) throw new BendingError("batch_norm in training mode is not supported (call eval() before exporting)");
  return F.batchNorm(T(x), T(m), T(v), (w as Tensor | null) ?? null, (b as Tensor | null) ?? null, num(eps));
});
tensorOp("layer_norm", "input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True", ([x, shape, w, b, eps]) =>
  F.layerNorm(T(x), ints(shape), (w as Tensor | null) ?? null, (b as Tensor | null) ?? null, num(eps)));
op("embedding", "weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False", ([w, i]) => F.embedding(T(i), T(w)));

// resampling
op("upsample_nearest1d", "self, output_size=None, scale_factors=None", ([x, size, scales]) => upsampleNearest(T(x), size, scales, 1));
op("upsample_nearest2d", "self, output_size=None, scale_factors=None", ([x, size, scales]) => upsampleNearest(T(x), size, scales, 2));

function upsampleNearest(x: Tensor, size: Value, scales: Value, spatial: number): Tensor {
  const inSizes = x.shape.slice(2);
  if (inSizes.length !== spatial) throw new BendingError(`upsample_nearest${spatial}d needs a ${spatial + 2}-d input, got shape [${x.shape.join(", ")}]`);
  const outSizes = size !== null ? ints(size) : ints(scales).map((s, i) => Math.floor(inSizes[i] * s));
  const factors = outSizes.map((o, i) => o / inSizes[i]);
  if (factors.every((f) => Number.isInteger(f) && f >= 1) && factors.every((f) => f === factors[0])) return F.upsampleNearest(x, factors[0]);
  // PyTorch's nearest: source index floor(dst · in / out), along each spatial dim
  let y = x;
  outSizes.forEach((o, i) => {
    const n = inSizes[i];
    const index = Int32Array.from({ length: o }, (_, j) => Math.min(n - 1, Math.floor((j * n) / o)));
    y = F.indexSelect(y, i + 2, tf.tensor1d(index, "int32"));
  });
  return y;
}

// padding
tensorOp("constant_pad_nd", "self, pad, value=0", ([x, p, v]) => F.pad(T(x), ints(p), "constant", num(v)));
tensorOp("pad", "self, pad, mode=\"constant\", value=None", ([x, p, mode, v]) => {
  const m = String(mode);
  if (m !== "constant" && m !== "reflect" && m !== "replicate") throw new BendingError(`pad mode '${m}' is not supported`);
  return F.pad(T(x), ints(p), m, v === null ? 0 : num(v));
});
tensorOp(["reflection_pad1d", "reflection_pad2d"], "self, padding", ([x, p]) => F.pad(T(x), ints(p), "reflect"));
tensorOp(["replication_pad1d", "replication_pad2d"], "self, padding", ([x, p]) => F.pad(T(x), ints(p), "replicate"));

// shapes and views
tensorOp("slice", "self, dim=0, start=None, end=None, step=1", ([x, d, s, e, st], ctx) => {
  // aten::slice.t(list, start=None, end=None, step=1): no dim, so the positions shift by one
  if (Array.isArray(x)) return sliceList(x, { start: d as number | null, stop: s as number | null, step: e === null ? 1 : num(e) });
  if (typeof x === "string") return sliceString(x, d as number | null, s as number | null, positiveStep(e === null ? 1 : num(e)));
  return sliceOp(T(x), num(d), s === null ? null : num(s), e === null ? null : num(e), num(st), ctx);
});
tensorOp("select", "self, dim, index", ([x, d, i], ctx) => selectOp(T(x), num(d), num(i), ctx));
tensorOp("narrow", "self, dim, start, length", ([x, d, s, l], ctx) => sliceOp(T(x), num(d), num(s), num(s) + num(l), 1, ctx));
tensorOp(["reshape", "view"], "self, shape", ([x, s], ctx) => reshapeView(T(x), F.reshape(T(x), resolveShape(T(x), ints(s))), ctx));
tensorOp("flatten", "self, start_dim=0, end_dim=-1", ([x, s, e], ctx) => reshapeView(T(x), F.flatten(T(x), num(s), num(e)), ctx));
tensorOp("unsqueeze", "self, dim", ([x, d], ctx) => reshapeView(T(x), F.unsqueeze(T(x), num(d)), ctx));
tensorOp("squeeze", "self, dim=None", ([x, d], ctx) => {
  const t = T(x);
  if (d !== null && t.shape[wrapDim(num(d), t.rank)] !== 1) return t;
  return reshapeView(t, F.squeeze(t, d === null ? undefined : num(d)), ctx);
});
tensorOp("permute", "self, dims", ([x, p], ctx) => permuteView(T(x), ints(p), ctx));
tensorOp("transpose", "self, dim0, dim1", ([x, a, b], ctx) => {
  const t = T(x);
  const out = F.transpose(t, num(a), num(b));
  if (ctx !== null && ctx.trackViews) ctx.view(t, out, (_base, view) => F.transpose(view, num(a), num(b)));
  return out;
});
tensorOp(["t", "numpy_T"], "self", ([x], ctx) => (T(x).rank < 2 ? x : permuteView(T(x), [1, 0], ctx)));
tensorOp(["cat", "concat"], "tensors, dim=0", ([ts, d]) => F.cat((ts as Tensor[]).map((t) => T(t)), num(d)));
tensorOp("stack", "tensors, dim=0", ([ts, d]) => F.stack((ts as Tensor[]).map((t) => T(t)), num(d)));
op("split", "self, split_size, dim=0", ([x, s, d]) => F.split(T(x), Array.isArray(s) ? ints(s) : num(s), num(d)));
op("split_with_sizes", "self, split_sizes, dim=0", ([x, s, d]) => F.split(T(x), ints(s), num(d)));
op("chunk", "self, chunks, dim=0", ([x, c, d]) => F.chunk(T(x), num(c), num(d)));
op("unbind", "self, dim=0", ([x, d]) => {
  const t = T(x);
  const a = wrapDim(num(d), t.rank);
  return F.split(t, 1, a).map((p) => F.squeeze(p, a));
});
tensorOp("flip", "self, dims", ([x, d]) => F.flip(T(x), ints(d)));
tensorOp("roll", "self, shifts, dims=[]", ([x, s, d]) => F.roll(T(x), ints(s), ints(d)));
tensorOp("expand", "self, size, implicit=False", ([x, s]) => F.expand(T(x), ints(s)));
tensorOp("expand_as", "self, other", ([x, o]) => F.expand(T(x), T(o).shape));
tensorOp("repeat", "self, repeats", ([x, r]) => F.repeat(T(x), ints(r)));
tensorOp("index_select", "self, dim, index", ([x, d, i]) => F.indexSelect(T(x), num(d), T(i)));
tensorOp("einsum", "equation, tensors, path=None", ([eq, ts]) => F.einsum(String(eq), (ts as Tensor[]).map((t) => T(t))));
op(["contiguous", "detach", "requires_grad_"], "self, memory_format=0", ([x]) => x);
tensorOp("clone", "self, memory_format=None", ([x]) => F.clone(T(x)));
op("copy_", "self, src, non_blocking=False", (a, ctx) => inPlace("copy_", a, ctx, () => (isT(a[1]) ? a[1] : tf.scalar(num(a[1])))));
op("zero_", "self", (a, ctx) => inPlace("zero_", a, ctx, () => tf.zerosLike(T(a[0]))));
op("fill_", "self, value", (a, ctx) => inPlace("fill_", a, ctx, () => tf.fill(T(a[0]).shape, num(a[1]), T(a[0]).dtype)));
op("to", "self, a1=None, dtype=None, device=None, non_blocking=False, copy=False, memory_format=None", ([x, a1, dtype]) => {
  const t = T(x);
  const target = isT(a1) ? a1.dtype : typeof a1 === "number" ? tfDtype(a1) : typeof dtype === "number" ? tfDtype(dtype) : t.dtype;
  return F.cast(t, target);
});
op("type_as", "self, other", ([x, o]) => F.cast(T(x), T(o).dtype));
op(["float", "double", "half"], "self, memory_format=None", ([x]) => (isT(x) ? F.cast(x, "float32") : num(x)));
op(["long", "int"], "self, memory_format=None", ([x]) => F.cast(T(x), "int32"));

// FFT and complex numbers
tensorOp("fft_rfft", "self, n=None, dim=-1, norm=None", ([x, n, d, norm]) => F.rfft(floatOf(T(x)), n === null ? null : num(n), num(d), norm as string | null));
tensorOp("fft_irfft", "self, n=None, dim=-1, norm=None", ([x, n, d, norm]) => F.irfft(x instanceof F.Complex ? x : T(x), n === null ? null : num(n), num(d), norm as string | null));
tensorOp("view_as_complex", "self", ([x]) => F.viewAsComplex(T(x)));
tensorOp("view_as_real", "self", ([x]) => F.viewAsReal(C(x)));
tensorOp("real", "self", ([x]) => F.real(x instanceof F.Complex ? x : T(x)));
tensorOp("imag", "self", ([x]) => F.imag(C(x)));
op("hann_window", `window_length, periodic=True, ${FACTORY}`, ([n, periodic]) => F.hannWindow(num(n), Boolean(periodic)));

// factories and random numbers
/** A factory's size argument, refused before anything is allocated if the call cannot afford it. */
function shapeOf(v: Value, ctx: CallContext | null, what: string): number[] {
  const shape = ints(v);
  if (ctx) ctx.budget.plannedTensor(shape, `${what}()`);
  return shape;
}
op("zeros", `size, ${FACTORY}`, ([s, d], ctx) => F.full(shapeOf(s, ctx, "zeros"), 0, tfDtype(d)));
op("ones", `size, ${FACTORY}`, ([s, d], ctx) => F.full(shapeOf(s, ctx, "ones"), 1, tfDtype(d)));
op("empty", `size, ${FACTORY}, memory_format=None`, ([s, d], ctx) => F.full(shapeOf(s, ctx, "empty"), 0, tfDtype(d)));
op("full", `size, fill_value, ${FACTORY}`, ([s, v, d], ctx) => F.full(shapeOf(s, ctx, "full"), num(v), tfDtype(d, typeof v === "boolean" ? "bool" : "float32")));
op("zeros_like", `self, ${LIKE}`, ([x, d]) => F.full(T(x).shape, 0, tfDtype(d, T(x).dtype)));
op("ones_like", `self, ${LIKE}`, ([x, d]) => F.full(T(x).shape, 1, tfDtype(d, T(x).dtype)));
op("empty_like", `self, ${LIKE}`, ([x, d]) => F.full(T(x).shape, 0, tfDtype(d, T(x).dtype)));
op("full_like", `self, fill_value, ${LIKE}`, ([x, v, d]) => F.full(T(x).shape, num(v), tfDtype(d, T(x).dtype)));
op("new_zeros", `self, size, ${FACTORY}`, ([x, s, d], ctx) => F.full(shapeOf(s, ctx, "new_zeros"), 0, tfDtype(d, T(x).dtype)));
op("new_ones", `self, size, ${FACTORY}`, ([x, s, d], ctx) => F.full(shapeOf(s, ctx, "new_ones"), 1, tfDtype(d, T(x).dtype)));
op("new_full", `self, size, fill_value, ${FACTORY}`, ([x, s, v, d], ctx) => F.full(shapeOf(s, ctx, "new_full"), num(v), tfDtype(d, T(x).dtype)));
op("arange", `start, end=None, step=1, ${FACTORY}`, ([s, e, st, d]) => {
  const [start, end] = e === null ? [0, num(s)] : [num(s), num(e)];
  const integral = [start, end, num(st)].every(Number.isInteger);
  return F.arange(start, end, num(st), tfDtype(d, integral ? "int32" : "float32"));
});
op("tensor", "data, dtype=None, device=None, requires_grad=False", ([data, d], ctx) => {
  const flat = (v: Value): number[] => (Array.isArray(v) ? v.flatMap(flat) : [num(v)]);
  const shape = (v: Value): number[] => (Array.isArray(v) ? [v.length, ...(v.length ? shape(v[0]) : [])] : []);
  // a list may hold the same long list many times: refuse before flattening it
  if (ctx) ctx.budget.plannedTensor(shape(data), "tensor()");
  const values = flat(data);
  const integral = values.every(Number.isInteger) && !(typeof data === "number" && !Number.isInteger(data));
  return tf.tensor(values, shape(data), tfDtype(d, typeof data === "boolean" ? "bool" : integral ? "int32" : "float32"));
});
op("scalar_tensor", `s, ${FACTORY}`, ([s, d]) => tf.scalar(num(s), tfDtype(d)));
op("prim::NumToTensor", "a", ([a]) => tf.scalar(num(a), Number.isInteger(a) ? "int32" : "float32"));
op("randn", `size, generator=None, ${FACTORY}`, ([s], ctx) => F.randn(shapeOf(s, ctx, "randn"), ctx.random));
op("rand", `size, generator=None, ${FACTORY}`, ([s], ctx) => F.rand(shapeOf(s, ctx, "rand"), ctx.random));
op("randn_like", `self, ${LIKE}`, ([x], ctx) => F.randn(T(x).shape, ctx.random));
op("rand_like", `self, ${LIKE}`, ([x], ctx) => F.rand(T(x).shape, ctx.random));

// sizes, lists, dicts, strings
op("size", "self, dim=None", ([x, d]) => {
  const t = x instanceof F.Complex ? x.re : T(x);
  return d === null ? [...t.shape] : t.shape[wrapDim(num(d), t.rank)];
});
op("dim", "self", ([x]) => T(x).rank);
op("numel", "self", ([x]) => T(x).size);
op("item", "self", ([x]) => num(x));
op(["len", "builtins.len"], "a", ([a]) => {
  if (Array.isArray(a) || typeof a === "string") return a.length;
  if (a instanceof Map) return a.size;
  if (isT(a)) {
    if (a.rank === 0) throw new BendingError("len() of a 0-d tensor");
    return a.shape[0];
  }
  throw new BendingError(`len() of ${typeof a}`);
});
op("__getitem__", "self, index", ([o, i], ctx) => {
  if (Array.isArray(o)) return isSlice(i) ? sliceList(o, i) : o[pyIndex(num(i), o.length)];
  if (typeof o === "string") return isSlice(i) ? sliceString(o, i.start, i.stop, positiveStep(i.step ?? 1)) : o[pyIndex(num(i), o.length)];
  if (o instanceof Map) {
    if (!o.has(i)) throw new BendingError(`key ${formatValue(i)} is not in the dict`);
    return o.get(i);
  }
  if (isT(o)) return tensorIndex(o, i, ctx);
  throw new BendingError(`cannot index ${o === null ? "None" : typeof o}`);
});
op("_set_item", "l, idx, v", ([l, i, v]) => {
  if (Array.isArray(l)) l[pyIndex(num(i), l.length)] = v;
  else if (l instanceof Map) l.set(i, v);
  else throw new BendingError("item assignment needs a list or a dict");
  return l;
});
op("append", "self, el", ([l, v], ctx) => {
  checkListLength((l as Value[]).length + 1, "append()", ctx);
  (l as Value[]).push(v);
  return l;
});
op("extend", "self, other", ([l, v], ctx) => {
  const list = l as Value[];
  checkListLength(list.length + (v as Value[]).length, "extend()", ctx);
  for (const item of v as Value[]) list.push(item);
  return null;
});
op("insert", "self, idx, el", ([l, i, v], ctx) => {
  checkListLength((l as Value[]).length + 1, "insert()", ctx);
  (l as Value[]).splice(num(i), 0, v);
  return null;
});
op("pop", "self, idx=-1", ([l, i]) => {
  const list = l as Value[];
  return list.splice(pyIndex(num(i), list.length), 1)[0];
});
op(["list", "copy"], "self", ([l], ctx) => {
  if (Array.isArray(l) || typeof l === "string" || l instanceof Map) checkListLength(l instanceof Map ? l.size : l.length, "list()", ctx);
  return Array.isArray(l) ? [...l] : l instanceof Map ? new Map(l) : typeof l === "string" ? [...l] : l;
});
op("__contains__", "self, key", ([c, k]) => (Array.isArray(c) ? c.some((x) => pyEquals(x, k)) : c instanceof Map ? c.has(k) : String(c).includes(String(k))));
op("keys", "self", ([d]) => [...(d as Map<Value, Value>).keys()]);
op("values", "self", ([d]) => [...(d as Map<Value, Value>).values()]);
op("items", "self", ([d]) => [...(d as Map<Value, Value>).entries()]);
op("get", "self, key, default_value=None", ([d, k, v]) => ((d as Map<Value, Value>).has(k) ? (d as Map<Value, Value>).get(k) : v));
op("format", "self, a0=None, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None", (a, ctx) => {
  const pieces = String(a[0]).split("{}");
  return joinStrings("", pieces.flatMap((p, i) => (i === 0 ? [p] : [formatValue(a[i]), p])), ctx);
});
op("join", "self, values", ([s, v], ctx) => joinStrings(String(s), v as Value[], ctx));
op("startswith", "self, prefix", ([s, p]) => String(s).startsWith(String(p)));
op("__range_length", "lo, hi, step", ([lo, hi, st]) => {
  const s = num(st);
  const n = s > 0 ? Math.ceil((num(hi) - num(lo)) / s) : Math.ceil((num(lo) - num(hi)) / -s);
  return Math.max(0, n);
});
op("__derive_index", "index, start, step", ([i, s, st]) => num(s) + num(i) * num(st));
op("device", "type", ([t]) => String(t));
op("warn", "message, stacklevel=2", () => null);

// builtins and prim ops
op("builtins.int", "x", ([x]) => (typeof x === "string" ? parseInt(x, 10) : Math.trunc(num(x))));
op("builtins.float", "x", ([x]) => (typeof x === "string" ? parseFloat(x) : num(x)));
op("builtins.bool", "x", ([x]) => (isT(x) ? num(x) !== 0 : Array.isArray(x) ? x.length > 0 : Boolean(x)));
op("builtins.str", "x", ([x], ctx) => {
  const text = formatValue(x);
  checkStringLength(text.length, "str()", ctx);
  return text;
});
op("builtins.abs", "x", ([x]) => (isT(x) ? F.abs(x) : Math.abs(num(x))));
op("builtins.round", "x", ([x]) => Math.round(num(x)));
for (const name of ["min", "max"] as const) {
  const fn: OpFn = ([a, b]) => (Array.isArray(a) && b === null ? Math[name](...a.map((v) => num(v))) : Math[name](num(a), num(b)));
  op([`builtins.${name}`, `prim::${name}`], "a, b=None", fn);
}
op("prim::abs", "x", ([x]) => Math.abs(num(x)));
op("prim::RaiseException", "msg, cls=None", ([msg, cls]) => {
  throw new BendingError(`exception raised by the model: ${cls === null ? "" : `${String(cls)}: `}${String(msg)}`);
});
op("prim::device", "self", () => "cpu");
op("prim::dtype", "self", ([x]) => dtypeCode(T(x)));
op(["prim::is_cuda", "prim::is_mkldnn", "prim::is_quantized", "prim::requires_grad"], "self", () => false);
op(["prim::data", "prim::unchecked_unwrap_optional"], "self", ([x]) => x);
op("prim::layout", "self", () => 0);
op("prim::shape", "self", ([x]) => [...T(x).shape]);
op("math.sqrt", "x", ([x]) => Math.sqrt(num(x)));
op("math.log", "x", ([x]) => Math.log(num(x)));
op("math.exp", "x", ([x]) => Math.exp(num(x)));
op("math.floor", "x", ([x]) => Math.floor(num(x)));
op("math.ceil", "x", ([x]) => Math.ceil(num(x)));
op("math.pow", "x, y", ([x, y]) => num(x) ** num(y));
op("math.log2", "x", ([x]) => Math.log2(num(x)));
op("math.log10", "x", ([x]) => Math.log10(num(x)));
op("math.cos", "x", ([x]) => Math.cos(num(x)));
op("math.sin", "x", ([x]) => Math.sin(num(x)));
op("math.isnan", "x", ([x]) => Number.isNaN(num(x)));
op("math.isinf", "x", ([x]) => !Number.isFinite(num(x)) && !Number.isNaN(num(x)));

// Ops of RAVE v1/v2 and nn~ exports beyond the first fixtures (test/fixtures/torchscript rave_v1_like, ops_zoo).
tensorOp(["acos", "arccos"], "self", ([x]) => (isT(x) ? F.inverseTrig("acos", floatOf(x)) : Math.acos(num(x))));
tensorOp(["asin", "arcsin"], "self", ([x]) => (isT(x) ? F.inverseTrig("asin", floatOf(x)) : Math.asin(num(x))));
tensorOp("norm", "self, p=2, dim=None, keepdim=False, dtype=None, out=None", ([x, p, d, k, , out]) => {
  if (out !== null) throw new BendingError("norm(out=...) is not supported");
  return F.norm(floatOf(T(x)), p === null ? 2 : num(p), optDims(d), Boolean(k));
});
op("linalg_vector_norm", "self, ord=2, dim=None, keepdim=False, dtype=None", ([x, p, d, k]) => F.norm(floatOf(T(x)), num(p), optDims(d), Boolean(k)));
op("repeat_interleave", "self, repeats, dim=None, output_size=None", ([x, r, d]) => {
  if (isT(r) && r.size !== 1) throw new BendingError("repeat_interleave with a tensor of repeats is not supported (an int count is)");
  return F.repeatInterleave(T(x), num(r), d === null ? null : num(d));
});

// For the op files beside this one (ops-torch2.ts registers torch 2.x's ops into the same table).
export { op as registerOp, tensorOp as registerTensorOp, T as tensorArg, num as numberArg, ints as intsArg, floatOf };
