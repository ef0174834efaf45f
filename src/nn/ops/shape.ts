// Shape ops: reshape, transpose, concatenation, slicing, splitting, padding, tiling.
import { tf, type Tensor } from "../../tf.js";
import { BendingError } from "../../errors.js";
import { clampSliceBound, wrapDim } from "../../util/python.js";
import { defineOp, dims } from "./registry.js";

export const reshape = defineOp("reshape", (x: Tensor, shape: number[]): Tensor => tf.reshape(x, shape));
/** Swaps two dims (torch.transpose). */
export const transpose = defineOp("transpose", (x: Tensor, dim0: number, dim1: number): Tensor => {
  const perm = x.shape.map((_, i) => i);
  const a = wrapDim(dim0, x.rank);
  const b = wrapDim(dim1, x.rank);
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return tf.transpose(x, perm);
});
export const permute = defineOp("permute", (x: Tensor, dims: number[]): Tensor => tf.transpose(x, dims.map((d) => wrapDim(d, x.rank))));
export const cat = defineOp("cat", (tensors: Tensor[], dim = 0): Tensor => tf.concat(tensors, wrapDim(dim, tensors[0].rank)));
export const stack = defineOp("stack", (tensors: Tensor[], dim = 0): Tensor => tf.stack(tensors, wrapDim(dim, tensors[0].rank + 1)));
export const unsqueeze = defineOp("unsqueeze", (x: Tensor, dim: number): Tensor => tf.expandDims(x, wrapDim(dim, x.rank + 1)));
export const squeeze = defineOp("squeeze", (x: Tensor, dim?: number): Tensor => tf.squeeze(x, dim === undefined ? undefined : [wrapDim(dim, x.rank)]));
export const flatten = defineOp("flatten", (x: Tensor, startDim = 1, endDim = -1): Tensor => {
  const s = wrapDim(startDim, x.rank);
  const e = wrapDim(endDim, x.rank);
  const merged = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return tf.reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
});
/** torch.narrow: `length` elements of `dim` from `start`. */
export const narrow = defineOp("narrow", (x: Tensor, dim: number, start: number, length: number): Tensor => {
  const a = wrapDim(dim, x.rank);
  const begin = x.shape.map((_, i) => (i === a ? start : 0));
  const size = x.shape.map((d, i) => (i === a ? length : d));
  return tf.slice(x, begin, size);
});
/** torch.nn.functional.pad with PyTorch's pad order (last dim first: [left, right, top, bottom, ...]). */
export const pad = defineOp("pad", (x: Tensor, pads: number[], mode: "constant" | "reflect" | "replicate" = "constant", value = 0): Tensor => {
  const paddings: [number, number][] = x.shape.map(() => [0, 0]);
  for (let i = 0; i < pads.length / 2; i++) paddings[x.rank - 1 - i] = [pads[2 * i], pads[2 * i + 1]];
  if (mode === "constant") return tf.pad(x, paddings, value);
  if (mode === "reflect") return tf.mirrorPad(x, paddings, "reflect");
  // replicate: repeat edge slices
  let y = x;
  paddings.forEach(([before, after], d) => {
    if (before === 0 && after === 0) return;
    const first = tf.slice(y, y.shape.map(() => 0), y.shape.map((s, i) => (i === d ? 1 : s)));
    const last = tf.slice(y, y.shape.map((s, i) => (i === d ? s - 1 : 0)), y.shape.map((s, i) => (i === d ? 1 : s)));
    const parts = [...new Array<Tensor>(before).fill(first), y, ...new Array<Tensor>(after).fill(last)];
    y = tf.concat(parts, d);
  });
  return y;
});
/** Nearest-neighbour upsampling by an integer factor on every spatial dim (N, C, ...). */
export const upsampleNearest = defineOp("upsample_nearest", (x: Tensor, scaleFactor: number): Tensor => {
  if (!Number.isInteger(scaleFactor) || scaleFactor < 1) {
    throw new BendingError(`upsample_nearest needs a positive integer scale factor, got ${scaleFactor}`);
  }
  const spatial = dims(x).slice(2);
  const expanded = [dims(x)[0], dims(x)[1], ...spatial.flatMap((d) => [d, 1])];
  const reps = [1, 1, ...spatial.flatMap(() => [1, scaleFactor])];
  return tf.reshape(tf.tile(tf.reshape(x, expanded), reps), [dims(x)[0], dims(x)[1], ...spatial.map((d) => d * scaleFactor)]);
});


/** torch.slice / x[a:b:c] along `dim` (step ≥ 1; zero-length results allowed). */
export const slice = defineOp("slice", (x: Tensor, dim = 0, start: number | null = null, end: number | null = null, step = 1): Tensor => {
  if (step < 1) throw new BendingError(`slice step must be positive, got ${step}`);
  const a = wrapDim(dim, x.rank);
  const size = dims(x)[a];
  const begin = clampSliceBound(start, size, 0);
  const stop = Math.max(begin, clampSliceBound(end, size, size));
  if (begin === 0 && stop === size && step === 1) return x;
  if (step === 1) return tf.slice(x, x.shape.map((_, i) => (i === a ? begin : 0)), x.shape.map((d, i) => (i === a ? stop - begin : d)));
  const count = Math.ceil((stop - begin) / step);
  if (count === 0) return tf.slice(x, x.shape.map(() => 0), x.shape.map((d, i) => (i === a ? 0 : d)));
  return tf.stridedSlice(x, x.shape.map((_, i) => (i === a ? begin : 0)), x.shape.map((d, i) => (i === a ? begin + (count - 1) * step + 1 : d)),
    x.shape.map((_, i) => (i === a ? step : 1)));
});

