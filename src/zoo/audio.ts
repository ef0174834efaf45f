// The shipped audio autoencoder (models/audio), in the spirit of RAVE: a latent
// trajectory (1, 8, T) decodes to audio (1, 1, 256·T) at 44.1 kHz. The same module tree
// and names as the PyTorch model in models/audio/train.py, so its .safetensors load as is.
// Causal convolutions keep their last (k−1)·dilation input samples in streaming mode, so
// decoding block by block gives exactly the whole-signal output, without clicks.
import { tf, type Tensor } from "../tf.js";
import { Module, stateIsFrozen } from "../nn/module.js";
import * as F from "../nn/functional.js";
import { Conv1d, LeakyReLU, Sequential, Tanh, convActivation, type ConvArgs } from "../nn/layers.js";
import type { AttributeSpec, AttributeValue, MethodSpec, NnTildeInterface } from "../nn/method-spec.js";
import type { StreamingState } from "../nn/streaming-state.js";
import { BendingError } from "../errors.js";
import { registerArchitecture } from "./registry.js";

export const AUDIO_LATENT = 8;
export const AUDIO_RATIO = 256;

/**
 * Conv1d with left zero padding ((k−1)·dilation + 1 − stride) and an optional streaming
 * cache. With a stride s, output t sees inputs up to t·s + s − 1, so a block whose length
 * is a multiple of s yields exactly length/s outputs and the next block starts cleanly.
 */
export class CausalConv1d extends Conv1d {
  streaming = false;
  private cache: Tensor | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, args: Omit<ConvArgs, "padding"> = {}) {
    super(inChannels, outChannels, kernelSize, { ...args, padding: 0 });
  }

  get causalPadding(): number {
    const d = typeof this.dilation === "number" ? this.dilation : this.dilation[0];
    const s = typeof this.stride === "number" ? this.stride : this.stride[0];
    return (this.kernelSize[0] - 1) * d + 1 - s;
  }

  /** A kept copy of the streamed past (null when there is none yet). */
  pastSamples(): Tensor | null {
    return this.cache === null ? null : tf.keep(this.cache.clone());
  }

  /** Replaces the streamed past by `past` (taking ownership of it). */
  restorePast(past: Tensor | null): void {
    this.cache?.dispose();
    this.cache = past;
  }

  /** Forgets the streamed past (the next block starts from silence). */
  resetStream(): void {
    this.cache?.dispose();
    this.cache = null;
  }

  override forward(x: Tensor): Tensor {
    const p = this.causalPadding;
    const [batch, channels]: number[] = x.shape;
    let padded = x;
    if (p > 0) {
      if (this.streaming) {
        const past = this.cache !== null && this.cache.shape[0] === batch && this.cache.shape[1] === channels
          ? this.cache
          : tf.zeros([batch, channels, p]);
        padded = tf.concat([past, x], 2);
        if (!stateIsFrozen()) {
          const length: number = padded.shape[2]!;
          const next = tf.keep(tf.slice(padded, [0, 0, length - p], [-1, -1, p]));
          this.cache?.dispose();
          this.cache = next;
        }
      } else {
        padded = tf.pad(x, [[0, 0], [0, 0], [p, 0]]);
      }
    }
    return F.conv1d(padded, this.weight.value, this.bias?.value ?? null, {
      stride: this.stride, dilation: this.dilation, groups: this.groups, fusedActivation: this.fusedActivation,
    });
  }
}

/** Sub-pixel upsampling: out[n, c, t·f + i] = conv(x)[n, c·f + i, t]. */
export class Upsample1d extends Module {
  conv: CausalConv1d;
  constructor(cin: number, readonly cout: number, readonly factor: number) {
    super();
    this.conv = new CausalConv1d(cin, cout * factor, 3);
  }
  override forward(x: Tensor): Tensor {
    const y = this.conv.call(x);
    const [n, , t]: number[] = y.shape;
    const grouped = F.reshape(y, [n, this.cout, this.factor, t]);
    return F.reshape(F.permute(grouped, [0, 1, 3, 2]), [n, this.cout, t * this.factor]);
  }
}

export class ResidualBlock extends Module {
  conv1: CausalConv1d;
  act = new LeakyReLU(0.2);
  conv2: CausalConv1d;
  constructor(channels: number, dilation: number) {
    super();
    this.conv1 = new CausalConv1d(channels, channels, 3, { dilation });
    this.conv2 = new CausalConv1d(channels, channels, 1);
  }
  override forward(x: Tensor): Tensor {
    return F.add(x, this.conv2.call(convActivation(this.conv1, this.act, this.act.call(x))));
  }
}

/**
 * Latent (N, 8, T) → audio (N, 1, 256·T). Whole signals by default; after resetState()
 * it streams block by block (see StreamingState).
 */
