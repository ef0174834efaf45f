// Ops that torch >= 2.0 exports use beyond the first op table (issue 20): recurrent layers in
// every layout (torch.lstm/gru: batch-first or not, stacked, bidirectional; their cells),
// stft's `center` overload and istft (torchaudio's spectrogram code), rfftfreq/fftfreq,
// scaled_dot_product_attention, grad-mode switches, linspace with a dtype. Registered into
// op-table.ts's table when load.ts imports this file (the table refuses a name defined twice, so
// `gru`, `stft` and `linspace` live here only). Each op is one call_function node for a tracer.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { dispatch } from "../nn/hooks.js";
// the first table's families register before these, whichever file is loaded first
import "./ops.js";
import { registerOp as op, registerTensorOp as tensorOp } from "./op-table.js";
import { floatOf, numberArg as num, tensorArg as T, tfDtype } from "./op-args.js";

type Value = unknown;
const FACTORY = "dtype=None, layout=None, device=None, pin_memory=None";

/** One node for a tracer; intermediate tensors freed as soon as the op returns. */
function traced<R extends tf.TensorContainer>(name: string, args: Value[], compute: () => R): R {
  return dispatch("call_function", name, args, () => tf.tidy(compute)) as R;
}

function optionalTensor(v: Value, name: string): Tensor | null {
  return v === null || v === undefined ? null : T(v, name);
}

// --- recurrent layers ----------------------------------------------------------------------

type Cell = "lstm" | "gru";

/** One step of a cell: gates in PyTorch's order (LSTM i, f, g, o; GRU r, z, n). `gi` = x·W_ihᵀ + b_ih. */
function step(kind: Cell, gi: Tensor, h: Tensor, c: Tensor | null, wHh: Tensor, bHh: Tensor | null): [Tensor, Tensor | null] {
  const gh = F.linear(h, wHh, bHh);
  if (kind === "gru") {
    const [ir, iz, inn] = tf.split(gi, 3, 1);
    const [hr, hz, hn] = tf.split(gh, 3, 1);
    const r = tf.sigmoid(tf.add(ir, hr));
    const z = tf.sigmoid(tf.add(iz, hz));
    const n = tf.tanh(tf.add(inn, tf.mul(r, hn)));
    return [tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h)), null];
  }
  const [i, f, g, o] = tf.split(tf.add(gi, gh), 4, 1);
  const cNext = tf.add(tf.mul(tf.sigmoid(f), c!), tf.mul(tf.sigmoid(i), tf.tanh(g)));
  return [tf.mul(tf.sigmoid(o), tf.tanh(cNext)), cNext];
}

/**
 * torch.lstm / torch.gru on a tensor input: `seq` [T, B, F]; h0 (and c0) [layers·dirs, B, H];
 * params per layer and direction [w_ih, w_hh, (b_ih, b_hh)], the reverse direction after the
 * forward one. Returns the last layer's output [T, B, dirs·H] and the final states.
 */
