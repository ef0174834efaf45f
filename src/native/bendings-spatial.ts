// Lowerings of the spatial callbacks (src/bending/spatial.ts) for (N, C, H, W) activations.
// Every numeric argument that is a control stays a scalar input: sampling coordinates,
// morphology radii and blur kernels are computed in the graph from it, so moving a control
// never recompiles. The affine warps follow the wasm backend's Transform kernel step by
// step in float32 (coordinates, fill or wrap, bilinear weights), so both give the same numbers.
import { Blur, Dilate, Erode, Flip, Invert, MAX_RADIUS, Rotate, Sharpen, Translate, Warp, Zoom } from "../bending/spatial.js";
import { finiteValue } from "../bending/channels.js";
import type { Controllable } from "../bending/parameter.js";
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import type { LoweringContext, TensorValue } from "./lowering.js";
import { registerBendingLowering } from "./bendings.js";
import { FLOAT, INT64, bin, liveDouble, liveValue, onSelectedChannels, toDouble, value } from "./bendings-channels.js";
import { reshape, reverse } from "./ops.js";

/** The pixel grid of an h×w map, flattened row by row: x and y of each pixel as float32 [h·w]. */
function pixelGrid(b: OnnxGraphBuilder, h: number, w: number): { x: string; y: string } {
  const n = h * w;
  const x = Float32Array.from({ length: n }, (_, p) => p % w);
  const y = Float32Array.from({ length: n }, (_, p) => Math.floor(p / w));
  return { x: b.floatConstant("pixel_x", x, [n]), y: b.floatConstant("pixel_y", y, [n]) };
}

/**
 * Bilinear sampling of each (N, C) image of `x` at the float coordinates `sx`, `sy` ([H·W],
 * one per output pixel), corners outside the map reading 0: the wasm Transform kernel's
 * bilinear_interpolation, its products and sums in the same order.
 */
function sampleBilinear(b: OnnxGraphBuilder, x: TensorValue, sx: string, sy: string): TensorValue {
  const [n, c, h, w] = x.shape;
  const flat = reshape(b, x, [n * c, h * w]).name;
  const one = b.scalar(1);
  const zero = b.scalar(0);
  const xf = b.op1("Floor", [sx]);
  const yf = b.op1("Floor", [sy]);
  const xc = bin(b, "Add", xf, one);
  const yc = bin(b, "Add", yf, one);
  const index = (coord: string, size: number): { at: string; inside: string } => {
    const i = b.op1("Cast", [coord], { to: INT64 });
    const inside = bin(b, "And", b.op1("GreaterOrEqual", [i, b.int64s([0], [])]), b.op1("Less", [i, b.int64s([size], [])]));
    return { at: b.op1("Clip", [i, b.int64s([0], []), b.int64s([size - 1], [])]), inside };
  };
  const [x0, x1, y0, y1] = [index(xf, w), index(xc, w), index(yf, h), index(yc, h)];
  const read = (row: { at: string; inside: string }, col: { at: string; inside: string }): string => {
    const at = bin(b, "Add", bin(b, "Mul", row.at, b.int64s([w], [])), col.at);
    return b.op1("Where", [bin(b, "And", row.inside, col.inside), b.op1("Gather", [flat, at], { axis: 1 }), zero]);
  };
  const wx0 = bin(b, "Sub", xc, sx);
  const wx1 = bin(b, "Sub", sx, xf);
  const top = bin(b, "Add", bin(b, "Mul", wx0, read(y0, x0)), bin(b, "Mul", wx1, read(y0, x1)));
  const bottom = bin(b, "Add", bin(b, "Mul", wx0, read(y1, x0)), bin(b, "Mul", wx1, read(y1, x1)));
  const out = bin(b, "Add", bin(b, "Mul", bin(b, "Sub", yc, sy), top), bin(b, "Mul", bin(b, "Sub", sy, yf), bottom));
  return reshape(b, value(out, [n * c, h * w]), x.shape);
}

