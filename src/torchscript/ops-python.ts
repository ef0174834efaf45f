// Op family: Python-level ops: sizes, lists, dicts and strings, builtins (int, float,
// str, min, max...), prim ops (dtype, device, RaiseException...) and the math module.
// Registered into op-table.ts.
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { pyEquals, wrapDim } from "../util/python.js";
import { checkListLength, checkStringLength } from "./context.js";
import { formatValue, joinStrings, sliceString } from "./strings.js";
import { registerOp as op, type OpFn } from "./op-table.js";
import { dtypeCode, isTensor as isT, numberArg as num, tensorArg as T } from "./op-args.js";
import { isSlice, positiveStep, pyIndex, sliceList } from "./sequence-indexing.js";
import { tensorIndex } from "./tensor-views.js";

type Value = unknown;

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
