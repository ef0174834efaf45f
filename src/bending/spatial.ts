// Spatial callbacks for (N, C, H, W) feature maps, after Broad et al., "Network Bending"
// (2021): affine warps, morphology, blur and sharpening, inversion and a sine warp,
// applied to all channels or to a selection (channels, a cluster, a seeded fraction).
//
// Distances are fractions of the map's width and height, so one control moves maps of
// every resolution alike. Each callback's neutral setting returns the very input tensor.
// Derived tensors (transform matrices, kernels, sampling grids) are cached per target and
// remade only when the control values or the map size they come from change.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { registerCallback, type BendingTarget, type TargetState } from "./callback.js";
import { slot } from "./catalogue.js";
import { CHANNEL_ARGUMENTS, ChannelCallback, channelOptions, finiteValue, numberOr, requireFinite, wordOr, type ChannelOptions } from "./channels.js";
import { type Controllable } from "./parameter.js";

/** Largest morphology radius, so a message cannot ask for an enormous pooling window. */
export const MAX_RADIUS = 32;

/** (N, C, H, W) → (N·C, H, W, 1): each channel as a one-channel image, without copying. */
function asImages(x: Tensor): tf.Tensor4D {
  const [n, c, h, w] = x.shape as number[];
  return tf.reshape(x, [n * c, h, w, 1]);
}

function requireAtLeast(name: string, value: Controllable, min: number): void {
  requireFinite(name, value);
  if (typeof value === "number" && value < min) throw new BendingError(`${name} must be >= ${min}, got ${value}`);
}

abstract class SpatialCallback extends ChannelCallback {
  protected readonly rank = 4;
}

// --- affine warps (tf.image.transform) ---------------------------------------------------

type FillMode = "constant" | "wrap";

/**
 * A projective map for tf.image.transform: the output pixel (x, y) reads the input at
 * ((a0·x + a1·y + a2), (b0·x + b1·y + b2)), x along the width, y along the height.
 */
type Matrix = [number, number, number, number, number, number, number, number];

abstract class AffineCallback extends SpatialCallback {
  protected fillMode(): FillMode {
    return "constant";
  }
  /** The matrix for an h×w map at the current control values (the native engine reads it too). */
  abstract matrix(h: number, w: number): Matrix;

  protected transform(x: Tensor, state: TargetState): Tensor {
    const [, , h, w] = x.shape as number[];
    const m = this.matrix(h, w);
    const transforms = slot(state, "matrix", m.join(","), () => tf.tensor2d(m, [1, 8]));
    return tf.reshape(tf.image.transform(asImages(x), transforms as tf.Tensor2D, "bilinear", this.fillMode(), 0), x.shape);
  }
}

/** cos and sin of `degrees`, exact at multiples of 90° so quarter turns move pixels onto pixels. */
function cosSin(degrees: number): [number, number] {
  const quarter = degrees / 90;
  if (Number.isInteger(quarter)) {
    const q = ((quarter % 4) + 4) % 4;
    return ([[1, 0], [0, 1], [-1, 0], [0, -1]] as const)[q] as [number, number];
  }
  const r = (degrees * Math.PI) / 180;
  return [Math.cos(r), Math.sin(r)];
}

export interface TranslateOptions extends ChannelOptions {
  /** What enters at the edges: the map's far side (true) or zeros (false, the default). */
  wrap?: boolean;
}

