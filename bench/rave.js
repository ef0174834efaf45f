// A RAVE-v2-sized decoder (random weights, ~17 M parameters, ~76 M multiply-adds per
// 2048 samples): latent 128 → 1536 channels, transposed-conv upsampling ×2 ×4 ×4 ×4
// (1536 → 96 channels) each followed by dilated residual units (1, 3, 9), a 32-channel
// output conv (16 bands × waveform and amplitude), and a 16-band synthesis filterbank
// (a stride-16 transposed conv). Streaming with cached padding: causal convs keep their
// past input samples, transposed convs their past input frames, so blocks decode without
// look-ahead. Timed in tfbend's nn, in raw channels-last tfjs, and in PyTorch
// (bench/rave_decoder.py, the same network, 1 thread), side by side in one run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tb from "tfbend";
import { CLOCK, fmt, interleave, quantile, withTfjsCopies } from "./util.js";

const { nn, F, tf, zoo } = tb;

export const RAVE = {
  latent: 128, channels: [1536, 768, 384, 192, 96], ratios: [2, 4, 4, 4], dilations: [1, 3, 9],
  bands: 16, filterTaps: 16, sampleRate: 44100,
};
export const HOP = RAVE.ratios.reduce((a, b) => a * b, 1) * RAVE.bands; // 2048 samples per latent frame

/** ConvTranspose1d (kernel taps·stride) that keeps its last taps−1 input frames: causal, streamable. */
export class CachedConvTranspose1d extends nn.ConvTranspose1d {
  streaming = false;
  past = null;
  constructor(inChannels, outChannels, stride, taps, args = {}) {
    super(inChannels, outChannels, stride * taps, { ...args, stride, padding: (taps - 1) * stride });
    this.taps = taps;
  }
  forward(x) {
    const keep = this.taps - 1;
    const past = this.streaming && this.past !== null ? this.past : tf.zeros([x.shape[0], x.shape[1], keep]);
    const input = tf.concat([past, x], 2);
    if (this.streaming) {
      const next = tf.keep(tf.slice(input, [0, 0, input.shape[2] - keep], [-1, -1, keep]));
      this.past?.dispose();
      this.past = next;
    }
    return F.convTranspose1d(input, this.weight.value, this.bias?.value ?? null, {
      stride: this.stride, padding: this.padding, fusedActivation: this.fusedActivation,
    });
  }
}

class ResidualUnit extends nn.Module {
  constructor(channels, dilation) {
    super();
    this.act1 = new nn.LeakyReLU(0.2);
    this.conv1 = new zoo.CausalConv1d(channels, channels, 3, { dilation });
    this.act2 = new nn.LeakyReLU(0.2);
    this.conv2 = new zoo.CausalConv1d(channels, channels, 1);
  }
  forward(x) {
    return F.add(x, this.conv2.call(nn.convActivation(this.conv1, this.act2, this.act1.call(x))));
  }
}

export class RaveDecoder extends nn.Module {
  constructor() {
    super();
    const { latent, channels, ratios, dilations, bands, filterTaps } = RAVE;
    const layers = [new zoo.CausalConv1d(latent, channels[0], 3)];
    ratios.forEach((r, i) => {
      layers.push(new nn.LeakyReLU(0.2), new CachedConvTranspose1d(channels[i], channels[i + 1], r, 2));
      for (const d of dilations) layers.push(new ResidualUnit(channels[i + 1], d));
    });
    layers.push(new nn.LeakyReLU(0.2), new zoo.CausalConv1d(channels.at(-1), 2 * bands, 7));
    this.net = new nn.Sequential(...layers);
    this.synthesis = new CachedConvTranspose1d(bands, 1, bands, filterTaps, { bias: false });
  }
  forward(z) {
    const h = this.net.call(z);
    const wave = F.tanh(F.narrow(h, 1, 0, RAVE.bands));
    const amplitude = F.sigmoid(F.narrow(h, 1, RAVE.bands, RAVE.bands));
    return this.synthesis.call(F.mul(wave, amplitude));
  }
}

export function setRaveStreaming(module, on) {
  zoo.setStreaming(module, on);
  for (const [, m] of module.namedModules()) {
    if (m instanceof CachedConvTranspose1d) {
      m.streaming = on;
      m.past?.dispose();
      m.past = null;
    }
  }
}

/**
 * The same network in raw channels-last tfjs (N, L, C), the lower bound for tfbend's layers:
 * fused conv2d with bias + LeakyReLU, transposed convs as the same polyphase conv, state
 * kept channels-last, no layout changes between layers.
 */
