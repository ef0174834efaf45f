// What the spatial and time lowerings share: the channel selection (a list or cluster fixed at
// compile time, a `fraction` whose count is a live input), numbers derived from controls in
// TypeScript and fed as scalar inputs, and the few float-graph helpers they all use.
import type { ChannelCallback } from "../bending/channels.js";
import type { Controllable } from "../bending/parameter.js";
import { ONNX_TYPE, type OnnxGraphBuilder } from "./onnx-builder.js";
import type { LoweringContext, TensorValue } from "./lowering.js";
import type { BendingLoweringArgs } from "./bendings.js";

export const { FLOAT, INT64, DOUBLE } = ONNX_TYPE;

export function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

/**
 * A number computed by `read` from the callback's arguments: a constant when none of
 * `sources` is a control, else a scalar input recomputed before every run (in float64, as
 * the wasm pass computes it, then fed as float32 as the wasm pass's tensors hold it).
 */
export function liveValue(ctx: LoweringContext, base: string, sources: readonly (Controllable | undefined)[], read: () => number): string {
  if (sources.every((s) => s === undefined || typeof s === "number")) return ctx.builder.scalar(read());
  return ctx.liveScalar(base, read).name;
}

/** `v` cast to float64. */
export function toDouble(b: OnnxGraphBuilder, v: string): string {
  return b.op1("Cast", [v], { to: DOUBLE });
}

/**
 * Like liveValue, as a float64 scalar: graph inputs are float32, so the number is fed as two
 * parts (its float32 rounding and the rest) summed in float64, exact to about 2⁻⁴⁸. For
 * coordinates the wasm pass computes in float64, where float32 would drift by a sample's
 * fraction over a long block.
 */
export function liveDouble(ctx: LoweringContext, base: string, sources: readonly (Controllable | undefined)[], read: () => number): string {
  const high = liveValue(ctx, `${base}_hi`, sources, () => Math.fround(read()));
  const low = liveValue(ctx, `${base}_lo`, sources, () => read() - Math.fround(read()));
  return bin(ctx.builder, "Add", toDouble(ctx.builder, high), toDouble(ctx.builder, low));
}

/** Elementwise binary op of two value names (broadcasting). */
export function bin(b: OnnxGraphBuilder, type: "Add" | "Sub" | "Mul" | "Div" | "Min" | "Max" | "Less" | "Greater" | "Equal" | "GreaterOrEqual" | "And" | "Mod" | "Pow", x: string, y: string): string {
  return b.op1(type, [x, y]);
}

/** A float32 constant vector [0, 1, …, n − 1]. */
export function ramp(b: OnnxGraphBuilder, base: string, n: number): string {
  return b.floatConstant(base, Float32Array.from({ length: n }, (_, i) => i), [n]);
}

/**
 * Applies `transform` (which keeps shapes and treats channels independently) to the channels
 * the callback selects, the others passing unchanged, as the wasm pass does: all channels;
 * a list or cluster gathered, transformed and put back with one Gather; a `fraction` as a
 * mask over its drawn channel order, the count a live input, so moving it never recompiles.
 */
export function onSelectedChannels(a: BendingLoweringArgs<ChannelCallback>, transform: (x: TensorValue) => TensorValue): TensorValue {
  const { ctx, x, callback, state, target } = a;
  callback.checkShape(x.shape, target);
  const b = ctx.builder;
  const c = x.shape[1];
  const order = callback.fractionOrder(state);
  if (callback.fraction !== undefined && order !== undefined) {
    // rank[channel] = its place in the drawn order: the first `count` places are bent
    const rank = new Float32Array(c);
    order.forEach((channel, place) => (rank[channel] = place));
    const shape = x.shape.map((d, i) => (i === 1 ? c : 1));
    const count = liveValue(ctx, "fraction_count", [callback.fraction], () => callback.fractionCount(c));
    const bent = b.op1("Less", [b.floatConstant("fraction_rank", rank, shape), count]);
    return value(b.op1("Where", [bent, transform(x).name, x.name]), x.shape);
  }
  const list = callback.selected(c, state, target);
  if (list === null) return transform(x);
  if (list.length === 0) return x;
  const picked = value(b.op1("Gather", [x.name, b.int64s([...list])], { axis: 1 }), x.shape.map((d, i) => (i === 1 ? list.length : d)));
  const y = transform(picked);
  // merge[i] = i for a kept channel, C + its rank among the selected for a bent one
  const merge = Array.from({ length: c }, (_, i) => i);
  list.forEach((channel, rank) => (merge[channel] = c + rank));
  const both = b.op1("Concat", [x.name, y.name], { axis: 1 });
  return value(b.op1("Gather", [both, b.int64s(merge)], { axis: 1 }), x.shape);
}