/** Moves the map by dx of its width (right) and dy of its height (down). Translate(0, 0) is the identity. */
export class Translate extends AffineCallback {
  readonly type = "Translate";
  readonly wrap: boolean;
  constructor(readonly dx: Controllable = 0, readonly dy: Controllable = 0, options: TranslateOptions = {}) {
    super("Translate", options);
    requireFinite("Translate dx", dx);
    requireFinite("Translate dy", dy);
    this.wrap = options.wrap ?? false;
  }
  protected args() {
    return { dx: this.dx, dy: this.dy, wrap: this.wrap, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Translate dx", this.dx) === 0 && finiteValue("Translate dy", this.dy) === 0;
  }
  protected override fillMode(): FillMode {
    return this.wrap ? "wrap" : "constant";
  }
  matrix(h: number, w: number): Matrix {
    return [1, 0, -finiteValue("Translate dx", this.dx) * w, 0, 1, -finiteValue("Translate dy", this.dy) * h, 0, 0];
  }
}

/** Turns the map by `degrees` counterclockwise (as displayed, rows down) about its centre. Rotate(0) is the identity. */
export class Rotate extends AffineCallback {
  readonly type = "Rotate";
  constructor(readonly degrees: Controllable = 0, options: ChannelOptions = {}) {
    super("Rotate", options);
    requireFinite("Rotate degrees", degrees);
  }
  protected args() {
    return { degrees: this.degrees, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Rotate degrees", this.degrees) % 360 === 0;
  }
  matrix(h: number, w: number): Matrix {
    const [cos, sin] = cosSin(finiteValue("Rotate degrees", this.degrees));
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    // input = centre + R(-θ)·(output - centre), with rows pointing down
    return [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0, 0];
  }
}

/** Scales the map by `factor` about its centre (> 1 enlarges; zeros enter when < 1). Zoom(1) is the identity. */
export class Zoom extends AffineCallback {
  readonly type = "Zoom";
  constructor(readonly factor: Controllable = 1, options: ChannelOptions = {}) {
    super("Zoom", options);
    requireFinite("Zoom factor", factor);
    if (typeof factor === "number" && !(factor > 0)) throw new BendingError(`Zoom factor must be > 0, got ${factor}`);
  }
  protected args() {
    return { factor: this.factor, ...this.selectionArgs() };
  }
  private value(): number {
    const f = finiteValue("Zoom factor", this.factor);
    if (!(f > 0)) throw new BendingError(`Zoom factor must be > 0, got ${f}`);
    return f;
  }
  protected isIdentity(): boolean {
    return this.value() === 1;
  }
  matrix(h: number, w: number): Matrix {
    const s = 1 / this.value();
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    return [s, 0, cx * (1 - s), 0, s, cy * (1 - s), 0, 0];
  }
}

// --- Flip ---------------------------------------------------------------------------------

export type FlipAxis = "x" | "y" | "xy";
const FLIP_AXES: readonly FlipAxis[] = ["x", "y", "xy"];

/** Mirrors the map: "x" left-right, "y" top-bottom, "xy" both (a half turn). */
export class Flip extends SpatialCallback {
  readonly type = "Flip";
  constructor(readonly axis: FlipAxis = "x", options: ChannelOptions = {}) {
    super("Flip", options);
    if (!FLIP_AXES.includes(axis)) throw new BendingError(`Flip axis must be one of ${FLIP_AXES.join(", ")}, got ${JSON.stringify(axis)}`);
  }
  protected args() {
    return { axis: this.axis, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return false;
  }
  protected transform(x: Tensor): Tensor {
    return tf.reverse(x, this.axis === "x" ? [3] : this.axis === "y" ? [2] : [2, 3]);
  }
}

// --- Erode, Dilate -------------------------------------------------------------------------

abstract class MorphologyCallback extends SpatialCallback {
  constructor(who: string, readonly radius: Controllable, options: ChannelOptions) {
    super(who, options);
    requireAtLeast(`${who} radius`, radius, 0);
  }
  protected args() {
    return { radius: this.radius, ...this.selectionArgs() };
  }
  /** The radius in pixels: the control rounded, within [0, MAX_RADIUS]. */
  pixels(): number {
    return Math.min(MAX_RADIUS, Math.max(0, Math.round(finiteValue(`${this.type} radius`, this.radius))));
  }
  protected isIdentity(): boolean {
    return this.pixels() === 0;
  }
  /** The maximum over a (2r+1)² square around each pixel (the edges take only what is inside). */
  protected maxAround(x: Tensor): Tensor {
    const size = 2 * this.pixels() + 1;
    return tf.reshape(tf.maxPool(asImages(x), size, 1, "same"), x.shape);
  }
}

/** Grayscale dilation: each pixel becomes the maximum of the (2r+1)² square around it; bright shapes grow. Dilate(0) is the identity. */
export class Dilate extends MorphologyCallback {
  readonly type = "Dilate";
  protected override readonly integerArguments: readonly string[] = ["radius"];
  constructor(radius: Controllable = 1, options: ChannelOptions = {}) {
    super("Dilate", radius, options);
  }
  protected transform(x: Tensor): Tensor {
    return this.maxAround(x);
  }
}

/** Grayscale erosion: each pixel becomes the minimum of the (2r+1)² square around it; bright shapes shrink. Erode(0) is the identity. */
export class Erode extends MorphologyCallback {
  readonly type = "Erode";
  protected override readonly integerArguments: readonly string[] = ["radius"];
  constructor(radius: Controllable = 1, options: ChannelOptions = {}) {
    super("Erode", radius, options);
  }
  protected transform(x: Tensor): Tensor {
    return tf.neg(this.maxAround(tf.neg(x)));
  }
}

// --- Blur, Sharpen ---------------------------------------------------------------------------

/** A normalised Gaussian of `radius` taps each side. */
function gaussian(sigma: number, radius: number): Float32Array {
  const taps = Float32Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/**
 * A Gaussian blur of the (N·C, H, W, 1) images, separable (a column then a row of taps),
 * edges reflected so that a flat map stays flat. Kernels are cached in `state`.
 */
function gaussianBlur(images: tf.Tensor4D, sigma: number, state: TargetState): tf.Tensor4D {
  const [, h, w] = images.shape;
  // three sigmas each side, at most what reflection allows
  const ry = Math.min(Math.ceil(3 * sigma), h - 1);
  const rx = Math.min(Math.ceil(3 * sigma), w - 1);
  const signature = `${sigma},${ry},${rx}`;
  const column = slot(state, "blurColumn", signature, () => tf.tensor4d(gaussian(sigma, ry), [2 * ry + 1, 1, 1, 1]));
  const row = slot(state, "blurRow", signature, () => tf.tensor4d(gaussian(sigma, rx), [1, 2 * rx + 1, 1, 1]));
  const padded = tf.mirrorPad(images, [[0, 0], [ry, ry], [rx, rx], [0, 0]], "reflect");
  return tf.conv2d(tf.conv2d(padded, column as tf.Tensor4D, 1, "valid"), row as tf.Tensor4D, 1, "valid");
}

/** Gaussian blur of standard deviation `sigma` pixels (edges reflected). Blur(0) is the identity. */
export class Blur extends SpatialCallback {
  readonly type = "Blur";
  constructor(readonly sigma: Controllable = 1, options: ChannelOptions = {}) {
    super("Blur", options);
    requireAtLeast("Blur sigma", sigma, 0);
  }
  protected args() {
    return { sigma: this.sigma, ...this.selectionArgs() };
  }
  /** sigma in pixels now (negative reads as 0). */
  value(): number {
    return Math.max(0, finiteValue("Blur sigma", this.sigma));
  }
  protected isIdentity(): boolean {
    return this.value() === 0;
  }
  protected transform(x: Tensor, state: TargetState): Tensor {
    return tf.reshape(gaussianBlur(asImages(x), this.value(), state), x.shape);
  }
}

export interface SharpenOptions extends ChannelOptions {
  /** Width of the blur the detail is measured against, in pixels (default 1). */
  sigma?: Controllable;
}

/** Unsharp masking: x + amount · (x − blur(x)). Sharpen(0) is the identity; a negative amount softens. */
export class Sharpen extends SpatialCallback {
  readonly type = "Sharpen";
  readonly sigma: Controllable;
  constructor(readonly amount: Controllable = 1, options: SharpenOptions = {}) {
    super("Sharpen", options);
    this.sigma = options.sigma ?? 1;
    requireFinite("Sharpen amount", amount);
    requireAtLeast("Sharpen sigma", this.sigma, 0);
  }
  protected args() {
    return { amount: this.amount, sigma: this.sigma, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Sharpen amount", this.amount) === 0 || finiteValue("Sharpen sigma", this.sigma) <= 0;
  }
  protected transform(x: Tensor, state: TargetState): Tensor {
    const amount = finiteValue("Sharpen amount", this.amount);
    const blurred = tf.reshape(gaussianBlur(asImages(x), finiteValue("Sharpen sigma", this.sigma), state), x.shape);
    return tf.add(x, tf.mul(tf.sub(x, blurred), slot(state, "amount", String(amount), () => tf.scalar(amount))));
  }
}

// --- Invert ----------------------------------------------------------------------------------

/**
 * Mirrors each channel's values about the middle of its own range (per batch item):
 * max + min − x, so the brightest pixel becomes the darkest. `amount` blends from the
 * input (0, the identity) to the full inversion (1, the default).
 */
export class Invert extends SpatialCallback {
  readonly type = "Invert";
  constructor(readonly amount: Controllable = 1, options: ChannelOptions = {}) {
    super("Invert", options);
    requireFinite("Invert amount", amount);
  }
  protected args() {
    return { amount: this.amount, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Invert amount", this.amount) === 0;
  }
  protected transform(x: Tensor, state: TargetState): Tensor {
    const amount = finiteValue("Invert amount", this.amount);
    const inverted = tf.sub(tf.add(tf.max(x, [2, 3], true), tf.min(x, [2, 3], true)), x);
    if (amount === 1) return inverted;
    return tf.add(x, tf.mul(tf.sub(inverted, x), slot(state, "amount", String(amount), () => tf.scalar(amount))));
  }
}

// --- Warp ------------------------------------------------------------------------------------

/**
 * A sine displacement: the pixel at (x, y) reads the input at
 * (x + amount·W·sin(2π·freq·y/H), y + amount·H·sin(2π·freq·x/W)), bilinearly, the edges
 * clamped. `freq` is in cycles across the map, `amount` a fraction of its size.
 * Warp(freq, 0) and Warp(0, amount) are the identity.
 */
export class Warp extends SpatialCallback {
  readonly type = "Warp";
  constructor(readonly freq: Controllable = 2, readonly amount: Controllable = 0.05, options: ChannelOptions = {}) {
    super("Warp", options);
    requireFinite("Warp freq", freq);
    requireFinite("Warp amount", amount);
  }
  protected args() {
    return { freq: this.freq, amount: this.amount, ...this.selectionArgs() };
  }
  protected isIdentity(): boolean {
    return finiteValue("Warp freq", this.freq) === 0 || finiteValue("Warp amount", this.amount) === 0;
  }

  /** For each output pixel, the four input pixels it reads ([4·H·W] flat indices) and their weights ([4, H·W]). */
  private grid(h: number, w: number): { index: Int32Array; weight: Float32Array } {
    const freq = finiteValue("Warp freq", this.freq);
    const amount = finiteValue("Warp amount", this.amount);
    const n = h * w;
    const index = new Int32Array(4 * n);
    const weight = new Float32Array(4 * n);
    const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sx = clamp(x + amount * w * Math.sin((2 * Math.PI * freq * y) / h), w - 1);
        const sy = clamp(y + amount * h * Math.sin((2 * Math.PI * freq * x) / w), h - 1);
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(x0 + 1, w - 1);
        const y1 = Math.min(y0 + 1, h - 1);
        const fx = sx - x0;
        const fy = sy - y0;
        const p = y * w + x;
        const corners: [number, number][] = [
          [y0 * w + x0, (1 - fx) * (1 - fy)],
          [y0 * w + x1, fx * (1 - fy)],
          [y1 * w + x0, (1 - fx) * fy],
          [y1 * w + x1, fx * fy],
        ];
        corners.forEach(([i, wt], k) => {
          index[k * n + p] = i;
          weight[k * n + p] = wt;
        });
      }
    }
    return { index, weight };
  }

  protected transform(x: Tensor, state: TargetState): Tensor {
    const [n, c, h, w] = x.shape as number[];
    const signature = `${finiteValue("Warp freq", this.freq)},${finiteValue("Warp amount", this.amount)},${h},${w}`;
    let made: { index: Int32Array; weight: Float32Array } | null = null;
    const grid = () => (made ??= this.grid(h, w));
    const index = slot(state, "warpIndex", signature, () => tf.tensor1d(grid().index, "int32"));
    const weight = slot(state, "warpWeight", signature, () => tf.tensor2d(grid().weight, [4, h * w]));
    const flat = tf.reshape(x, [n * c, h * w]);
    const corners = tf.reshape(tf.gather(flat, index, 1), [n * c, 4, h * w]);
    return tf.reshape(tf.sum(tf.mul(corners, weight), 1), x.shape);
  }
}

// --- registry --------------------------------------------------------------------------------

const NUMBER = { kind: "number" } as const;
const NON_NEGATIVE = { kind: "number", min: 0 } as const;

registerCallback("Translate", (args, seed, controls) =>
  new Translate(numberOr(args.dx, controls, 0), numberOr(args.dy, controls, 0), { wrap: args.wrap === true || args.wrap === "true", ...channelOptions(args, seed, controls) }),
  { dx: NUMBER, dy: NUMBER, wrap: { kind: "word", words: ["true", "false"] }, ...CHANNEL_ARGUMENTS });
registerCallback("Rotate", (args, seed, controls) => new Rotate(numberOr(args.degrees, controls, 0), channelOptions(args, seed, controls)),
  { degrees: NUMBER, ...CHANNEL_ARGUMENTS });
registerCallback("Zoom", (args, seed, controls) => new Zoom(numberOr(args.factor, controls, 1), channelOptions(args, seed, controls)),
  { factor: { kind: "number", min: 0.01, max: 100 }, ...CHANNEL_ARGUMENTS });
registerCallback("Flip", (args, seed, controls) => new Flip(wordOr(args.axis, FLIP_AXES, "x", "Flip axis"), channelOptions(args, seed, controls)),
  { axis: { kind: "word", words: FLIP_AXES }, ...CHANNEL_ARGUMENTS });
registerCallback("Erode", (args, seed, controls) => new Erode(numberOr(args.radius, controls, 1), channelOptions(args, seed, controls)),
  { radius: { kind: "number", min: 0, max: MAX_RADIUS }, ...CHANNEL_ARGUMENTS });
registerCallback("Dilate", (args, seed, controls) => new Dilate(numberOr(args.radius, controls, 1), channelOptions(args, seed, controls)),
  { radius: { kind: "number", min: 0, max: MAX_RADIUS }, ...CHANNEL_ARGUMENTS });
registerCallback("Blur", (args, seed, controls) => new Blur(numberOr(args.sigma, controls, 1), channelOptions(args, seed, controls)),
  { sigma: { kind: "number", min: 0, max: 64 }, ...CHANNEL_ARGUMENTS });
registerCallback("Sharpen", (args, seed, controls) =>
  new Sharpen(numberOr(args.amount, controls, 1), { sigma: numberOr(args.sigma, controls, 1), ...channelOptions(args, seed, controls) }),
  { amount: NUMBER, sigma: { kind: "number", min: 0, max: 64 }, ...CHANNEL_ARGUMENTS });
registerCallback("Invert", (args, seed, controls) => new Invert(numberOr(args.amount, controls, 1), channelOptions(args, seed, controls)),
  { amount: NUMBER, ...CHANNEL_ARGUMENTS });
registerCallback("Warp", (args, seed, controls) =>
  new Warp(numberOr(args.freq, controls, 2), numberOr(args.amount, controls, 0.05), channelOptions(args, seed, controls)),
  { freq: NON_NEGATIVE, amount: NUMBER, ...CHANNEL_ARGUMENTS });