function rawDecoder(module) {
  const convs = [];
  const state = new Map();
  const causal = (conv) => {
    const w = conv.weight.data;
    const [cout, cin, k] = w.shape;
    const filter = tf.keep(tf.reshape(tf.transpose(w, [2, 1, 0]), [1, k, cin, cout]));
    const d = conv.dilation;
    const p = (k - 1) * d;
    convs.push(filter);
    return (x, activation) => {
      let input = x;
      if (p > 0) {
        const past = state.get(conv) ?? tf.zeros([1, 1, p, cin]);
        input = tf.concat([past, x], 2);
        const next = tf.keep(tf.slice(input, [0, 0, input.shape[2] - p, 0], [-1, -1, p, -1]));
        state.get(conv)?.dispose();
        state.set(conv, next);
      }
      return tf.fused.conv2d({
        x: input, filter, strides: 1, pad: "valid", dilations: [1, d], bias: conv.bias.data,
        activation: activation ? "leakyrelu" : "linear", leakyreluAlpha: 0.2,
      });
    };
  };
  const transposed = (conv) => {
    const w = conv.weight.data;
    const [cin, cout, k] = w.shape;
    const s = conv.stride;
    const q = k / s;
    // polyphase filter [1, q, in, s·out]: tap j of phase r is kernel index (q−1−j)·s + r
    const filter = tf.keep(tf.tidy(() => tf.reshape(
      tf.transpose(tf.reverse(tf.reshape(w, [cin, cout, q, s]), [2]), [2, 0, 3, 1]), [1, q, cin, s * cout])));
    const bias = conv.bias === null ? undefined : tf.keep(tf.concat(new Array(s).fill(conv.bias.data), 0));
    convs.push(filter);
    return (x) => {
      const past = state.get(conv) ?? tf.zeros([1, 1, q - 1, cin]);
      const input = tf.concat([past, x], 2);
      const next = tf.keep(tf.slice(input, [0, 0, input.shape[2] - (q - 1), 0], [-1, -1, q - 1, -1]));
      state.get(conv)?.dispose();
      state.set(conv, next);
      const y = tf.fused.conv2d({ x: input, filter, strides: 1, pad: "valid", bias });
      return tf.reshape(y, [1, 1, y.shape[2] * s, cout]);
    };
  };
  const layers = module.net.namedChildren().map(([, m]) => m);
  const steps = [];
  for (let i = 0; i < layers.length; i++) {
    const m = layers[i];
    if (m instanceof nn.LeakyReLU) {
      const next = layers[i + 1];
      if (next instanceof CachedConvTranspose1d) {
        const t = transposed(next);
        steps.push((x) => t(tf.leakyRelu(x, 0.2)));
      } else {
        const c = causal(next);
        steps.push((x) => c(tf.leakyRelu(x, 0.2), false));
      }
      i++;
    } else if (m instanceof ResidualUnit) {
      const c1 = causal(m.conv1);
      const c2 = causal(m.conv2);
      steps.push((x) => tf.add(x, c2(c1(tf.leakyRelu(x, 0.2), true), false)));
    } else {
      const c = causal(m);
      steps.push((x) => c(x, false));
    }
  }
  const synthesis = transposed(module.synthesis);
  return {
    forward(zNLC) {
      let h = zNLC;
      for (const step of steps) h = step(h);
      const bands = RAVE.bands;
      const wave = tf.tanh(tf.slice(h, [0, 0, 0, 0], [-1, -1, -1, bands]));
      const amplitude = tf.sigmoid(tf.slice(h, [0, 0, 0, bands], [-1, -1, -1, bands]));
      return synthesis(tf.mul(wave, amplitude));
    },
    reset() {
      for (const t of state.values()) t.dispose();
      state.clear();
    },
  };
}

function countParameters(module) {
  return module.parameters().reduce((n, p) => n + p.data.size, 0);
}

const PY_SCRIPT = fileURLToPath(new URL("./rave_decoder.py", import.meta.url));

/**
 * Writes the RAVE-v2-sized decoder as an nn~-style TorchScript export (methods encode/decode/forward,
 * random weights) to `file`; null when it worked, else why (no PyTorch at /usr/bin/python3).
 */
export function writeRaveExport(file) {
  const run = spawnSync("/usr/bin/python3", [PY_SCRIPT, "--export", file, "--nn-tilde"], { encoding: "utf8" });
  return run.status === 0 ? null : (run.stderr || run.error?.message || "export failed").trim().split("\n").at(-1);
}