function recurrent(kind: Cell, seq0: Tensor, h0: Tensor, c0: Tensor | null, params: Tensor[], hasBiases: boolean, layers: number, directions: number):
  [Tensor, Tensor, Tensor | null] {
  const perDirection = hasBiases ? 4 : 2;
  if (params.length !== perDirection * layers * directions) {
    throw new BendingError(`${kind} expects ${perDirection * layers * directions} weights for ${layers} layer(s) × ${directions} direction(s), got ${params.length} (proj_size is not supported)`);
  }
  let seq = seq0;
  const steps = seq.shape[0] ?? 0;
  const batch = seq.shape[1] ?? 0;
  if (seq.rank !== 3) throw new BendingError(`${kind} needs a 3-d input, got shape [${seq.shape.join(", ")}]`);
  const finalH: Tensor[] = [];
  const finalC: Tensor[] = [];
  for (let l = 0; l < layers; l++) {
    const outputs: Tensor[] = [];
    for (let d = 0; d < directions; d++) {
      const p = (l * directions + d) * perDirection;
      const [wIh, wHh] = [params[p], params[p + 1]];
      const bIh = hasBiases ? params[p + 2] : null;
      const bHh = hasBiases ? params[p + 3] : null;
      const hidden = wHh.shape[1] ?? 0;
      const gates = wIh.shape[0] ?? 0;
      const gi = tf.reshape(F.linear(tf.reshape(seq, [steps * batch, seq.shape[2] ?? 0]), wIh, bIh), [steps, batch, gates]);
      const giSteps = tf.unstack(gi, 0);
      const index = l * directions + d;
      let h = tf.reshape(tf.slice(h0, [index, 0, 0], [1, batch, hidden]), [batch, hidden]);
      let c = c0 === null ? null : tf.reshape(tf.slice(c0, [index, 0, 0], [1, batch, hidden]), [batch, hidden]);
      const outs = new Array<Tensor>(steps);
      for (let k = 0; k < steps; k++) {
        const t = d === 0 ? k : steps - 1 - k;
        [h, c] = step(kind, giSteps[t], h, c, wHh, bHh);
        outs[t] = h;
      }
      outputs.push(steps === 0 ? tf.zeros([0, batch, hidden]) : tf.stack(outs, 0));
      finalH.push(h);
      if (c !== null) finalC.push(c);
    }
    seq = directions === 1 ? outputs[0] : tf.concat(outputs, 2);
  }
  return [seq, tf.stack(finalH, 0), c0 === null ? null : tf.stack(finalC, 0)];
}

function checkEval(kind: string, dropout: Value, train: Value): void {
  if (train === true && num(dropout) > 0) throw new BendingError(`${kind} dropout in training mode is not supported (call eval() before exporting)`);
}

op("lstm", "input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first", (a) => {
  const [x, hx, params, biases, layers, dropout, train, bidirectional, batchFirst] = a;
  if (!Array.isArray(hx)) throw new BendingError("lstm over a packed sequence is not supported");
  checkEval("LSTM", dropout, train);
  return traced("lstm", a, () => {
    const input = T(x);
    const seq = batchFirst === true ? tf.transpose(input, [1, 0, 2]) : input;
    const [out, h, c] = recurrent("lstm", seq, T(hx[0]), T(hx[1]), (params as Value[]).map((p) => T(p, "LSTM weight")), Boolean(biases), num(layers),
      bidirectional === true ? 2 : 1);
    return [batchFirst === true ? tf.transpose(out, [1, 0, 2]) : out, h, c!];
  });
});

op("gru", "input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first", (a) => {
  const [x, hx, params, biases, layers, dropout, train, bidirectional, batchFirst] = a;
  if (!(hx instanceof tf.Tensor)) throw new BendingError("gru over a packed sequence is not supported");
  checkEval("GRU", dropout, train);
  return traced("gru", a, () => {
    const input = T(x);
    const seq = batchFirst === true ? tf.transpose(input, [1, 0, 2]) : input;
    const [out, h] = recurrent("gru", seq, hx, null, (params as Value[]).map((p) => T(p, "GRU weight")), Boolean(biases), num(layers),
      bidirectional === true ? 2 : 1);
    return [batchFirst === true ? tf.transpose(out, [1, 0, 2]) : out, h];
  });
});

op("lstm_cell", "input, hx, w_ih, w_hh, b_ih=None, b_hh=None", (a) => {
  const [x, hx, wIh, wHh, bIh, bHh] = a;
  return traced("lstm_cell", a, () => {
    const state = hx as Value[];
    const [h, c] = step("lstm", F.linear(T(x), T(wIh), optionalTensor(bIh, "b_ih")), T(state[0]), T(state[1]), T(wHh), optionalTensor(bHh, "b_hh"));
    return [h, c!];
  });
});

op("gru_cell", "input, hx, w_ih, w_hh, b_ih=None, b_hh=None", (a) => {
  const [x, hx, wIh, wHh, bIh, bHh] = a;
  return traced("gru_cell", a, () => step("gru", F.linear(T(x), T(wIh), optionalTensor(bIh, "b_ih")), T(hx), null, T(wHh), optionalTensor(bHh, "b_hh"))[0]);
});

// --- spectral ------------------------------------------------------------------------------

