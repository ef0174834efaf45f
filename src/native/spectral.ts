// Lowerings of the spectral ops (fft_rfft, fft_irfft, view_as_complex, complex_op, roll,
// hann_window, ...). As on wasm (src/nn/ops/spectral.ts), a complex value is a pair of float32
// tensors and an FFT is a product with cos / −sin DFT matrices, here constant initializers
// built with the same float64 formula, so both engines multiply by the same float32 numbers.
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import {
  axis, isComplexValue, NotCompilable, registerFunctionLowering, tensorArg,
  type ComplexValue, type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";
import { broadcast, concat, narrow, reshape } from "./ops.js";
import { dftTables } from "../nn/ops/spectral.js";

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

export function complex(re: TensorValue, im: TensorValue): ComplexValue {
  return { kind: "complex", re, im };
}

/** Longest transform lowered (the wasm op's limit too). */
export const MAX_FFT = 8192;

/** The DFT matrices of one model, by length: [n, bins] cos and −sin, and their transposes. */
const dftConstants = new WeakMap<OnnxGraphBuilder, Map<string, string>>();

/** cos (or −sin) of 2πkt/n as [n, bins] (or [bins, n] when `transposed`): the wasm op's own tables (dftTables). */
export function dftMatrix(b: OnnxGraphBuilder, n: number, part: "cos" | "sin", transposed: boolean): TensorValue {
  const bins = Math.floor(n / 2) + 1;
  const shape = transposed ? [bins, n] : [n, bins];
  let known = dftConstants.get(b);
  if (known === undefined) dftConstants.set(b, (known = new Map()));
  const key = `${part}:${n}:${transposed}`;
  let name = known.get(key);
  if (name === undefined) {
    const table = dftTables(n)[part];
    let data = table;
    if (transposed) {
      data = new Float32Array(n * bins);
      for (let t = 0; t < n; t++) for (let k = 0; k < bins; k++) data[k * n + t] = table[t * bins + k];
    }
    name = b.floatConstant(`dft_${part}${n}`, data, shape);
    known.set(key, name);
  }
  return value(name, shape);
}

function fftScale(ctx: LoweringContext, norm: LoweredArg, n: number, forward: boolean): number {
  const mode = norm ?? "backward";
  if (mode === "ortho") return 1 / Math.sqrt(n);
  if (mode === "forward") return forward ? 1 / n : 1;
  if (mode === "backward") return forward ? 1 : 1 / n;
  throw new NotCompilable(ctx.node.name, `unknown fft norm '${String(mode)}'`);
}

/** A permutation swapping axis `a` with the last one (its own inverse), or null when `a` is last. */
function swapLast(rank: number, a: number): number[] | null {
  if (a === rank - 1) return null;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[a], perm[rank - 1]] = [perm[rank - 1], perm[a]];
  return perm;
}

function permuted(b: OnnxGraphBuilder, x: TensorValue, perm: number[] | null): TensorValue {
  if (perm === null) return x;
  return value(b.op1("Transpose", [x.name], { perm }), perm.map((p) => x.shape[p]));
}

/** x cut or zero-padded to `size` along its last axis. */
function fitLast(b: OnnxGraphBuilder, x: TensorValue, size: number): TensorValue {
  const rank = x.shape.length;
  const len = x.shape[rank - 1];
  if (size < len) return narrow(b, x, rank - 1, 0, size);
  if (size === len) return x;
  const pads = [...x.shape.map(() => 0), ...x.shape.map((_, i) => (i === rank - 1 ? size - len : 0))];
  return value(b.op1("Pad", [x.name, b.int64s(pads)]), x.shape.map((d, i) => (i === rank - 1 ? size : d)));
}

function matmul(b: OnnxGraphBuilder, x: TensorValue, m: TensorValue): TensorValue {
  return value(b.op1("MatMul", [x.name, m.name]), [...x.shape.slice(0, -1), m.shape[1]]);
}

