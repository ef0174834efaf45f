// Time and spectrum callbacks for (N, C, L) activations (audio models): shift, stretch,
// smear, filter and phase scrambling along L, for all channels or a selection.
//
// Each one acts on the L frames of one pass (one streamed block) and keeps no memory of
// the previous pass. The linear ones (Smear, Filter, Unphase) are one matrix product with
// an L×L matrix cached per control values; Filter and Unphase treat the block as one
// period of a circular signal (their DFT diagonalises the matrix), which is exact and
// needs no FFT kernel, which the wasm backend lacks.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { registerCallback, type BendingTarget, type TargetState } from "./callback.js";
import { slot } from "./catalogue.js";
import { CHANNEL_ARGUMENTS, ChannelCallback, channelOptions, describeTarget, finiteValue, numberOr, requireFinite, wordOr, type ChannelOptions } from "./channels.js";
import { type Controllable } from "./parameter.js";

/** Longest L for the matrix callbacks (an L×L float32 matrix: 16 MiB at 2048). */
export const MAX_MATRIX_LENGTH = 2048;

abstract class TemporalCallback extends ChannelCallback {
  protected readonly rank = 3;
}

/** A time callback computed as an L×L matrix: too long an activation fails at bend time. */
abstract class MatrixCallback extends TemporalCallback {
  protected override initTransform(target: BendingTarget): TargetState {
    if (target.shape.length === 3) checkMatrixLength(this, target.shape[2], target);
    return {};
  }
}

/** x (N, C, L) times an L×L matrix along L. */
function alongTime(x: Tensor, matrix: Tensor): Tensor {
  const [n, c, l] = x.shape as number[];
  return tf.reshape(tf.matMul(tf.reshape(x, [n * c, l]), matrix as tf.Tensor2D), x.shape);
}

function checkMatrixLength(who: ChannelCallback, l: number, target: BendingTarget): void {
  if (l > MAX_MATRIX_LENGTH) {
    throw new BendingError(`${who} works on at most ${MAX_MATRIX_LENGTH} frames; ${describeTarget(target)} has ${l}`);
  }
}

/** The L×L matrix M with M[s, t] = h[(t − s) mod L]: y = x·M is the circular convolution of x with h. */
function circulant(h: Float32Array): Tensor {
  const l = h.length;
  const m = new Float32Array(l * l);
  for (let s = 0; s < l; s++) for (let t = 0; t < l; t++) m[s * l + t] = h[(t - s + l) % l];
  return tf.tensor2d(m, [l, l]);
}

/**
 * The impulse response of gains g[k] and phase shifts φ[k] on the DFT bins k = 0..⌊L/2⌋ of a
 * real signal (the other bins are their mirror images, so the output stays real).
 */
function impulseResponse(l: number, gain: (k: number) => number, phase: (k: number) => number): Float32Array {
  const h = new Float32Array(l);
  for (let d = 0; d < l; d++) {
    let sum = gain(0) * Math.cos(phase(0));
    for (let k = 1; k <= Math.floor(l / 2); k++) {
      // the Nyquist bin (k = L/2, L even) has no mirror image
      const weight = 2 * k === l ? 1 : 2;
      sum += weight * gain(k) * Math.cos((2 * Math.PI * k * d) / l + phase(k));
    }
    h[d] = sum / l;
  }
  return h;
}

// --- TimeShift -------------------------------------------------------------------------------

export interface TimeShiftOptions extends ChannelOptions {
  /** Frames pushed out at one end come back at the other (true, the default) or zeros enter (false). */
  wrap?: boolean;
}