/** The wasm kernel's map_coord_wrap: a coordinate folded into [0, len − 1] as its float code does it. */
function wrapCoordinate(b: OnnxGraphBuilder, v: string, len: number): string {
  if (len <= 1) return b.op1("Mul", [v, b.scalar(0)]);
  const size = b.scalar(len);
  const last = b.scalar(len - 1);
  // below 0: v + len·(trunc(−v / (len − 1)) + 1); above len − 1: v − len·trunc(v / (len − 1)) (trunc of a positive is floor)
  const below = bin(b, "Add", v, bin(b, "Mul", size, bin(b, "Add", b.op1("Floor", [bin(b, "Div", b.op1("Neg", [v]), last)]), b.scalar(1))));
  const above = bin(b, "Sub", v, bin(b, "Mul", size, b.op1("Floor", [bin(b, "Div", v, last)])));
  const folded = b.op1("Where", [bin(b, "Less", v, b.scalar(0)), below, b.op1("Where", [bin(b, "Greater", v, last), above, v])]);
  return bin(b, "Max", b.scalar(0), bin(b, "Min", folded, last));
}

type AffineCallback = Translate | Rotate | Zoom;

/** tf.image.transform with the callback's matrix: its six entries are scalars computed from the controls. */
function lowerAffine(ctx: LoweringContext, x: TensorValue, callback: AffineCallback, sources: readonly Controllable[], wrap: boolean): TensorValue {
  const b = ctx.builder;
  const [, , h, w] = x.shape;
  const grid = pixelGrid(b, h, w);
  const entry = (i: number) => liveValue(ctx, `${callback.type.toLowerCase()}_m${i}`, sources, () => callback.matrix(h, w)[i]);
  const [a0, a1, a2, b0, b1, b2] = [0, 1, 2, 3, 4, 5].map(entry);
  let sx = bin(b, "Add", bin(b, "Add", bin(b, "Mul", a0, grid.x), bin(b, "Mul", a1, grid.y)), a2);
  let sy = bin(b, "Add", bin(b, "Add", bin(b, "Mul", b0, grid.x), bin(b, "Mul", b1, grid.y)), b2);
  if (wrap) {
    sx = wrapCoordinate(b, sx, w);
    sy = wrapCoordinate(b, sy, h);
  }
  return sampleBilinear(b, x, sx, sy);
}

registerBendingLowering(Translate, (a) => onSelectedChannels(a, (x) => lowerAffine(a.ctx, x, a.callback, [a.callback.dx, a.callback.dy], a.callback.wrap)));
registerBendingLowering(Rotate, (a) => onSelectedChannels(a, (x) => lowerAffine(a.ctx, x, a.callback, [a.callback.degrees], false)));
registerBendingLowering(Zoom, (a) => onSelectedChannels(a, (x) => lowerAffine(a.ctx, x, a.callback, [a.callback.factor], false)));

registerBendingLowering(Flip, (a) => onSelectedChannels(a, (x) => {
  const axes = a.callback.axis === "x" ? [3] : a.callback.axis === "y" ? [2] : [2, 3];
  return axes.reduce((y, d) => reverse(a.ctx.builder, y, d), x);
}));

/**
 * The maximum over the (2r+1)² square around each pixel, r a live input: a square of radius r
 * is squares of the radii of r's binary digits one after the other (edges taking only what is
 * inside, as the wasm max pool does), each a column then a row max pool, used or passed over
 * by its bit of r, so every radius runs without a recompile. A radius past the map's larger
 * side less one takes the whole map, so r is capped there and only the bits below it are built.
 */
function maxAround(ctx: LoweringContext, x: TensorValue, radius: string): TensorValue {
  const b = ctx.builder;
  const [n, c, h, w] = x.shape;
  const reach = Math.max(h, w) - 1;
  const capped = bin(b, "Min", radius, b.scalar(reach));
  let y = reshape(b, x, [n * c, 1, h, w]).name;
  for (let bit = 1; bit <= Math.min(reach, MAX_RADIUS); bit *= 2) {
    const column = b.op1("MaxPool", [y], { kernel_shape: [2 * bit + 1, 1], pads: [bit, 0, bit, 0], strides: [1, 1] });
    const square = b.op1("MaxPool", [column], { kernel_shape: [1, 2 * bit + 1], pads: [0, bit, 0, bit], strides: [1, 1] });
    const set = bin(b, "Greater", b.op1("Mod", [b.op1("Floor", [bin(b, "Div", capped, b.scalar(bit))]), b.scalar(2)], { fmod: 1 }), b.scalar(0.5));
    y = b.op1("Where", [set, square, y]);
  }
  return reshape(b, value(y, [n * c, 1, h, w]), x.shape);
}