function scaled(b: OnnxGraphBuilder, x: TensorValue, scale: number): TensorValue {
  return scale === 1 ? x : value(b.op1("Mul", [x.name, b.scalar(scale)]), x.shape);
}

function arith(b: OnnxGraphBuilder, type: "Add" | "Sub" | "Mul", x: TensorValue, y: TensorValue): TensorValue {
  return value(b.op1(type, [x.name, y.name]), broadcast(x.shape, y.shape));
}

function optionalInt(a: LoweredArg): number | null {
  return typeof a === "number" ? a : null;
}

registerFunctionLowering("fft_rfft", (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const perm = swapLast(x.shape.length, axis(optionalInt(args[2]) ?? -1, x.shape.length));
  const y = permuted(b, x, perm);
  const size = optionalInt(args[1]) ?? y.shape[y.shape.length - 1];
  if (size > MAX_FFT) throw new NotCompilable(ctx.node.name, `FFTs longer than ${MAX_FFT} are not supported (got ${size})`);
  const input = fitLast(b, y, size);
  const scale = fftScale(ctx, args[3], size, true);
  const re = scaled(b, matmul(b, input, dftMatrix(b, size, "cos", false)), scale);
  const im = scaled(b, matmul(b, input, dftMatrix(b, size, "sin", false)), scale);
  return complex(permuted(b, re, perm), permuted(b, im, perm));
});

registerFunctionLowering("fft_irfft", (ctx, args) => {
  const b = ctx.builder;
  const z = args[0];
  const re0 = isComplexValue(z) ? z.re : tensorArg(ctx, args, 0);
  const im0 = isComplexValue(z) ? z.im : null;
  const perm = swapLast(re0.shape.length, axis(optionalInt(args[2]) ?? -1, re0.shape.length));
  const re1 = permuted(b, re0, perm);
  const bins = re1.shape[re1.shape.length - 1];
  const size = optionalInt(args[1]) ?? 2 * (bins - 1);
  if (size > MAX_FFT) throw new NotCompilable(ctx.node.name, `FFTs longer than ${MAX_FFT} are not supported (got ${size})`);
  const im1 = im0 === null ? null : permuted(b, im0, perm);
  return permuted(b, irfftLast(b, re1, im1, size, fftScale(ctx, args[3], size, false)), perm);
});

/** The inverse real DFT of `size` samples along the last axis of (re, im), times `scale`. */
export function irfftLast(b: OnnxGraphBuilder, re: TensorValue, im: TensorValue | null, size: number, scale: number): TensorValue {
  const need = Math.floor(size / 2) + 1;
  // x_t = Σ_k w_k (re_k cos − im_k sin) with w = 1 at DC and Nyquist, 2 elsewhere
  const weights = new Float32Array(need).map((_, k) => (k === 0 || (size % 2 === 0 && k === size / 2) ? 1 : 2));
  const w = value(b.floatConstant("irfft_weights", weights, [need]), [need]);
  let out = matmul(b, arith(b, "Mul", fitLast(b, re, need), w), dftMatrix(b, size, "cos", true));
  if (im !== null) out = arith(b, "Add", out, matmul(b, arith(b, "Mul", fitLast(b, im, need), w), dftMatrix(b, size, "sin", true)));
  return scaled(b, out, scale);
}

registerFunctionLowering("view_as_complex", (ctx, args) => {
  const x = tensorArg(ctx, args, 0);
  const rank = x.shape.length;
  if (x.shape[rank - 1] !== 2) throw new NotCompilable(ctx.node.name, `view_as_complex needs a last dim of size 2, got [${x.shape.join(", ")}]`);
  const part = (i: number): TensorValue => value(ctx.builder.op1("Gather", [x.name, ctx.builder.int64s([i], [])], { axis: rank - 1 }), x.shape.slice(0, -1));
  return complex(part(0), part(1));
});