/** The PyTorch decoder scripted and saved (torch.jit.save), loaded by tfbend's interpreter; null without PyTorch. */
export async function interpretedDecoder() {
  const dir = mkdtempSync(join(tmpdir(), "tfbend-rave-"));
  const file = join(dir, "rave_decoder.ts");
  try {
    const run = spawnSync("/usr/bin/python3", [PY_SCRIPT, "--export", file], { encoding: "utf8" });
    if (run.status !== 0) return { error: (run.stderr || run.error?.message || "export failed").trim().split("\n").at(-1) };
    const bended = await tb.load(file);
    return { module: bended.module, bended };
  } catch (error) {
    return { error: String(error?.message ?? error).split("\n")[0] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pytorch(frameCounts, rounds) {
  const script = PY_SCRIPT;
  const run = spawnSync("/usr/bin/python3", [script, "--frames", frameCounts.join(","), "--rounds", String(rounds)], { encoding: "utf8" });
  if (run.status !== 0) return { error: (run.stderr || run.error?.message || "failed").trim().split("\n").at(-1) };
  return JSON.parse(run.stdout.trim().split("\n").at(-1));
}

// p95 of a few dozen samples moves by ±0.15 RTF between runs on this noisy machine: 2048-sample
// blocks get 100 samples per variant, 16384-sample blocks 40.
export async function runRave({ frameCounts = [1, 8], rounds = 20, torchscript = true } = {}) {
  const module = new RaveDecoder().eval();
  const raw = rawDecoder(module);
  setRaveStreaming(module, true);
  const bended = new tb.BendedModule(module);
  const script = torchscript ? await interpretedDecoder() : { error: "not asked for" };
  const results = [];
  for (const frames of frameCounts) {
    const z = tf.randomNormal([1, RAVE.latent, frames]);
    const zNLC = tf.reshape(tf.transpose(z, [0, 2, 1]), [1, 1, frames, RAVE.latent]);
    const interpreted = script.module === undefined ? {} : {
      "TorchScript file, interpreted": () => tf.tidy(() => {
        script.module.forward(z).dataSync();
      }),
    };
    const samples = interleave({
      "tfbend nn": () => tf.tidy(() => {
        module.call(z).dataSync();
      }),
      "tfbend nn, tfjs's own Concat/Slice": withTfjsCopies(tb, () => tf.tidy(() => {
        module.call(z).dataSync();
      })),
      "tfbend bended (no bending)": () => tf.tidy(() => {
        bended.forward(z).dataSync();
      }),
      "raw tfjs channels-last": () => tf.tidy(() => {
        raw.forward(zNLC).dataSync();
      }),
      ...interpreted,
    }, { rounds, perRound: frames === 1 ? 5 : 2, warmup: 3 });
    tf.dispose([z, zNLC]);
    results.push({ frames, samples });
  }
  setRaveStreaming(module, false);
  raw.reset();
  const torch = pytorch(frameCounts, rounds * 5);
  const parameters = countParameters(module);
  module.dispose();
  script.bended?.dispose();
  script.module?.dispose();
  return { backend: tb.backendInfo(), parameters, results, torch, torchscriptError: script.error };
}

/** The decoder's table: one row per variant and block size, with PyTorch's time beside when measured. */
export function printRaveTable(results, torchTimes) {
  console.log("| block | variant | p50 ms | p95 ms | RTF p50 | RTF p95 | p50 / PyTorch |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const { frames, samples } of results) {
    const blockMs = ((frames * HOP) / RAVE.sampleRate) * 1000;
    const torch = torchTimes.error === undefined ? torchTimes[String(frames)] : undefined;
    const rows = Object.entries(samples).map(([name, s]) => ({ name, p50: quantile(s, 0.5), p95: quantile(s, 0.95) }));
    if (torch !== undefined) rows.push({ name: "PyTorch 1 thread", p50: torch.p50, p95: torch.p95 });
    for (const row of rows) {
      const vsTorch = torch === undefined ? "n/a" : `${(row.p50 / torch.p50).toFixed(2)}×`;
      console.log(`| ${frames * HOP} | ${row.name} | ${fmt(row.p50)} | ${fmt(row.p95)} | ${(row.p50 / blockMs).toFixed(3)} | ${(row.p95 / blockMs).toFixed(3)} | ${vsTorch} |`);
    }
  }
  if (torchTimes.error !== undefined) console.log(`\nPyTorch not measured: ${torchTimes.error}`);
}

export function printRave(r) {
  console.log(`\n## RAVE-v2-sized decoder, streaming (${(r.parameters / 1e6).toFixed(1)} M parameters; ${r.backend.name}: ${r.backend.device}; ${CLOCK} clock)`);
  printRaveTable(r.results, r.torch);
  if (r.torchscriptError !== undefined) console.log(`\nTorchScript file not measured: ${r.torchscriptError}`);
}

if (import.meta.url === `file://${process.argv[1]}`) printRave(await runRave());
