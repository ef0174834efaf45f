// Op family: arithmetic, comparisons and logic, on tensors and on plain numbers, lists and
// strings (Python's `+` concatenates lists, `*` repeats them). Registered into op-table.ts.
import type { Tensor } from "../tf.js";
import * as F from "../nn/functional.js";
import { pyEquals } from "../util/python.js";
import { checkListLength } from "./context.js";
import { concatStrings, formatValue, repeatString } from "./strings.js";
import { registerOp as op, registerTensorOp as tensorOp } from "./op-table.js";
import { floatOf, isTensor as isT, numberArg as num, tensorArg as T } from "./op-args.js";

type Value = unknown;

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
