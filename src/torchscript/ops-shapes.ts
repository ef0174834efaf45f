// Op family: shapes and views (slice, select, reshape, permute, transpose, cat, split...),
// copies and in-place fills, and dtype casts. Views are recorded through tensor-views.ts.
// Registered into op-table.ts.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { wrapDim } from "../util/python.js";
import { sliceString } from "./strings.js";
import { registerOp as op, registerTensorOp as tensorOp } from "./op-table.js";
import { intsArg as ints, isTensor as isT, numberArg as num, tensorArg as T, tfDtype } from "./op-args.js";
import { inPlace, permuteView, reshapeView, resolveShape, selectOp, sliceOp } from "./tensor-views.js";
import { positiveStep, sliceList } from "./sequence-indexing.js";

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
// of RAVE v1/v2 and nn~ exports (test/fixtures/torchscript rave_v1_like, ops_zoo)
op("repeat_interleave", "self, repeats, dim=None, output_size=None", ([x, r, d]) => {
  if (isT(r) && r.size !== 1) throw new BendingError("repeat_interleave with a tensor of repeats is not supported (an int count is)");
  return F.repeatInterleave(T(x), num(r), d === null ? null : num(d));
});
