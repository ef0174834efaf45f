// Op family: tensor factories (zeros, ones, full, arange, tensor, the `_like` and `new_`
// forms, windows) and random numbers; a factory's size is charged to the call's budget
// before anything is allocated. Registered into op-table.ts.
import { tf } from "../tf.js";
import * as F from "../nn/functional.js";
import type { CallContext } from "./context.js";
import { registerOp as op } from "./op-table.js";
import { intsArg as ints, numberArg as num, tensorArg as T, tfDtype } from "./op-args.js";

type Value = unknown;

const LIKE = "dtype=None, layout=None, device=None, pin_memory=None, memory_format=None";
const FACTORY = "dtype=None, layout=None, device=None, pin_memory=None";

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