/** torch.select: the `index`-th entry of `dim` (the dim is removed). */
export const select = defineOp("select", (x: Tensor, dim: number, index: number): Tensor => {
  const a = wrapDim(dim, x.rank);
  const size = dims(x)[a];
  const i = index < 0 ? index + size : index;
  if (i < 0 || i >= size) throw new BendingError(`index ${index} is out of range for dim ${dim} of size ${size}`);
  const part = tf.slice(x, x.shape.map((_, d) => (d === a ? i : 0)), x.shape.map((s, d) => (d === a ? 1 : s)));
  return tf.reshape(part, x.shape.filter((_, d) => d !== a));
});

/** torch.split: pieces of `size` along `dim` (the last may be smaller), or pieces of the given sizes. */
export const split = defineOp("split", (x: Tensor, size: number | number[], dim = 0): Tensor[] => {
  const a = wrapDim(dim, x.rank);
  const total = dims(x)[a];
  let sizes: number[];
  if (typeof size === "number") {
    if (size <= 0) throw new BendingError(`split size must be positive, got ${size}`);
    sizes = [];
    for (let left = total; left > 0; left -= size) sizes.push(Math.min(size, left));
    if (sizes.length === 0) sizes = [0];
  } else {
    sizes = size;
    if (sizes.reduce((s, v) => s + v, 0) !== total) throw new BendingError(`split sizes [${sizes.join(", ")}] do not add up to ${total}`);
  }
  let offset = 0;
  return sizes.map((s) => {
    const part = tf.slice(x, x.shape.map((_, i) => (i === a ? offset : 0)), x.shape.map((d, i) => (i === a ? s : d)));
    offset += s;
    return part;
  });
});

/** torch.chunk: `chunks` pieces of ceil(n / chunks) along `dim`. */
export const chunk = defineOp("chunk", (x: Tensor, chunks: number, dim = 0): Tensor[] => {
  const total = dims(x)[wrapDim(dim, x.rank)];
  return opaqueSplit(x, Math.max(1, Math.ceil(total / chunks)), dim);
});

function opaqueSplit(x: Tensor, size: number, dim: number): Tensor[] {
  const a = wrapDim(dim, x.rank);
  const total = dims(x)[a];
  const out: Tensor[] = [];
  for (let offset = 0; offset < total || out.length === 0; offset += size) {
    const s = Math.min(size, total - offset);
    out.push(tf.slice(x, x.shape.map((_, i) => (i === a ? offset : 0)), x.shape.map((d, i) => (i === a ? s : d))));
    if (s <= 0) break;
  }
  return out;
}

export const flip = defineOp("flip", (x: Tensor, dimsToFlip: number[]): Tensor => tf.reverse(x, dimsToFlip.map((d) => wrapDim(d, x.rank))));

/** torch.roll: elements shifted along each dim (wrapping around). */
export const roll = defineOp("roll", (x: Tensor, shifts: number | number[], dimsToRoll: number | number[] = []): Tensor => {
  const s = typeof shifts === "number" ? [shifts] : shifts;
  const d = typeof dimsToRoll === "number" ? [dimsToRoll] : dimsToRoll;
  if (d.length === 0) return tf.reshape(roll(tf.reshape(x, [-1]), s, [0]), x.shape);
  let y = x;
  d.forEach((dim, i) => {
    const a = wrapDim(dim, y.rank);
    const n = dims(y)[a];
    const k = ((s[i] % n) + n) % n;
    if (k === 0) return;
    const head = tf.slice(y, y.shape.map((_, j) => (j === a ? n - k : 0)), y.shape.map((v, j) => (j === a ? k : v)));
    const tail = tf.slice(y, y.shape.map(() => 0), y.shape.map((v, j) => (j === a ? n - k : v)));
    y = tf.concat([head, tail], a);
  });
  return y;
});

/** torch.expand: -1 keeps a dim; new leading dims broadcast. */
export const expand = defineOp("expand", (x: Tensor, sizes: number[]): Tensor => {
  const lead = sizes.length - x.rank;
  const shape = sizes.map((s, i) => (s === -1 ? dims(x)[i - lead] : s));
  return tf.broadcastTo(lead > 0 ? tf.reshape(x, [...new Array<number>(lead).fill(1), ...x.shape]) : x, shape);
});
/** torch.repeat (tile), with new leading dims. */
export const repeat = defineOp("repeat", (x: Tensor, reps: number[]): Tensor => {
  const lead = reps.length - x.rank;
  return tf.tile(lead > 0 ? tf.reshape(x, [...new Array<number>(lead).fill(1), ...x.shape]) : x, reps);
});

export const indexSelect = defineOp("index_select", (x: Tensor, dim: number, index: Tensor): Tensor => tf.gather(x, tf.cast(index, "int32"), wrapDim(dim, x.rank)));

/** torch.repeat_interleave with an int count: each element `repeats` times along `dim` (flattened when dim is null). */
export const repeatInterleave = defineOp("repeat_interleave", (x: Tensor, repeats: number, dim: number | null = null): Tensor => {
  const y = dim === null ? tf.reshape(x, [-1]) : x;
  const a = dim === null ? 0 : wrapDim(dim, y.rank);
  const reps = new Array<number>(y.rank + 1).fill(1);
  reps[a + 1] = repeats;
  const tiled = tf.tile(tf.expandDims(y, a + 1), reps);
  const shape = [...y.shape];
  shape[a] *= repeats;
  return tf.reshape(tiled, shape);
});

