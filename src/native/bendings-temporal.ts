// Lowerings of the time callbacks (src/bending/temporal.ts) for (N, C, L) activations. As on
// wasm, each acts on the frames of one pass and keeps no memory between streamed blocks, so
// none needs a state input. Controls are scalar inputs; frame indices, interpolation weights
// and the L×L matrices of Smear, Filter and Unphase are computed in the graph from them.
import { Filter, Smear, Stretch, TimeShift, Unphase, unphaseAngles } from "../bending/temporal.js";
import { finiteValue } from "../bending/channels.js";
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import type { TensorValue } from "./lowering.js";
import { registerBendingLowering } from "./bendings.js";
import { FLOAT, INT64, bin, liveDouble, liveValue, onSelectedChannels, ramp, toDouble, value } from "./bendings-channels.js";
import { dftMatrix } from "./spectral.js";

/** x's frames at the int64 `frames` ([L]), 0 where `inside` (bool [L]) is false when given. */
function gatherFrames(b: OnnxGraphBuilder, x: TensorValue, frames: string, inside?: string): string {
  const l = x.shape[2];
  const at = inside === undefined ? frames : b.op1("Clip", [frames, b.int64s([0], []), b.int64s([l - 1], [])]);
  const picked = b.op1("Gather", [x.name, at], { axis: 2 });
  return inside === undefined ? picked : b.op1("Where", [inside, picked, b.scalar(0)]);
}

registerBendingLowering(TimeShift, (a) => onSelectedChannels(a, (x) => {
  const b = a.ctx.builder;
  const l = x.shape[2];
  const shift = liveValue(a.ctx, "timeshift_frames", [a.callback.shift], () => a.callback.frames());
  const source = b.op1("Cast", [bin(b, "Sub", ramp(b, "frames", l), shift)], { to: INT64 });
  const length = b.int64s([l], []);
  if (a.callback.wrap) return value(gatherFrames(b, x, b.op1("Mod", [source, length])), x.shape);
  const inside = bin(b, "And", b.op1("GreaterOrEqual", [source, b.int64s([0], [])]), b.op1("Less", [source, length]));
  return value(gatherFrames(b, x, source, inside), x.shape);
}));

/** Frame positions in float64, as the wasm pass computes them (float32 drifts by 10⁻⁴ of a frame at t = 2048). */
registerBendingLowering(Stretch, (a) => onSelectedChannels(a, (x) => {
  const b = a.ctx.builder;
  const l = x.shape[2];
  const wrap = a.callback.wrap;
  const factor = liveDouble(a.ctx, "stretch_factor", [a.callback.factor], () => a.callback.value());
  const length = toDouble(b, b.scalar(l));
  const last = toDouble(b, b.scalar(l - 1));
  const one = toDouble(b, b.scalar(1));
  // frame t reads t / factor, folded back into the block (wrap) or held at its last frame
  const read = bin(b, "Div", toDouble(b, ramp(b, "frames", l)), factor);
  const p = wrap ? b.op1("Mod", [read, length], { fmod: 1 }) : bin(b, "Min", read, last);
  const t0 = b.op1("Floor", [p]);
  const next = bin(b, "Add", t0, one);
  const t1 = wrap ? b.op1("Mod", [next, length], { fmod: 1 }) : bin(b, "Min", next, last);
  const fraction = bin(b, "Sub", p, t0);
  const w1 = b.op1("Cast", [fraction], { to: FLOAT });
  const w0 = b.op1("Cast", [bin(b, "Sub", one, fraction)], { to: FLOAT });
  const frame = (t: string) => gatherFrames(b, x, b.op1("Cast", [t], { to: INT64 }));
  return value(bin(b, "Add", bin(b, "Mul", frame(t0), w0), bin(b, "Mul", frame(t1), w1)), x.shape);
}));

/** The L×L matrix M[s, t] = h[(t − s) mod L] of `h` ([L]): h tiled 2L − 1 times, cut into rows of 2L − 1, each row's first L. */
function circulant(b: OnnxGraphBuilder, h: string, l: number): string {
  const tiled = b.op1("Tile", [b.op1("Reshape", [h, b.int64s([l])]), b.int64s([2 * l - 1])]);
  const rows = b.op1("Reshape", [tiled, b.int64s([l, 2 * l - 1])]);
  return b.op1("Slice", [rows, b.int64s([0]), b.int64s([l]), b.int64s([1])]);
}

function alongTime(b: OnnxGraphBuilder, x: TensorValue, matrix: string): TensorValue {
  return value(b.op1("MatMul", [x.name, matrix]), x.shape);
}

