// Complex values and spectra: the Complex pair, FFTs as DFT matrix products, STFT, windows.
import { tf, type Tensor } from "../../tf.js";
import { BendingError } from "../../errors.js";
import { wrapDim } from "../../util/python.js";
import { conv1d } from "./conv.js";
import { defineOp, dims } from "./registry.js";

function fftScale(norm: string | null, n: number, forward: boolean): number {
  const mode = norm ?? "backward";
  if (mode === "ortho") return 1 / Math.sqrt(n);
  if (mode === "forward") return forward ? 1 / n : 1;
  if (mode === "backward") return forward ? 1 : 1 / n;
  throw new BendingError(`unknown fft norm '${mode}'`);
}

/**
 * A complex tensor as its real and imaginary parts. tfjs's wasm backend has no complex
 * kernels, so complex values (FFTs, view_as_complex) are pairs of float32 tensors.
 */
export class Complex {
  constructor(readonly re: Tensor, readonly im: Tensor) {}
  get shape(): number[] {
    return this.re.shape;
  }
}

/** Longest transform computed (as a DFT matrix product: no complex kernels on wasm). */
const MAX_FFT = 8192;

/** cos and −sin DFT matrices [n, bins], made once per length and kept, least recently used first. */
const dftMatrices = new Map<number, { cos: Tensor; sin: Tensor }>();
/** Bytes the kept DFT matrices may hold (one length of 8192 takes 268 MB). */
const DFT_CACHE_BYTES = 512 << 20;
let dftCacheBytes = 0;
/**
 * The real DFT's matrices for length n, [n, bins] row-major: cos(2πkt/n) and −sin(2πkt/n),
 * computed in float64 (the phase reduced mod n first). The native engine builds its constants
 * from these too, so both engines multiply by the same float32 numbers.
 */
export function dftTables(n: number): { cos: Float32Array; sin: Float32Array; bins: number } {
  const bins = Math.floor(n / 2) + 1;
  const cos = new Float32Array(n * bins);
  const sin = new Float32Array(n * bins);
  for (let t = 0; t < n; t++) {
    for (let k = 0; k < bins; k++) {
      const phase = (2 * Math.PI * ((k * t) % n)) / n;
      cos[t * bins + k] = Math.cos(phase);
      sin[t * bins + k] = -Math.sin(phase);
    }
  }
  return { cos, sin, bins };
}

function dft(n: number): { cos: Tensor; sin: Tensor } {
  if (n > MAX_FFT) throw new BendingError(`FFTs longer than ${MAX_FFT} are not supported (got ${n})`);
  let m = dftMatrices.get(n);
  if (m !== undefined) {
    dftMatrices.delete(n);
    dftMatrices.set(n, m);
  } else {
    const { cos: c, sin: s, bins } = dftTables(n);
    const bytes = 2 * c.byteLength;
    for (const [length, old] of dftMatrices) {
      if (dftCacheBytes + bytes <= DFT_CACHE_BYTES) break;
      tf.dispose([old.cos, old.sin]);
      dftMatrices.delete(length);
      dftCacheBytes -= 2 * old.cos.size * 4;
    }
    m = { cos: tf.keep(tf.tensor2d(c, [n, bins])), sin: tf.keep(tf.tensor2d(s, [n, bins])) };
    dftMatrices.set(n, m);
    dftCacheBytes += bytes;
  }
  return m;
}

/** `x @ m` over the last axis of x. */
function lastAxisMatmul(x: Tensor, m: Tensor): Tensor {
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D, m as tf.Tensor2D);
  return tf.reshape(y, [...lead, m.shape[1] as number]);
}

function moveAxisLast(x: Tensor, dim: number): { y: Tensor; back: (t: Tensor) => Tensor } {
  const a = wrapDim(dim, x.rank);
  if (a === x.rank - 1) return { y: x, back: (t) => t };
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
  return { y: tf.transpose(x, perm), back: (t) => tf.transpose(t, perm) };
}

function fitLast(x: Tensor, size: number): Tensor {
  const len = x.shape[x.rank - 1];
  if (size < len) return tf.slice(x, x.shape.map(() => 0), x.shape.map((d, i) => (i === x.rank - 1 ? size : d)));
  if (size > len) return tf.pad(x, x.shape.map((_, i) => (i === x.rank - 1 ? [0, size - len] : [0, 0])) as [number, number][]);
  return x;
}

/** torch.fft.rfft: real input, n/2 + 1 complex bins along `dim`. */
export const rfft = defineOp("fft_rfft", (x: Tensor, n: number | null = null, dim = -1, norm: string | null = null): Complex => {
  const { y, back } = moveAxisLast(tf.cast(x, "float32"), dim);
  const size = n ?? y.shape[y.rank - 1];
  const input = fitLast(y, size);
  const { cos, sin } = dft(size);
  const scale = fftScale(norm, size, true);
  const re = lastAxisMatmul(input, cos);
  const im = lastAxisMatmul(input, sin);
  return new Complex(back(scale === 1 ? re : tf.mul(re, scale)), back(scale === 1 ? im : tf.mul(im, scale)));
});

