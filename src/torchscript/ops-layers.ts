// Op family: what nn layers call: convolutions (1-d, 2-d, transposed), linear, batch and
// layer norm, embedding, nearest-neighbour resampling and padding. Registered into
// op-table.ts.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { registerOp as op, registerTensorOp as tensorOp } from "./op-table.js";
import { intsArg as ints, numberArg as num, tensorArg as T } from "./op-args.js";

type Value = unknown;

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