function complexArg(ctx: LoweringContext, args: LoweredArg[], i: number): ComplexValue {
  const z = args[i];
  if (!isComplexValue(z)) throw new NotCompilable(ctx.node.name, `argument ${i} of ${ctx.node.target} is not a complex value`);
  return z;
}

registerFunctionLowering("view_as_real", (ctx, args) => {
  const z = complexArg(ctx, args, 0);
  const lift = (t: TensorValue): TensorValue => reshape(ctx.builder, t, [...t.shape, 1]);
  return concat(ctx.builder, [lift(z.re), lift(z.im)], z.re.shape.length);
});
registerFunctionLowering("real", (ctx, args) => (isComplexValue(args[0]) ? args[0].re : tensorArg(ctx, args, 0)));
registerFunctionLowering("imag", (ctx, args) => complexArg(ctx, args, 0).im);

/** Complex add / sub / mul; either side may be real (its imaginary part is left out, not zeros). */
registerFunctionLowering("complex_op", (ctx, args) => {
  const b = ctx.builder;
  const op = args[0];
  if (op !== "add" && op !== "sub" && op !== "mul") throw new NotCompilable(ctx.node.name, `complex_op '${String(op)}' has no native lowering`);
  const parts = (v: LoweredArg): [TensorValue, TensorValue | null] => (isComplexValue(v) ? [v.re, v.im] : [ctx.operand(v), null]);
  const [ar, ai] = parts(args[1]);
  const [br, bi] = parts(args[2]);
  if (op === "mul") {
    const re = ai !== null && bi !== null ? arith(b, "Sub", arith(b, "Mul", ar, br), arith(b, "Mul", ai, bi)) : arith(b, "Mul", ar, br);
    const cross = [bi === null ? null : arith(b, "Mul", ar, bi), ai === null ? null : arith(b, "Mul", ai, br)].filter((t): t is TensorValue => t !== null);
    if (cross.length === 0) throw new NotCompilable(ctx.node.name, "complex_op on two real operands");
    return complex(re, cross.length === 2 ? arith(b, "Add", cross[0], cross[1]) : cross[0]);
  }
  const type = op === "add" ? "Add" : "Sub";
  const re = arith(b, type, ar, br);
  const zero = value(b.scalar(0), []);
  if (ai === null && bi === null) throw new NotCompilable(ctx.node.name, "complex_op on two real operands");
  // as on wasm: the missing imaginary part is a scalar zero, the result's shape is the other's
  return complex(re, arith(b, type, ai ?? zero, bi ?? zero));
});

/** torch.roll: elements shifted along each dim, wrapping around (flattened when no dims). */
registerFunctionLowering("roll", (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const list = (a: LoweredArg): number[] => (typeof a === "number" ? [a] : Array.isArray(a) && a.every((v) => typeof v === "number") ? (a as number[]) : []);
  const shifts = list(args[1]);
  const dims = list(args[2]);
  if (shifts.length === 0 || (dims.length > 0 && dims.length !== shifts.length)) throw new NotCompilable(ctx.node.name, "roll with shifts and dims that do not pair up");
  const flat = dims.length === 0;
  let y = flat ? reshape(b, x, [x.shape.reduce((s, d) => s * d, 1)]) : x;
  (flat ? [0] : dims).forEach((dim, i) => {
    const a = axis(dim, y.shape.length);
    const n = y.shape[a];
    const k = ((shifts[i] % n) + n) % n;
    if (k === 0) return;
    y = concat(b, [narrow(b, y, a, n - k, k), narrow(b, y, a, 0, n - k)], a);
  });
  return flat ? reshape(b, y, x.shape) : y;
});

registerFunctionLowering("hann_window", (ctx, args) => {
  const length = args[0];
  if (typeof length !== "number") throw new NotCompilable(ctx.node.name, "hann_window of a length that is not a number");
  const n = args[1] === false ? length - 1 : length;
  const data = Float32Array.from({ length }, (_, i) => (n === 0 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n)));
  return value(ctx.builder.floatConstant("hann_window", data, [length]), [length]);
});