registerBendingLowering(Dilate, (a) => onSelectedChannels(a, (x) =>
  maxAround(a.ctx, x, liveValue(a.ctx, "dilate_radius", [a.callback.radius], () => a.callback.pixels()))));
registerBendingLowering(Erode, (a) => onSelectedChannels(a, (x) => {
  const b = a.ctx.builder;
  const radius = liveValue(a.ctx, "erode_radius", [a.callback.radius], () => a.callback.pixels());
  const negated = value(b.op1("Neg", [x.name]), x.shape);
  return value(b.op1("Neg", [maxAround(a.ctx, negated, radius).name]), x.shape);
}));

/**
 * Normalised Gaussian taps over offsets −reach..reach, zero beyond ⌈3σ⌉, as a [2·reach + 1]
 * vector: the wasm kernel's taps, with zeros around them when reach is the larger.
 */
function gaussianTaps(b: OnnxGraphBuilder, sigma: string, reach: number): string {
  const offsets = b.floatConstant("blur_offsets", Float32Array.from({ length: 2 * reach + 1 }, (_, i) => i - reach), [2 * reach + 1]);
  const radius = bin(b, "Min", b.op1("Ceil", [bin(b, "Mul", sigma, b.scalar(3))]), b.scalar(reach));
  const square = bin(b, "Mul", offsets, offsets);
  const taps = b.op1("Exp", [b.op1("Neg", [bin(b, "Div", square, bin(b, "Mul", b.scalar(2), bin(b, "Mul", sigma, sigma)))])]);
  const within = b.op1("Not", [bin(b, "Greater", b.op1("Abs", [offsets]), radius)]);
  const kept = b.op1("Where", [within, taps, b.scalar(0)]);
  return bin(b, "Div", kept, b.op1("ReduceSum", [kept], { keepdims: 1 }));
}

/**
 * The wasm blur (a column then a row of Gaussian taps, edges reflected). The map is padded by
 * reflection as far as the taps reach and convolved with kernels whose taps beyond the
 * current radius ⌈3σ⌉ are 0: for a live σ they reach as far as reflection allows (size − 1),
 * so σ moves without a new kernel size; for a constant σ, as far as the wasm kernel's.
 * σ = 0 is the input itself.
 */
function gaussianBlur(ctx: LoweringContext, x: TensorValue, sigma: Controllable, read: () => number): TensorValue {
  const b = ctx.builder;
  const [n, c, h, w] = x.shape;
  const sigmaValue = liveValue(ctx, "blur_sigma", [sigma], read);
  const reach = (size: number) => (typeof sigma === "number" ? Math.min(Math.ceil(3 * Math.max(0, read())), size - 1) : size - 1);
  const [ry, rx] = [reach(h), reach(w)];
  const images = reshape(b, x, [n * c, 1, h, w]).name;
  const padded = b.op1("Pad", [images, b.int64s([0, 0, ry, rx, 0, 0, ry, rx])], { mode: "reflect" });
  const column = b.op1("Reshape", [gaussianTaps(b, sigmaValue, ry), b.int64s([1, 1, 2 * ry + 1, 1])]);
  const row = b.op1("Reshape", [gaussianTaps(b, sigmaValue, rx), b.int64s([1, 1, 1, 2 * rx + 1])]);
  const blurred = b.op1("Conv", [b.op1("Conv", [padded, column]), row]);
  const out = b.op1("Where", [bin(b, "Greater", sigmaValue, b.scalar(0)), blurred, images]);
  return reshape(b, value(out, [n * c, 1, h, w]), x.shape);
}

registerBendingLowering(Blur, (a) => onSelectedChannels(a, (x) => gaussianBlur(a.ctx, x, a.callback.sigma, () => a.callback.value())));