export class AudioDecoder extends Module implements StreamingState {
  static override inputNames = { forward: ["z"] };
  net: Sequential;
  constructor() {
    super();
    const layers: Module[] = [new CausalConv1d(AUDIO_LATENT, 128, 3)];
    for (const [cin, cout] of [[128, 64], [64, 32], [32, 16], [16, 16]]) {
      layers.push(new LeakyReLU(0.2), new Upsample1d(cin, cout, 4), new ResidualBlock(cout, 1), new ResidualBlock(cout, 3));
    }
    layers.push(new LeakyReLU(0.2), new CausalConv1d(16, 1, 7), new Tanh());
    this.net = new Sequential(...layers);
  }
  override forward(z: Tensor): Tensor {
    return this.net.call(z) as Tensor;
  }
  /** Streams from silence: every causal convolution keeps its past from here on, starting with none. */
  resetState(): void {
    setStreaming(this, true);
  }
  snapshotState(): StreamSnapshot {
    return snapshotStream(this);
  }
  restoreState(snapshot: unknown): void {
    restoreStream(snapshot as StreamSnapshot);
  }
}

/** Audio (N, 1, L) → latent (N, 8, L/256); L a multiple of 256. */
export class AudioEncoder extends Module {
  static override inputNames = { forward: ["x"] };
  net: Sequential;
  constructor() {
    super();
    const layers: Module[] = [];
    const channels = [1, 16, 32, 64, 128];
    for (let i = 0; i < 4; i++) layers.push(new Conv1d(channels[i], channels[i + 1], 8, { stride: 4, padding: 2 }), new LeakyReLU(0.2));
    layers.push(new Conv1d(128, AUDIO_LATENT, 3, { padding: 1 }));
    this.net = new Sequential(...layers);
  }
  override forward(x: Tensor): Tensor {
    return this.net.call(x) as Tensor;
  }
}

/**
 * The shipped encoder made streamable: the same layers and weights as AudioEncoder, with
 * causal padding (k − stride on the left instead of symmetric padding), so encoding block
 * by block equals encoding the whole signal. Audio (N, 1, L) → latent (N, 8, L/256).
 */
export class CausalAudioEncoder extends Module {
  net: Sequential;
  constructor() {
    super();
    const layers: Module[] = [];
    const channels = [1, 16, 32, 64, 128];
    for (let i = 0; i < 4; i++) layers.push(new CausalConv1d(channels[i], channels[i + 1], 8, { stride: 4 }), new LeakyReLU(0.2));
    layers.push(new CausalConv1d(128, AUDIO_LATENT, 3));
    this.net = new Sequential(...layers);
  }
  override forward(x: Tensor): Tensor {
    return this.net.call(x) as Tensor;
  }
}

/**
 * The shipped audio model as nn~ sees it: `decode` (latents → audio, the decoder's own
 * weights under `net.*`), `encode` (audio → latents, `encoder.net.*`) and `forward`
 * (audio → encode → decode → audio). The decoder keeps its names, so bendings written
 * for the decoder (`net_2_conv`, `net.6.conv.weight`) reach decode and forward alike.
 */
export class AudioAutoencoder extends AudioDecoder implements NnTildeInterface {
  encoder = new CausalAudioEncoder();
  readonly methods: MethodSpec[] = [
    { name: "forward", inChannels: 1, inRatio: 1, outChannels: 1, outRatio: 1, inputLabels: ["(signal) audio in"], outputLabels: ["(signal) audio out"] },
    {
      name: "encode", inChannels: 1, inRatio: 1, outChannels: AUDIO_LATENT, outRatio: AUDIO_RATIO,
      inputLabels: ["(signal) audio in"], outputLabels: Array.from({ length: AUDIO_LATENT }, (_, i) => `(signal) latent ${i}`),
    },
    {
      name: "decode", inChannels: AUDIO_LATENT, inRatio: AUDIO_RATIO, outChannels: 1, outRatio: 1,
      inputLabels: Array.from({ length: AUDIO_LATENT }, (_, i) => `(signal) latent ${i}`), outputLabels: ["(signal) audio out"],
    },
  ];
  readonly attributes: AttributeSpec[] = [];

  override forward(x: Tensor): Tensor {
    return this.decode(this.encode(x));
  }
  encode(x: Tensor): Tensor {
    return this.encoder.call(x) as Tensor;
  }
  decode(z: Tensor): Tensor {
    return this.net.call(z) as Tensor;
  }
  getAttribute(name: string): AttributeValue {
    throw new BendingError(`the shipped audio model has no attribute '${name}'`);
  }
  setAttribute(name: string): void {
    throw new BendingError(`the shipped audio model has no attribute '${name}'`);
  }
}

/** The streamed past of every causal convolution under `module` (kept copies). */
export type StreamSnapshot = Map<CausalConv1d, Tensor | null>;

export function snapshotStream(module: Module): StreamSnapshot {
  const snapshot: StreamSnapshot = new Map();
  for (const [, m] of module.namedModules()) if (m instanceof CausalConv1d) snapshot.set(m, m.pastSamples());
  return snapshot;
}

/** Puts a snapshot's past back (and frees the snapshot). */
export function restoreStream(snapshot: StreamSnapshot): void {
  for (const [m, past] of snapshot) m.restorePast(past);
}

/** Switches every causal convolution under `module` to streaming (or back) and clears their past. */
export function setStreaming(module: Module, on: boolean): void {
  for (const [, m] of module.namedModules()) {
    if (m instanceof CausalConv1d) {
      m.streaming = on;
      m.resetStream();
    }
  }
}

registerArchitecture("audio-decoder", () => new AudioDecoder());
registerArchitecture("audio-encoder", () => new AudioEncoder());
registerArchitecture("audio-autoencoder", () => new AudioAutoencoder());
