// Lowerings of torch.stft and torch.istft as the wasm ops compute them (src/nn/ops/spectral.ts,
// src/torchscript/ops-torch2.ts): stft is one strided Conv with window·cos and window·(−sin)
// kernels (the same DFT tables, multiplied by the window in float32), istft an inverse real
// DFT per frame, windowed, overlap-added by a ConvTranspose with an identity kernel and divided
// by the overlap-added squared window. torchaudio's `center`/`pad_mode` padding is the traced
// `pad` node before the stft node, lowered by ops.ts. Complex values are (re, im) pairs.
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import {
  isComplexValue, isTensorValue, NotCompilable, registerFunctionLowering, tensorArg,
  type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";
import { concat, narrow, nodeShape, reshape } from "./ops.js";
import { complex, dftMatrix, irfftLast, MAX_FFT } from "./spectral.js";

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

function numberOr(ctx: LoweringContext, a: LoweredArg, fallback: number | null, what: string): number {
  if (typeof a === "number") return a;
  if ((a === null || a === undefined) && fallback !== null) return fallback;
  throw new NotCompilable(ctx.node.name, `${ctx.node.target}: ${what} is not a number`);
}

/** The analysis window centred and zero-padded to nFft (ones when there is none). */
function paddedWindow(ctx: LoweringContext, window: LoweredArg, length: number, nFft: number): TensorValue {
  const b = ctx.builder;
  const w = isTensorValue(window) ? window : value(b.floatConstant("window", new Float32Array(length).fill(1), [length]), [length]);
  if (w.shape.length !== 1 || w.shape[0] !== length) throw new NotCompilable(ctx.node.name, `the window has shape [${w.shape.join(", ")}], win_length is ${length}`);
  if (length === nFft) return w;
  const left = Math.floor((nFft - length) / 2);
  return value(b.op1("Pad", [w.name, b.int64s([left, nFft - length - left]), b.scalar(0)]), [nFft]);
}

function checkLength(ctx: LoweringContext, nFft: number): void {
  if (nFft > MAX_FFT) throw new NotCompilable(ctx.node.name, `FFTs longer than ${MAX_FFT} are not supported (got ${nFft})`);
}

/** stft(x [T] or [B, T] already padded, n_fft, hop, win_length, window, normalized, onesided, return_complex). */
registerFunctionLowering("stft", (ctx, args) => {
  const b = ctx.builder;
  const x = tensorArg(ctx, args, 0);
  const nFft = numberOr(ctx, args[1], null, "n_fft");
  checkLength(ctx, nFft);
  const hop = numberOr(ctx, args[2], Math.floor(nFft / 4), "hop_length");
  const length = numberOr(ctx, args[3], nFft, "win_length");
  if (args[6] === false) throw new NotCompilable(ctx.node.name, "stft with onesided=False has no native lowering");
  if (x.shape.length !== 1 && x.shape.length !== 2) throw new NotCompilable(ctx.node.name, `stft of a ${x.shape.length}-d signal`);
  const bins = Math.floor(nFft / 2) + 1;
  const window = paddedWindow(ctx, args[4], length, nFft);
  // kernels [2·bins, 1, nFft]: window·cos rows then window·(−sin) rows
  const basis = concat(b, [dftMatrix(b, nFft, "cos", true), dftMatrix(b, nFft, "sin", true)], 0);
  const kernel = reshape(b, value(b.op1("Mul", [basis.name, reshape(b, window, [1, nFft]).name]), basis.shape), [2 * bins, 1, nFft]);
  const samples = x.shape[x.shape.length - 1];
  const rows = x.shape.length === 2 ? x.shape[0] : 1;
  const frames = Math.floor((samples - nFft) / hop) + 1;
  let y = value(b.op1("Conv", [reshape(b, x, [rows, 1, samples]).name, kernel.name], { kernel_shape: [nFft], strides: [hop] }), [rows, 2 * bins, frames]);
  if (args[5] === true) y = value(b.op1("Mul", [y.name, b.scalar(1 / Math.sqrt(nFft))]), y.shape);
  const lead = x.shape.length === 2 ? [rows] : [];
  const re = reshape(b, narrow(b, y, 1, 0, bins), [...lead, bins, frames]);
  const im = reshape(b, narrow(b, y, 1, bins, bins), [...lead, bins, frames]);
  if (args[7] === false) {
    const lift = (t: TensorValue): TensorValue => reshape(b, t, [...t.shape, 1]);
    return concat(b, [lift(re), lift(im)], re.shape.length);
  }
  return complex(re, im);
});

/** The identity kernel [n, 1, n] that overlap-adds frames with a ConvTranspose. */
function identityKernel(b: OnnxGraphBuilder, n: number): string {
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  return b.floatConstant("overlap_add", eye, [n, 1, n]);
}

/** istft(spec, n_fft, hop, win_length, window, center, normalized, onesided, length, return_complex). */
registerFunctionLowering("istft", (ctx, args) => {
  const b = ctx.builder;
  const spec = args[0];
  if (!isComplexValue(spec)) throw new NotCompilable(ctx.node.name, "istft of a spectrogram that is not complex");
  if (args[7] === false || args[9] === true) throw new NotCompilable(ctx.node.name, "istft with onesided=False or return_complex=True has no native lowering");
  const nFft = numberOr(ctx, args[1], null, "n_fft");
  checkLength(ctx, nFft);
  const hop = numberOr(ctx, args[2], Math.floor(nFft / 4), "hop_length");
  const length = numberOr(ctx, args[3], nFft, "win_length");
  const window = paddedWindow(ctx, args[4], length, nFft);
  const lift = (t: TensorValue): TensorValue => (t.shape.length === 2 ? reshape(b, t, [1, ...t.shape]) : t);
  const [rows, bins, count] = lift(spec.re).shape;
  // frames [B, n_fft, count]: the inverse DFT along the bins (moved last and back)
  const last = (t: TensorValue): TensorValue => value(b.op1("Transpose", [lift(t).name], { perm: [0, 2, 1] }), [rows, count, bins]);
  const time = irfftLast(b, last(spec.re), last(spec.im), nFft, 1 / nFft);
  let frames = value(b.op1("Transpose", [time.name], { perm: [0, 2, 1] }), [rows, nFft, count]);
  if (args[6] === true) frames = value(b.op1("Mul", [frames.name, b.scalar(Math.sqrt(nFft))]), frames.shape);
  const column = reshape(b, window, [1, nFft, 1]);
  frames = value(b.op1("Mul", [frames.name, column.name]), frames.shape);
  const eye = identityKernel(b, nFft);
  const total = (count - 1) * hop + nFft;
  const overlapAdd = (t: string, n: number): TensorValue =>
    reshape(b, value(b.op1("ConvTranspose", [t, eye], { kernel_shape: [nFft], strides: [hop] }), [n, 1, total]), [n, total]);
  const y = overlapAdd(frames.name, rows);
  // the squared window overlap-added over the frames; zero where no frame reaches (divided by 1 there, as on wasm)
  const squared = b.op1("Mul", [column.name, column.name]);
  const envelope = overlapAdd(b.op1("Expand", [squared, b.int64s([1, nFft, count])]), 1);
  const tiny = b.op1("Less", [envelope.name, b.scalar(1e-11)]);
  const divisor = b.op1("Where", [tiny, b.scalar(1), envelope.name]);
  let out = value(b.op1("Div", [y.name, divisor]), y.shape);
  const center = args[5] === true;
  const start = center ? Math.floor(nFft / 2) : 0;
  const end = typeof args[8] === "number" ? start + args[8] : center ? total - Math.floor(nFft / 2) : total;
  out = narrow(b, out, 1, start, Math.min(end, total) - start);
  if (end > total) out = value(b.op1("Pad", [out.name, b.int64s([0, 0, 0, end - total]), b.scalar(0)]), [rows, end - start]);
  // the shape the wasm op gave (it keeps or drops the batch axis of one row as traced)
  return reshape(b, out, nodeShape(ctx.node));
});