registerBendingLowering(Sharpen, (a) => onSelectedChannels(a, (x) => {
  const { ctx, callback } = a;
  const b = ctx.builder;
  const amount = liveValue(ctx, "sharpen_amount", [callback.amount], () => finiteValue("Sharpen amount", callback.amount));
  // σ ≤ 0: the blur is the input itself, so x − blur(x) is 0 and the input passes (the wasm identity)
  const blurred = gaussianBlur(ctx, x, callback.sigma, () => finiteValue("Sharpen sigma", callback.sigma));
  return value(bin(b, "Add", x.name, bin(b, "Mul", bin(b, "Sub", x.name, blurred.name), amount)), x.shape);
}));

registerBendingLowering(Invert, (a) => onSelectedChannels(a, (x) => {
  const b = a.ctx.builder;
  const amount = liveValue(a.ctx, "invert_amount", [a.callback.amount], () => finiteValue("Invert amount", a.callback.amount));
  const range = bin(b, "Add", b.op1("ReduceMax", [x.name], { axes: [2, 3], keepdims: 1 }), b.op1("ReduceMin", [x.name], { axes: [2, 3], keepdims: 1 }));
  const inverted = bin(b, "Sub", range, x.name);
  const blended = bin(b, "Add", x.name, bin(b, "Mul", bin(b, "Sub", inverted, x.name), amount));
  return value(b.op1("Where", [bin(b, "Equal", amount, b.scalar(1)), inverted, blended]), x.shape);
}));

/**
 * The sine displacement as the wasm pass computes its grid: coordinates in float64, clamped
 * to the map, the four corners' weights rounded to float32, corner × weight summed in order.
 */
registerBendingLowering(Warp, (a) => onSelectedChannels(a, (x) => {
  const { ctx, callback } = a;
  const b = ctx.builder;
  const [n, c, h, w] = x.shape;
  const grid = pixelGrid(b, h, w);
  const sources = [callback.freq, callback.amount];
  const freq = () => finiteValue("Warp freq", callback.freq);
  const amount = () => finiteValue("Warp amount", callback.amount);
  const one = toDouble(b, b.scalar(1));
  // sx = x + amount·W·sin(2π·freq·y/H), sy = y + amount·H·sin(2π·freq·x/W), clamped to the map
  const along = (pixel: string, other: string, size: number, otherSize: number, key: string) => {
    const reach = liveDouble(ctx, `warp_reach_${key}`, sources, () => amount() * size);
    const rate = liveDouble(ctx, `warp_rate_${key}`, sources, () => (2 * Math.PI * freq()) / otherSize);
    const moved = bin(b, "Add", toDouble(b, pixel), bin(b, "Mul", reach, b.op1("Sin", [bin(b, "Mul", toDouble(b, other), rate)])));
    const at = bin(b, "Min", bin(b, "Max", moved, toDouble(b, b.scalar(0))), toDouble(b, b.scalar(size - 1)));
    const low = b.op1("Floor", [at]);
    const fraction = bin(b, "Sub", at, low);
    const first = b.op1("Cast", [low], { to: INT64 });
    const second = bin(b, "Min", bin(b, "Add", first, b.int64s([1], [])), b.int64s([size - 1], []));
    return { first, second, fraction, rest: bin(b, "Sub", one, fraction) };
  };
  const sx = along(grid.x, grid.y, w, h, "x");
  const sy = along(grid.y, grid.x, h, w, "y");
  const flat = reshape(b, x, [n * c, h * w]).name;
  const corner = (row: string, col: string, wy: string, wx: string): string => {
    const at = bin(b, "Add", bin(b, "Mul", row, b.int64s([w], [])), col);
    const weight = b.op1("Cast", [bin(b, "Mul", wx, wy)], { to: FLOAT });
    return bin(b, "Mul", b.op1("Gather", [flat, at], { axis: 1 }), weight);
  };
  const corners = [
    corner(sy.first, sx.first, sy.rest, sx.rest),
    corner(sy.first, sx.second, sy.rest, sx.fraction),
    corner(sy.second, sx.first, sy.fraction, sx.rest),
    corner(sy.second, sx.second, sy.fraction, sx.fraction),
  ];
  return reshape(b, value(corners.reduce((sum, term) => bin(b, "Add", sum, term)), [n * c, h * w]), x.shape);
}));