/** Moves the block `shift` frames later (earlier when negative). TimeShift(0) is the identity. */
export class TimeShift extends TemporalCallback {
  readonly type = "TimeShift";
  protected override readonly integerArguments: readonly string[] = ["shift"];
  readonly wrap: boolean;
  constructor(readonly shift: Controllable = 0, options: TimeShiftOptions = {}) {
    super("TimeShift", options);
    requireFinite("TimeShift shift", shift);
    this.wrap = options.wrap ?? true;
  }
  protected args() {
    return { shift: this.shift, wrap: this.wrap, ...this.selectionArgs() };
  }
  /** The shift in whole frames now. */
  frames(): number {
    return Math.round(finiteValue("TimeShift shift", this.shift));
  }
  protected isIdentity(): boolean {
    return this.frames() === 0;
  }
  protected transform(x: Tensor, state: TargetState): Tensor {
    const l = x.shape[2] as number;
    const s = this.frames();
    if (this.wrap) {
      const index = slot(state, "index", `${s},${l}`, () =>
        tf.tensor1d(Int32Array.from({ length: l }, (_, t) => ((((t - s) % l) + l) % l)), "int32"));
      return tf.gather(x, index, 2);
    }
    if (Math.abs(s) >= l) return tf.zerosLike(x);
    return s > 0
      ? tf.pad(tf.slice(x, [0, 0, 0], [-1, -1, l - s]), [[0, 0], [0, 0], [s, 0]])
      : tf.pad(tf.slice(x, [0, 0, -s], [-1, -1, l + s]), [[0, 0], [0, 0], [0, -s]]);
  }
}

// --- Stretch ---------------------------------------------------------------------------------

export interface StretchOptions extends ChannelOptions {
  /** Past the block's end, read it again from the start (true, the default) or hold its last frame. */
  wrap?: boolean;
}

/**
 * Resamples the block in time: frame t reads x at t / factor (linearly interpolated), so
 * factor 2 plays the first half slowed down, 0.5 the block twice as fast (twice, with wrap).
 * Stretch(1) is the identity.
 */
export class Stretch extends TemporalCallback {
  readonly type = "Stretch";
  readonly wrap: boolean;
  constructor(readonly factor: Controllable = 1, options: StretchOptions = {}) {
    super("Stretch", options);
    requireFinite("Stretch factor", factor);
    if (typeof factor === "number" && !(factor > 0)) throw new BendingError(`Stretch factor must be > 0, got ${factor}`);
    this.wrap = options.wrap ?? true;
  }
  protected args() {
    return { factor: this.factor, wrap: this.wrap, ...this.selectionArgs() };
  }
  /** The factor now (a BendingError unless > 0). */
  value(): number {
    const f = finiteValue("Stretch factor", this.factor);
    if (!(f > 0)) throw new BendingError(`Stretch factor must be > 0, got ${f}`);
    return f;
  }
  protected isIdentity(): boolean {
    return this.value() === 1;
  }
  private grid(f: number, l: number): { index: Int32Array; weight: Float32Array } {
    const index = new Int32Array(2 * l);
    const weight = new Float32Array(2 * l);
    for (let t = 0; t < l; t++) {
      let p = t / f;
      p = this.wrap ? p % l : Math.min(p, l - 1);
      const t0 = Math.floor(p);
      const t1 = this.wrap ? (t0 + 1) % l : Math.min(t0 + 1, l - 1);
      index[t] = t0;
      index[l + t] = t1;
      weight[t] = 1 - (p - t0);
      weight[l + t] = p - t0;
    }
    return { index, weight };
  }
  protected transform(x: Tensor, state: TargetState): Tensor {
    const l = x.shape[2] as number;
    const f = this.value();
    const signature = `${f},${l},${this.wrap}`;
    // the two frames each output frame reads, [2·L], and their weights, [2, L]; made when the signature changes
    let made: { index: Int32Array; weight: Float32Array } | null = null;
    const grid = () => (made ??= this.grid(f, l));
    const indices = slot(state, "index", signature, () => tf.tensor1d(grid().index, "int32"));
    const weights = slot(state, "weight", signature, () => tf.tensor2d(grid().weight, [2, l]));
    const [n, c] = x.shape as number[];
    const frames = tf.reshape(tf.gather(x, indices, 2), [n, c, 2, l]);
    return tf.sum(tf.mul(frames, weights), 2);
  }
}

// --- Smear -------------------------------------------------------------------------------------

/**
 * A one-pole smoothing along time: y[t] = (1 − amount)·x[t] + amount·y[t − 1], starting from
 * y[0] = x[0] (a constant stays constant). amount in [0, 1); Smear(0) is the identity.
 */
