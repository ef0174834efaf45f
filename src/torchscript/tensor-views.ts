// In-place writes and views for the op table: an in-place op's result written through
// CallContext.assign, and slices, selects, reshapes and permutes recorded as views (with
// how to write a new view value back into its base) while the call tracks views, so that
// writing into a slice of a buffer updates the buffer as in PyTorch; x[index] on tensors.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { dispatch } from "../nn/hooks.js";
import { clampSliceBound, wrapDim } from "../util/python.js";
import type { CallContext } from "./context.js";
import { numberArg as num, tensorArg as T } from "./op-args.js";
import { isSlice } from "./sequence-indexing.js";

type Value = unknown;

export function inPlace(name: string, a: Value[], ctx: CallContext, compute: () => Tensor): Tensor {
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

export function sliceOp(x: Tensor, dim: number, start: number | null, end: number | null, step: number, ctx: CallContext | null): Tensor {
  const out = F.slice(x, dim, start, end, step);
  if (ctx !== null && ctx.trackViews && out !== x) {
    const a = wrapDim(dim, x.rank);
    const size = x.shape[a];
    const begin = clampSliceBound(start, size, 0);
    ctx.view(x, out, sliceWriter(a, begin, Math.max(begin, clampSliceBound(end, size, size)), step));
  }
  return out;
}

export function selectOp(x: Tensor, dim: number, index: number, ctx: CallContext | null): Tensor {
  const out = F.select(x, dim, index);
  if (ctx !== null && ctx.trackViews) {
    const a = wrapDim(dim, x.rank);
    const i = index < 0 ? index + x.shape[a] : index;
    const write = sliceWriter(a, i, i + 1, 1);
    ctx.view(x, out, (base, view) => write(base, tf.expandDims(view, a)));
  }
  return out;
}

export function reshapeView(x: Tensor, out: Tensor, ctx: CallContext | null): Tensor {
  if (ctx !== null && ctx.trackViews && out !== x) ctx.view(x, out, reshapeWriter);
  return out;
}

export function permuteView(x: Tensor, perm: number[], ctx: CallContext | null): Tensor {
  const out = F.permute(x, perm);
  if (ctx !== null && ctx.trackViews) {
    const p = perm.map((d) => wrapDim(d, x.rank));
    const inverse = p.map((_, i) => p.indexOf(i));
    ctx.view(x, out, (_base, view) => tf.transpose(view, inverse));
  }
  return out;
}

export function resolveShape(x: Tensor, shape: number[]): number[] {
  return shape.map((s) => num(s));
}

/** x[index] for tensors: ints select, slices slice, None adds a dim, Ellipsis skips dims. */
export function tensorIndex(x: Tensor, index: Value, ctx: CallContext | null): Tensor {
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