/** y[t] = (1 − a)·x[t] + a·y[t − 1] from y[0] = x[0]: row 0 of the matrix is aᵗ, row s ≥ 1 is (1 − a)·a^(t − s) from t = s on. */
registerBendingLowering(Smear, (a) => onSelectedChannels(a, (x) => {
  const b = a.ctx.builder;
  const l = x.shape[2];
  const pole = liveValue(a.ctx, "smear_amount", [a.callback.amount], () => a.callback.value());
  const frames = ramp(b, "frames", l);
  const powers = b.op1("Pow", [pole, frames]);
  const upper = b.op1("Trilu", [circulant(b, powers, l)], { upper: 1 });
  const first = b.op1("Reshape", [bin(b, "Equal", frames, b.scalar(0)), b.int64s([l, 1])]);
  const rowScale = b.op1("Where", [first, b.scalar(1), bin(b, "Sub", b.scalar(1), pole)]);
  return alongTime(b, x, bin(b, "Mul", upper, rowScale));
}));

/** Each DFT bin's weight in a real signal's impulse response: 1 for DC and (L even) Nyquist, 2 for the others. */
function binWeights(l: number): Float32Array {
  return Float32Array.from({ length: Math.floor(l / 2) + 1 }, (_, k) => (k === 0 || 2 * k === l ? 1 : 2));
}

/**
 * The impulse response h[d] = (1/L)·Σₖ wₖ·gₖ·cos(2πkd/L + φₖ) of per-bin gains `gain` and
 * phases `phase` ([⌊L/2⌋ + 1], phase omitted when 0), from the DFT tables the FFT lowerings use.
 */
function impulseResponse(b: OnnxGraphBuilder, l: number, gain: string, phase?: string): string {
  const bins = Math.floor(l / 2) + 1;
  const weighted = bin(b, "Mul", b.floatConstant("bin_weights", binWeights(l), [bins]), gain);
  const row = (v: string) => b.op1("Reshape", [v, b.int64s([1, bins])]);
  const cos = dftMatrix(b, l, "cos", true).name;
  let sum: string;
  if (phase === undefined) sum = b.op1("MatMul", [row(weighted), cos]);
  else {
    // cos(A + φ) = cos A·cos φ + (−sin A)·sin φ
    const minusSin = dftMatrix(b, l, "sin", true).name;
    const cosPart = b.op1("MatMul", [row(bin(b, "Mul", weighted, b.op1("Cos", [phase]))), cos]);
    const sinPart = b.op1("MatMul", [row(bin(b, "Mul", weighted, b.op1("Sin", [phase]))), minusSin]);
    sum = bin(b, "Add", cosPart, sinPart);
  }
  return bin(b, "Div", sum, b.scalar(l));
}

/** The second-order gain at r (filterGain), elementwise in the graph. */
function filterGains(b: OnnxGraphBuilder, kind: Filter["kind"], r: string, q: string): string {
  const rq = bin(b, "Div", r, q);
  const bend = bin(b, "Sub", b.scalar(1), bin(b, "Mul", r, r));
  const denominator = b.op1("Sqrt", [bin(b, "Add", bin(b, "Mul", bend, bend), bin(b, "Mul", rq, rq))]);
  const numerator = kind === "lowpass" ? b.scalar(1) : kind === "highpass" ? bin(b, "Mul", r, r) : rq;
  return bin(b, "Div", numerator, denominator);
}

registerBendingLowering(Filter, (a) => onSelectedChannels(a, (x) => {
  const { ctx, callback } = a;
  const b = ctx.builder;
  const l = x.shape[2];
  const sources = [callback.cutoff, callback.q, callback.mix];
  const cutoff = liveValue(ctx, "filter_cutoff", sources, () => callback.settings().cutoff);
  const q = liveValue(ctx, "filter_q", sources, () => callback.settings().q);
  const mix = liveValue(ctx, "filter_mix", sources, () => callback.settings().mix);
  // bin k lies at frequency 2k/L of Nyquist
  const bins = Math.floor(l / 2) + 1;
  const frequency = b.floatConstant("filter_bins", Float32Array.from({ length: bins }, (_, k) => (2 * k) / l), [bins]);
  const gains = filterGains(b, callback.kind, bin(b, "Div", frequency, cutoff), q);
  const mixed = bin(b, "Add", bin(b, "Sub", b.scalar(1), mix), bin(b, "Mul", mix, gains));
  return alongTime(b, x, circulant(b, impulseResponse(b, l, mixed), l));
}));

/** The angles are the wasm pass's own (drawn once from the target's seed): constants; the amount is a live input. */
registerBendingLowering(Unphase, (a) => onSelectedChannels(a, (x) => {
  const { ctx, callback, target } = a;
  const b = ctx.builder;
  const l = x.shape[2];
  const bins = Math.floor(l / 2) + 1;
  const amount = liveValue(ctx, "unphase_amount", [callback.amount], () => finiteValue("Unphase amount", callback.amount));
  const phase = bin(b, "Mul", b.floatConstant("unphase_angles", unphaseAngles(l, target.seed), [bins]), amount);
  return alongTime(b, x, circulant(b, impulseResponse(b, l, b.op1("Expand", [b.scalar(1), b.int64s([bins])]), phase), l));
}));