/**
 * torch.stft. torch >= 2.0 prints the `center` overload (self, n_fft, hop_length, win_length,
 * window, center, pad_mode, normalized, onesided, return_complex); 1.13's functional stft pads
 * itself and calls the older one (…, window, normalized, onesided, return_complex), told apart
 * by the 7th argument: pad_mode is a string, onesided never is.
 */
op("stft", "self, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode=\"reflect\", normalized=False, onesided=None, return_complex=None",
  (a) => {
    let [x, n, hop, win, window, center, padMode, normalized, onesided, complex] = a;
    if (typeof padMode !== "string") [center, padMode, normalized, onesided, complex] = [false, "constant", center, padMode, normalized];
    const nFft = num(n);
    let signal = T(x);
    if (center === true) {
      const mode = String(padMode);
      if (mode !== "constant" && mode !== "reflect" && mode !== "replicate") throw new BendingError(`stft pad_mode '${mode}' is not supported`);
      const pad = Math.floor(nFft / 2);
      signal = F.pad(signal, [pad, pad], mode);
    }
    return F.stft(signal, nFft, hop === null ? null : num(hop), win === null ? null : num(win), optionalTensor(window, "window"), Boolean(normalized),
      onesided as boolean | null, complex as boolean | null);
  });

/** torch.istft: inverse rfft of each frame, windowed overlap-add, divided by the summed squared window. */
op("istft", "self, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False, onesided=None, length=None, return_complex=False", (a) => {
  const [spec, n, hop, win, window, center, normalized, onesided, length, complex] = a;
  if (onesided === false || complex === true) throw new BendingError("istft with onesided=False or return_complex=True is not supported");
  if (!(spec instanceof F.Complex)) throw new BendingError("istft needs a complex spectrogram (return_complex=True)");
  return traced("istft", a, () => {
    const nFft = num(n);
    const step = hop === null ? Math.floor(nFft / 4) : num(hop);
    const winLength = win === null ? nFft : num(win);
    const w = window === null ? tf.ones([winLength]) : floatOf(T(window));
    const left = Math.floor((nFft - winLength) / 2);
    const padded = winLength === nFft ? w : tf.pad(w, [[left, nFft - winLength - left]]);
    const batched = spec.re.rank === 2;
    const z = batched ? new F.Complex(tf.expandDims(spec.re, 0), tf.expandDims(spec.im, 0)) : spec;
    // frames [B, n_fft, frames], windowed; overlap-add as a transposed convolution with an identity kernel
    let frames = F.irfft(z, nFft, 1, null);
    if (normalized === true) frames = tf.mul(frames, Math.sqrt(nFft));
    frames = tf.mul(frames, tf.reshape(padded, [1, nFft, 1]));
    const count = frames.shape[2] ?? 0;
    const eye = tf.reshape(tf.eye(nFft), [nFft, 1, nFft]);
    let y = tf.reshape(F.convTranspose1d(frames, eye, null, { stride: step }), [frames.shape[0] ?? 1, -1]);
    const total = y.shape[1] ?? 0;
    const squared = padded.square().dataSync();
    const envelope = new Float32Array(total);
    for (let f = 0; f < count; f++) for (let i = 0; i < nFft; i++) envelope[f * step + i] += squared[i];
    const start = center === true ? Math.floor(nFft / 2) : 0;
    const end = length !== null ? start + num(length) : center === true ? total - Math.floor(nFft / 2) : total;
    for (let i = start; i < Math.min(end, total); i++) {
      if (envelope[i] < 1e-11) throw new BendingError("istft: the window's overlap-add is zero somewhere (window/hop_length do not satisfy NOLA)");
    }
    y = tf.div(y, tf.tensor1d(envelope.map((e) => (e < 1e-11 ? 1 : e))));
    y = tf.slice(y, [0, start], [-1, Math.min(end, total) - start]);
    if (end > total) y = tf.pad(y, [[0, 0], [0, end - total]]);
    return batched ? y : tf.squeeze(y, [0]);
  });
});

/** The bin frequencies of rfftfreq (onesided) or fftfreq for n samples spaced d apart (the native engine's constants too). */
export function frequencyValues(n: number, d: number, onesided: boolean): Float32Array {
  const count = onesided ? Math.floor(n / 2) + 1 : n;
  return Float32Array.from({ length: count }, (_, i) => (onesided || i < Math.ceil(n / 2) ? i : i - n) / (d * n));
}