export class Smear extends MatrixCallback {
  readonly type = "Smear";
  constructor(readonly amount: Controllable = 0.5, options: ChannelOptions = {}) {
    super("Smear", options);
    requireFinite("Smear amount", amount);
    if (typeof amount === "number" && !(amount >= 0 && amount < 1)) throw new BendingError(`Smear amount must be in [0, 1), got ${amount}`);
  }
  protected args() {
    return { amount: this.amount, ...this.selectionArgs() };
  }
  /** The pole now, within [0, 0.999]. */
  value(): number {
    return Math.min(0.999, Math.max(0, finiteValue("Smear amount", this.amount)));
  }
  protected isIdentity(): boolean {
    return this.value() === 0;
  }
  protected transform(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const l = x.shape[2] as number;
    checkMatrixLength(this, l, target);
    const a = this.value();
    const matrix = slot(state, "matrix", `${a},${l}`, () => {
      const m = new Float32Array(l * l);
      for (let t = 0; t < l; t++) {
        m[t] = a ** t; // row 0: x[0] also stands for everything before the block
        for (let s = 1; s <= t; s++) m[s * l + t] = (1 - a) * a ** (t - s);
      }
      return tf.tensor2d(m, [l, l]);
    });
    return alongTime(x, matrix);
  }
}

// --- Filter ------------------------------------------------------------------------------------

export type FilterKind = "lowpass" | "highpass" | "bandpass";
const FILTER_KINDS: readonly FilterKind[] = ["lowpass", "highpass", "bandpass"];

export interface FilterOptions extends ChannelOptions {
  /** Share of the filtered signal in the output: 0 is the input (the identity), 1 (default) the filtered. */
  mix?: Controllable;
}

/** The gain of a second-order (resonant) filter at r = frequency / cutoff. */
export function filterGain(kind: FilterKind, r: number, q: number): number {
  const denominator = Math.sqrt((1 - r * r) ** 2 + (r / q) ** 2);
  if (kind === "lowpass") return 1 / denominator;
  if (kind === "highpass") return (r * r) / denominator;
  return r / q / denominator;
}

/**
 * A low-, high- or band-pass along time with the gains of a second-order filter of the
 * given `cutoff` (a fraction of the Nyquist frequency, in (0, 1]) and resonance `q`,
 * applied to each DFT bin without phase change. Filter(..., { mix: 0 }) is the identity.
 */