/** torch.fft.irfft: m complex bins, n = 2(m − 1) real samples (or `n`) along `dim`. */
export const irfft = defineOp("fft_irfft", (x: Complex | Tensor, n: number | null = null, dim = -1, norm: string | null = null): Tensor => {
  const z = x instanceof Complex ? x : new Complex(tf.cast(x, "float32"), tf.zerosLike(tf.cast(x, "float32")));
  const { y: re0, back } = moveAxisLast(z.re, dim);
  const { y: im0 } = moveAxisLast(z.im, dim);
  const bins = re0.shape[re0.rank - 1];
  const size = n ?? 2 * (bins - 1);
  const need = Math.floor(size / 2) + 1;
  // x_t = Σ_k w_k (re_k cos − im_k sin) with w = 1 at DC and Nyquist, 2 elsewhere
  const weights = new Float32Array(need).map((_, k) => (k === 0 || (size % 2 === 0 && k === size / 2) ? 1 : 2));
  const w = tf.tensor1d(weights);
  const re = tf.mul(fitLast(re0, need), w);
  const im = tf.mul(fitLast(im0, need), w);
  const { cos, sin } = dft(size);
  // sin holds −sin: re·cos + im·(−sin)
  const out = tf.add(lastAxisMatmul(re, tf.transpose(cos)), lastAxisMatmul(im, tf.transpose(sin)));
  return back(tf.mul(out, fftScale(norm, size, false)));
});

export const viewAsComplex = defineOp("view_as_complex", (x: Tensor): Complex => {
  if (x.shape[x.rank - 1] !== 2) throw new BendingError(`view_as_complex needs a last dim of size 2, got shape [${x.shape.join(", ")}]`);
  const parts = tf.unstack(x, x.rank - 1);
  return new Complex(parts[0], parts[1]);
});
export const viewAsReal = defineOp("view_as_real", (x: Complex): Tensor => tf.stack([x.re, x.im], x.re.rank));
export const real = defineOp("real", (x: Complex | Tensor): Tensor => (x instanceof Complex ? x.re : x));
export const imag = defineOp("imag", (x: Complex): Tensor => x.im);
/** Complex arithmetic (either side may be real). */
export const complexOp = defineOp("complex_op", (op: "add" | "sub" | "mul", a: Complex | Tensor | number, b: Complex | Tensor | number): Complex => {
  const parts = (v: Complex | Tensor | number): [Tensor | number, Tensor | number] => (v instanceof Complex ? [v.re, v.im] : [v, 0]);
  const [ar, ai] = parts(a);
  const [br, bi] = parts(b);
  if (op === "mul") return new Complex(tf.sub(tf.mul(ar, br), tf.mul(ai, bi)), tf.add(tf.mul(ar, bi), tf.mul(ai, br)));
  const f = op === "add" ? tf.add : tf.sub;
  return new Complex(f(ar, br) as Tensor, f(ai, bi) as Tensor);
});
export const hannWindow = defineOp("hann_window", (length: number, periodic = true): Tensor => {
  const n = periodic ? length : length - 1;
  return tf.tensor1d(Float32Array.from({ length }, (_, i) => (n === 0 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n))));
});

/**
 * torch.stft on an already padded signal ([T] or [B, T]): frames of `nFft` every `hop`
 * samples times the window (centred zero-padded to nFft), one-sided DFT. Returned as a
 * Complex [.., nFft/2 + 1, frames] (or [.., bins, frames, 2] when not complex). Computed as
 * one strided conv1d with window·cos and −window·sin kernels (wasm has no FFT kernel).
 */
export const stft = defineOp("stft", (x: Tensor, nFft: number, hop: number | null = null, winLength: number | null = null,
  window: Tensor | null = null, normalized = false, onesided: boolean | null = null, returnComplex: boolean | null = null): Complex | Tensor => {
  if (x.rank !== 1 && x.rank !== 2) throw new BendingError(`stft needs a 1-d or 2-d signal, got shape [${x.shape.join(", ")}]`);
  if (onesided === false) throw new BendingError("stft with onesided=False is not supported");
  const step = hop ?? Math.floor(nFft / 4);
  const length = winLength ?? nFft;
  if (x.shape[x.rank - 1] < nFft) throw new BendingError(`stft: the signal (${x.shape[x.rank - 1]} samples) is shorter than n_fft ${nFft}`);
  const win = window === null ? tf.ones([length]) : window;
  if (win.shape[0] !== length) throw new BendingError(`stft: the window has ${win.shape[0]} samples, win_length is ${length}`);
  const left = Math.floor((nFft - length) / 2);
  const padded = length === nFft ? win : tf.pad(win, [[left, nFft - length - left]]);
  const { cos, sin } = dft(nFft);
  const bins = Math.floor(nFft / 2) + 1;
  // kernels [2·bins, 1, nFft]: window·cos rows then window·(−sin) rows
  const basis = tf.concat([tf.transpose(cos), tf.transpose(sin)], 0);
  const kernel = tf.reshape(tf.mul(basis, tf.reshape(tf.cast(padded, "float32"), [1, nFft])), [2 * bins, 1, nFft]);
  const batched = tf.reshape(tf.cast(x, "float32"), [-1, 1, x.shape[x.rank - 1]]);
  let y = conv1d(batched, kernel, null, { stride: step });
  if (normalized) y = tf.mul(y, 1 / Math.sqrt(nFft));
  const lead = x.rank === 2 ? [dims(x)[0]] : [];
  const frames = dims(y)[2];
  const re = tf.reshape(tf.slice(y, [0, 0, 0], [-1, bins, -1]), [...lead, bins, frames]);
  const im = tf.reshape(tf.slice(y, [0, bins, 0], [-1, bins, -1]), [...lead, bins, frames]);
  if (returnComplex === false) return tf.stack([re, im], re.rank);
  return new Complex(re, im);
});