function frequencies(name: string, n: number, d: number, dtype: Value, onesided: boolean): Tensor {
  if (!Number.isInteger(n) || n <= 0) throw new BendingError(`${name}: n must be a positive int, got ${n}`);
  const values = frequencyValues(n, d, onesided);
  return dispatch("call_function", name, [n, d], () => tf.cast(tf.tensor1d(values), tfDtype(dtype))) as Tensor;
}
op("fft_rfftfreq", `n, d=1.0, ${FACTORY}`, ([n, d, dtype]) => frequencies("fft_rfftfreq", num(n), num(d), dtype, true));
op("fft_fftfreq", `n, d=1.0, ${FACTORY}`, ([n, d, dtype]) => frequencies("fft_fftfreq", num(n), num(d), dtype, false));

// --- attention -----------------------------------------------------------------------------

/** softmax(q·kᵀ·scale + mask)·v; a bool mask keeps where true; is_causal keeps the lower triangle. */
tensorOp("scaled_dot_product_attention", "query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False", (a) => {
  const [q, k, v, mask, dropout, causal, scale, gqa] = a;
  if (gqa === true) throw new BendingError("scaled_dot_product_attention with enable_gqa=True is not supported");
  if (num(dropout) > 0) throw new BendingError("scaled_dot_product_attention with dropout_p > 0 is not supported (it drops at random even in eval mode)");
  return traced("scaled_dot_product_attention", a, () => {
    const query = floatOf(T(q));
    const keyT = floatOf(T(k));
    const factor = scale === null ? 1 / Math.sqrt(query.shape[query.rank - 1]) : num(scale);
    let scores = tf.mul(tf.matMul(query, keyT, false, true), factor);
    const [l, s] = scores.shape.slice(-2);
    if (causal === true) {
      const keep = tf.greaterEqual(tf.reshape(tf.range(0, l, 1, "int32"), [l, 1]), tf.reshape(tf.range(0, s, 1, "int32"), [1, s]));
      scores = tf.where(keep, scores, tf.fill(scores.shape, -Infinity));
    }
    if (mask !== null) {
      const m = T(mask, "attn_mask");
      scores = m.dtype === "bool" ? tf.where(tf.broadcastTo(m, scores.shape), scores, tf.fill(scores.shape, -Infinity)) : tf.add(scores, m);
    }
    return tf.matMul(tf.softmax(scores), floatOf(T(v)));
  });
});

// --- factories and grad mode ---------------------------------------------------------------

op("linspace", `start, end, steps, ${FACTORY}`, ([s, e, n, dtype]) => {
  const out = F.linspace(num(s), num(e), num(n));
  const target = tfDtype(dtype);
  return target === "float32" ? out : F.cast(out, target);
});
// tfbend runs without autograd: grad mode is always off and switching it changes nothing
op("is_grad_enabled", "", () => false);
op("set_grad_enabled", "enabled", () => null);
op(["is_inference_mode_enabled", "prim::is_inference"], "", () => true);

/** tril/triu on the last two dims: keeps j − i ≤ diagonal (tril) or ≥ diagonal (triu). */
for (const name of ["tril", "triu"] as const) {
  tensorOp(name, "self, diagonal=0", (a) => {
    const x = T(a[0]);
    const diagonal = num(a[1]);
    if (x.rank < 2) throw new BendingError(`${name} needs a tensor of rank 2 or more, got shape [${x.shape.join(", ")}]`);
    return traced(name, a, () => {
      const [rows, cols] = x.shape.slice(-2) as [number, number];
      const offset = tf.sub(tf.reshape(tf.range(0, cols, 1, "int32"), [1, cols]), tf.reshape(tf.range(0, rows, 1, "int32"), [rows, 1]));
      const keep = name === "tril" ? tf.lessEqual(offset, diagonal) : tf.greaterEqual(offset, diagonal);
      const mask = tf.broadcastTo(keep, x.shape);
      // wasm's select has no bool kernel: a bool tensor is masked by a logical and
      return x.dtype === "bool" ? tf.logicalAnd(mask, x) : tf.where(mask, x, tf.zerosLike(x));
    });
  });
}