export class Filter extends MatrixCallback {
  readonly type = "Filter";
  readonly mix: Controllable;
  constructor(readonly kind: FilterKind = "lowpass", readonly cutoff: Controllable = 0.5, readonly q: Controllable = Math.SQRT1_2, options: FilterOptions = {}) {
    super("Filter", options);
    if (!FILTER_KINDS.includes(kind)) throw new BendingError(`Filter kind must be one of ${FILTER_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
    this.mix = options.mix ?? 1;
    requireFinite("Filter cutoff", cutoff);
    requireFinite("Filter q", q);
    requireFinite("Filter mix", this.mix);
    if (typeof cutoff === "number" && !(cutoff > 0 && cutoff <= 1)) throw new BendingError(`Filter cutoff is a fraction of Nyquist in (0, 1], got ${cutoff}`);
    if (typeof q === "number" && !(q > 0)) throw new BendingError(`Filter q must be > 0, got ${q}`);
  }
  protected args() {
    return { kind: this.kind, cutoff: this.cutoff, q: this.q, mix: this.mix, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Filter mix", this.mix) === 0;
  }
  /** cutoff, q and mix now, cutoff and q kept within the range the gains are defined on. */
  settings(): { cutoff: number; q: number; mix: number } {
    return {
      cutoff: Math.min(1, Math.max(1e-6, finiteValue("Filter cutoff", this.cutoff))),
      q: Math.max(1e-3, finiteValue("Filter q", this.q)),
      mix: finiteValue("Filter mix", this.mix),
    };
  }
  protected transform(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const l = x.shape[2] as number;
    checkMatrixLength(this, l, target);
    const { cutoff, q, mix } = this.settings();
    const matrix = slot(state, "matrix", `${cutoff},${q},${mix},${l}`, () => {
      // bin k lies at frequency 2k/L of Nyquist
      const h = impulseResponse(l, (k) => (1 - mix) + mix * filterGain(this.kind, (2 * k) / l / cutoff, q), () => 0);
      return circulant(h);
    });
    return alongTime(x, matrix);
  }
}

// --- Unphase -----------------------------------------------------------------------------------

/**
 * Unphase's angles θ[k] for the bins k = 0..⌊L/2⌋ of a block of `l` frames, drawn uniformly in
 * [−π, π) from `seed`; DC and (for even L) Nyquist get 0, as they must stay real.
 */
export function unphaseAngles(l: number, seed: number): Float32Array {
  const theta = tf.tidy(() => tf.randomUniform([Math.floor(l / 2) + 1], -Math.PI, Math.PI, "float32", seed).dataSync());
  theta[0] = 0;
  if (l % 2 === 0) theta[l / 2] = 0;
  return Float32Array.from(theta);
}

/**
 * Scrambles the phase of every frequency of the block while keeping its magnitude: bin k
 * turns by amount·θ[k], θ drawn uniformly in [−π, π) once per target (from its seed) and
 * block length. Unphase(0) is the identity; Unphase(1) fully random phases.
 */
export class Unphase extends MatrixCallback {
  readonly type = "Unphase";
  constructor(readonly amount: Controllable = 1, options: ChannelOptions = {}) {
    super("Unphase", options, false);
    requireFinite("Unphase amount", amount);
  }
  protected args() {
    return { amount: this.amount, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Unphase amount", this.amount) === 0;
  }
  protected transform(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const l = x.shape[2] as number;
    checkMatrixLength(this, l, target);
    const amount = finiteValue("Unphase amount", this.amount);
    const matrix = slot(state, "matrix", `${amount},${l}`, () => {
      const theta = unphaseAngles(l, target.seed);
      const phase = (k: number) => amount * theta[k];
      return circulant(impulseResponse(l, () => 1, phase));
    });
    return alongTime(x, matrix);
  }
}

// --- registry ----------------------------------------------------------------------------------

const NUMBER = { kind: "number" } as const;
const WRAP = { kind: "word", words: ["true", "false"] } as const;
const wrapArg = (v: unknown, fallback: boolean) => (v === undefined || v === null ? fallback : v === true || v === "true");

registerCallback("TimeShift", (args, seed, controls) =>
  new TimeShift(numberOr(args.shift, controls, 0), { wrap: wrapArg(args.wrap, true), ...channelOptions(args, seed, controls) }),
  { shift: NUMBER, wrap: WRAP, ...CHANNEL_ARGUMENTS });
registerCallback("Stretch", (args, seed, controls) =>
  new Stretch(numberOr(args.factor, controls, 1), { wrap: wrapArg(args.wrap, true), ...channelOptions(args, seed, controls) }),
  { factor: { kind: "number", min: 0.01, max: 100 }, wrap: WRAP, ...CHANNEL_ARGUMENTS });
registerCallback("Smear", (args, seed, controls) => new Smear(numberOr(args.amount, controls, 0.5), channelOptions(args, seed, controls)),
  { amount: { kind: "number", min: 0, max: 0.999 }, ...CHANNEL_ARGUMENTS });
registerCallback("Filter", (args, seed, controls) =>
  new Filter(wordOr(args.kind, FILTER_KINDS, "lowpass", "Filter kind"), numberOr(args.cutoff, controls, 0.5), numberOr(args.q, controls, Math.SQRT1_2),
    { mix: numberOr(args.mix, controls, 1), ...channelOptions(args, seed, controls) }),
  { kind: { kind: "word", words: FILTER_KINDS }, cutoff: { kind: "number", min: 0.001, max: 1 }, q: { kind: "number", min: 0.01, max: 100 }, mix: { kind: "number", min: 0, max: 1 }, ...CHANNEL_ARGUMENTS });
registerCallback("Unphase", (args, seed, controls) => new Unphase(numberOr(args.amount, controls, 1), channelOptions(args, seed, controls)),
  { amount: NUMBER, ...CHANNEL_ARGUMENTS });
