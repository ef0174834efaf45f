// Rendering: one block of output from the next input (live audio or the latent's ramp)
// with the current bendings, controls and version, crossfaded from the state before a
// change and declicked at the join; and renders of many blocks into a workspace file.
import { takeFloats, tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { writePng, writeWav } from "../formats/media.js";
import type { OutputBlock } from "../protocol/frame.js";
import { SafetyStage } from "./safety.js";
import { appendTail, continuation, CROSSFADE_MIN_SAMPLES, crossfadePrefix, PendingCrossfade, type PreviousState } from "./crossfade.js";
import type { SessionModel } from "./session-model.js";
import type { LatentInput } from "./latent-input.js";
import type { LiveInput } from "./live-input.js";
import type { Voices } from "./voices.js";
import { declickChannels, lastSamples } from "./channels.js";
import { renderAudioFile } from "./file-render.js";
import { renderBesideStream } from "./side-render.js";

/** Activation values read from a streamed block: before and after each node's bending. */
export interface StreamPeek {
  values: Record<string, { data: Float32Array; shape: number[] }>;
}
import type { BlockEngine, BlockStep } from "./block-engine.js";

/** The parts of the session a block is rendered from. */
export interface RenderSources {
  model: SessionModel;
  latent: LatentInput;
  input: LiveInput;
  /** The voices that run in one batched call (see voices.ts). */
  voices: Voices;
  /** Whether the stream runs (blocks then carry on from the last one: live input, crossfade, declick). */
  streaming(): boolean;
  /** Whether audio goes through the safety stage. */
  safetyEnabled(): boolean;
  /** Called once per block, after its input is taken and before it is computed (the modulators move controls). */
  beforeBlock?(): void;
  /** What computes the blocks (tfjs, or the native engine). */
  engine(): BlockEngine;
  /** Milliseconds until the stream needs the thread for its next block (Infinity: no clock; see StreamClock). */
  msUntilNextBlock?(): number;
}

export class BlockRenderer {
  /** The stream's safety stage (a render to a file has its own). */
  private readonly safety = new SafetyStage();
  private readonly pending = new PendingCrossfade();
  /** Set by changes of the output; the next streamed block is declicked. */
  private outputChanged = false;
  /** Each channel's last sample of the last streamed block (declick). */
  private lastSample: Float32Array | null = null;
  /** The last CONTINUATION_TAIL samples of each channel the stream sent (what a crossfade continues). */
  private tail: Float32Array | null = null;
  /** The channels `tail` holds (a method or voice count that changes starts it over). */
  private tailChannels = 0;
  private seq = 0;
  /** True while a render to a file runs on the model's own streaming state. */
  rendering = false;
  /** True while a file runs through the method on a copy of the state (the stream may run). */
  renderingCopy = false;
  /** Peeks waiting for the next streamed block: its pass captures their activations. */
  private peeks: { names: string[]; resolve: (peek: StreamPeek) => void }[] = [];
  /** Waiting for the stream's next block to be done (a render beside the stream). */
  private blockWaiters: (() => void)[] = [];
  /**
   * A model switch is pending (see `holdLeaving`): what the model that left would have played
   * at the new model's first streamed block, or null where it could not be rendered ahead.
   */
  private leaving: Promise<LeavingBlock | null> | null = null;

  constructor(private readonly sources: RenderSources) {}

  /** The stream's output starts over: the limiter and the declick forget the last block. */
  resetOutput(): void {
    this.safety.reset();
    this.lastSample = null;
    this.tail = null;
    this.leaving = null;
  }

  /**
   * Another model is about to take over the stream (`load` while streaming): renders, now,
   * what the model playing would play at the next block (its latent held where it is, from
   * its own streamed past, on the engine it plays on: the crossfade's frames on tfjs, the
   * block on a compiled session), so that the new model's first block crossfades from it.
   * Synchronous, so the model may be freed as soon as this returns (the samples are read
   * by the join). A method that takes live audio cannot be rendered ahead (its next input
   * has not arrived): that join fades from the continuation of the last blocks, as a change
   * of controls does, and so does a switch whose render here fails.
   */
  holdLeaving(): void {
    this.leaving = null;
    const { model: session } = this.sources;
    const spec = session.methodSpec();
    if (!this.sources.streaming() || session.kind !== "audio" || !session.bended) return;
    this.leaving = Promise.resolve(null);
    if (spec === null || spec.inRatio === 1 || spec.outRatio !== 1) return;
    const input = this.sources.voices.heldLatentBlock(this.sources.latent, session.blockFrames);
    let out: Tensor;
    let fadeFrames: number | null;
    try {
      const step = this.sources.engine().sideStep(session.bended, session.method, input.shape);
      const fadeInput = step.onTfjs ? this.crossfadeInput(input) : input;
      // A compiled session renders the whole block: it keeps the frames tfjs would have rendered.
      fadeFrames = step.onTfjs ? null : this.crossfadeFrames(input);
      try {
        out = step.call(fadeInput);
      } finally {
        if (fadeInput !== input) fadeInput.dispose();
        step.end();
      }
    } catch (e) {
      console.error(`tfbend: the model leaving could not render its last block (the switch fades from its last blocks instead): ${(e as Error).message}`);
      return;
    } finally {
      input.dispose();
    }
    const channels = (out.shape[0] ?? 1) * (out.shape[1] ?? 1);
    const { sampleRate, latentGain } = session;
    this.leaving = (async () => {
      const block = await takeFloats(out);
      const data = fadeFrames !== null ? keepPrefix(block, channels, fadeFrames * spec.inRatio) : block;
      if (latentGain !== 1) for (let i = 0; i < data.length; i++) data[i] *= latentGain;
      return { data, channels, sampleRate };
    })().catch(() => null);
  }

  /** Crossfades the block's start from how the last blocks go on (see `continuation`); false where the tail has other channels. */
  private fadeFromTail(data: Float32Array, channels: number): boolean {
    if (this.tail === null || this.tailChannels !== channels) return false;
    crossfadePrefix(continuation(this.tail, channels, Math.min(CROSSFADE_MIN_SAMPLES, data.length / channels)), data, channels);
    return true;
  }

  /**
   * The first block of the model that took over: crossfaded from what the model that left
   * rendered for it (see `holdLeaving`), or from the continuation of the last blocks where
   * it rendered nothing; where the channel count or sample rate changed, nothing is mixed
   * (the declick joins the channels both have). Returns whether a crossfade was applied.
   */
  private async joinLeaving(data: Float32Array, channels: number, sampleRate: number): Promise<boolean> {
    const leaving = await this.leaving;
    this.leaving = null;
    const frames = data.length / channels;
    if (leaving === null) return this.fadeFromTail(data, channels);
    if (leaving.channels !== channels || leaving.sampleRate !== sampleRate) return false;
    crossfadePrefix(keepPrefix(leaving.data, channels, Math.min(frames, leaving.data.length / channels)), data, channels);
    return true;
  }

  /** The output jumps (a command changed it, a sender came or went): the next streamed block is declicked. */
  markOutputChanged(): void {
    this.outputChanged = true;
  }

  /**
   * Applies a change the stream crossfades (a control, an attribute, a version, an
   * interpolation): the next block fades from how the blocks before go on into the new
   * state (see `continuation`), or, with no block before, from the old state's render (see
   * PendingCrossfade). Without an audio stream the change is simply applied.
   */
  changeWithCrossfade(apply: () => boolean, undo?: PreviousState): void {
    const { model } = this.sources;
    if (!this.sources.streaming() || model.kind !== "audio" || !model.bended) {
      apply();
      return;
    }
    this.pending.change(model.bended, apply, undo);
  }

  /** The stream stopped: no crossfade is pending, and waiting peeks get nothing. */
  dropCrossfade(): void {
    this.pending.drop();
    this.releasePeeks();
  }

  /**
   * The activations `names` as the next streamed block computes them (copies read after
   * the block: a peek costs the stream no extra pass). Resolves with what that pass
   * produced (a name it did not produce is missing).
   */
  peekNextBlock(names: string[]): Promise<StreamPeek | null> {
    const { model } = this.sources;
    if (!this.sources.streaming() || model.kind !== "audio" || this.sources.engine().name === "native") return Promise.resolve(null);
    return new Promise((resolve) => {
      // a stream that sends no block (live input stopped) answers nothing: the caller runs the pass itself
      const timer = setTimeout(() => {
        this.peeks = this.peeks.filter((p) => p !== waiting);
        resolve(null);
      }, Math.max(250, 3 * model.blockMs));
      const waiting = { names, resolve: (peek: StreamPeek) => {
        clearTimeout(timer);
        resolve(peek);
      } };
      this.peeks.push(waiting);
    });
  }

  /** Adds a streamed block to the tail a crossfade continues. */
  private keepTail(block: Float32Array, channels: number): void {
    this.tail = appendTail(this.tailChannels === channels ? this.tail : null, block, channels);
    this.tailChannels = channels;
  }

  /** Settles when the stream's next block is done, or after `ms` when none comes (a stream that stopped, an input that paused). */
  nextStreamBlock(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      const waiters = this.blockWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** The stream's block is done: a render beside it may take the thread. */
  private streamBlockDone(): void {
    for (const done of this.blockWaiters.splice(0)) done();
  }

  /** Peeks that the stream will not serve (it stopped): they get nothing. */
  private releasePeeks(): void {
    for (const p of this.peeks.splice(0)) p.resolve({ values: {} });
  }

  /** The next block's model input: audio for methods at ratio 1, else the latent ramped from where it was to the target. */
  private nextInput(): Tensor {
    const { model, latent, input } = this.sources;
    const spec = model.methodSpec();
    const takesAudio = spec !== null && spec.inRatio === 1;
    if (!takesAudio) latent.advance(model.blockMs / 1000);
    if (takesAudio) {
      const samples = model.blockSamples;
      const voices = this.sources.voices.count;
      return tf.tensor(input.takeBlock(spec.inChannels * voices, samples, this.sources.streaming()), [voices, spec.inChannels, samples]);
    }
    const z = latent.target.length;
    if (model.kind === "audio") return this.sources.voices.latentBlock(latent, model.blockFrames, model.blockMs / 1000);
    return tf.tensor([latent.jump()], [1, z]);
  }

  /**
   * What the old state renders for a crossfade: for a method that takes latents, the first
   * latent frames that cover CROSSFADE_MIN_SAMPLES (a fraction of the block's cost); for
   * one that takes audio, the whole block (its internal ratio is not declared).
   */
  private crossfadeInput(input: Tensor): Tensor {
    const needed = this.crossfadeFrames(input);
    return needed === null ? input : tf.slice(input, [0, 0, 0], [-1, -1, needed]);
  }

  /** The input frames the crossfade covers, or null for the whole block (see crossfadeInput). */
  private crossfadeFrames(input: Tensor): number | null {
    const { model } = this.sources;
    const frames = input.shape[2] ?? 0;
    if (model.takesAudio || model.kind !== "audio" || input.rank !== 3 || frames === 0) return null;
    const needed = Math.ceil(CROSSFADE_MIN_SAMPLES / (model.blockSamples / frames));
    return needed >= frames ? null : needed;
  }

  /** Computes one block with the current bendings, controls and version; audio goes through `safety` when enabled. */
  renderBlock(safety: SafetyStage = this.safety): Promise<OutputBlock> {
    const block = this.computeBlock(safety);
    // the caller gets the block's own promise (no extra turn before the stream sends it)
    if (safety === this.safety) {
      const done = () => this.streamBlockDone();
      void block.then(done, done);
    }
    return block;
  }

  private async computeBlock(safety: SafetyStage): Promise<OutputBlock> {
    const { model: session } = this.sources;
    const model = session.require();
    if (session.kind === "generic") throw new BendingError(`model '${session.name}' is not an audio or image model; it cannot stream`);
    const streaming = this.sources.streaming();
    const input = this.nextInput();
    this.sources.beforeBlock?.();
    let data: Float32Array;
    let shape: number[];
    let before: Float32Array | null = null;
    let continued = false;
    const pending = this.pending.take();
    const from = session.kind === "audio" && streaming ? pending : null;
    if (from === null) pending?.weights.dispose();
    // The engine computes the block (see block-engine.ts); a native recompile that took over
    // at this block is crossfaded from the session it replaced.
    let step: BlockStep | null = null;
    try {
      step = await this.sources.engine().begin(model, session.method, input.shape);
      const left = session.kind === "audio" && streaming ? step.left : null;
      // A change of controls, version or weights fades from how the last blocks go on
      // (see `continuation`): one render. A recompile that took over renders the old session.
      const spec = session.methodSpec();
      continued = from !== null && left === null && this.tail !== null && spec?.outRatio === 1 && this.tailChannels === spec.outChannels * this.sources.voices.count;
      if ((from && !continued) || left) {
        // The same block under the state before the change, from the same streamed past
        // (the session left behind has its own past, which nobody needs after this block).
        // On tfjs the old state renders only the frames the fade covers; a compiled session
        // runs one input shape, so the native engine renders the whole block.
        const restore = left ? null : step.save();
        const current = step;
        const fadeInput = step.onTfjs && !left ? this.crossfadeInput(input) : input;
        let old: Tensor;
        try {
          const compute = () => (left ?? current.call)(fadeInput);
          old = from ? model.withPinnedWeights(from.weights, () => (from.undo ? from.undo(compute) : compute())) : compute();
        } finally {
          if (fadeInput !== input) fadeInput.dispose();
          restore?.();
        }
        try {
          before = Float32Array.from((await old.data()) as Float32Array);
          // A compiled session rendered the whole block: keep the frames tfjs would have rendered,
          // so that the fade is the same on both engines.
          const fadeFrames = fadeInput === input && !left ? this.crossfadeFrames(input) : null;
          if (fadeFrames !== null) before = keepPrefix(before, (old.shape[0] ?? 1) * (old.shape[1] ?? 1), fadeFrames * (session.blockSamples / (input.shape[2] ?? 1)));
        } finally {
          old.dispose();
        }
      }
      // Peeks ride on a tfjs pass; the native engine answers none (the caller runs its own pass between blocks).
      const peeks = streaming && step.onTfjs ? this.peeks.splice(0) : [];
      let out: Tensor;
      if (peeks.length > 0) {
        let pass: { output: unknown; captured: Record<string, Tensor> };
        try {
          pass = model.callCapturing(session.method, [input], [...new Set(peeks.flatMap((p) => p.names))]);
        } catch (e) {
          for (const p of peeks) p.resolve({ values: {} });
          throw e;
        }
        out = pass.output as Tensor;
        void this.answerPeeks(peeks, pass.captured);
      } else out = step.call(input);
      shape = out.shape;
      // Read back asynchronously: GPU backends cannot read synchronously in Node.
      const readable = session.kind === "image" ? tf.tidy(() => tf.transpose(out, [0, 2, 3, 1])) : out;
      try {
        data = await takeFloats(readable);
      } finally {
        out.dispose(); // the image's transpose was read, not the output itself
      }
    } finally {
      step?.end();
      input.dispose();
      from?.weights.dispose();
    }
    if (before !== null) crossfadePrefix(before, data, (shape[0] ?? 1) * (shape[1] ?? 1));
    const spec = session.methodSpec();
    if (spec && spec.outRatio > 1) {
      const [voices, outChannels, frames] = shape;
      const channels = voices * outChannels;
      return { stream: "latent", seq: this.seq++, sampleRate: session.sampleRate / spec.outRatio, frames, channels, width: 0, height: 0, data };
    }
    if (session.kind === "audio") {
      if (!(spec && spec.inRatio === 1) && session.latentGain !== 1) for (let i = 0; i < data.length; i++) data[i] *= session.latentGain;
      const channels = (shape[0] ?? 1) * (shape[1] ?? 1); // voices × the method's channels
      if (this.sources.streaming()) {
        if (this.leaving !== null) await this.joinLeaving(data, channels, session.sampleRate);
        else if (continued) this.fadeFromTail(data, channels);
        // Declick before the safety stage, on the raw signal the previous block ended with.
        if ((this.outputChanged || continued) && this.lastSample !== null) declickChannels(data, channels, this.lastSample);
        this.outputChanged = false;
        this.lastSample = lastSamples(data, channels);
        this.keepTail(data, channels);
      }
      if (this.sources.safetyEnabled()) safety.process(data);
      return { stream: "audio", seq: this.seq++, sampleRate: session.sampleRate, frames: data.length / channels, channels, width: 0, height: 0, data };
    }
    const [, , height, width] = shape;
    return { stream: "image", seq: this.seq++, sampleRate: 0, frames: 1, channels: 3, width, height, data };
  }

  /** Reads the captured activations (after the block is sent: the read waits for nothing the stream needs) and answers the peeks. */
  private async answerPeeks(peeks: { names: string[]; resolve: (peek: StreamPeek) => void }[], captured: Record<string, Tensor>): Promise<void> {
    const values: StreamPeek["values"] = {};
    try {
      for (const [name, t] of Object.entries(captured)) values[name] = { data: Float32Array.from((await t.data()) as Float32Array), shape: t.shape };
    } finally {
      tf.dispose(Object.values(captured));
    }
    for (const p of peeks) p.resolve({ values });
  }

  /** A block of silence in place of live input that came too late (an underrun); the next block is declicked. */
  silenceBlock(): OutputBlock {
    const { model } = this.sources;
    const spec = model.methodSpec()!;
    const frames = model.blockSamples / spec.outRatio;
    const channels = spec.outChannels * this.sources.voices.count;
    const data = new Float32Array(channels * frames);
    this.lastSample = new Float32Array(channels);
    this.keepTail(data, channels);
    this.outputChanged = true;
    this.streamBlockDone();
    if (spec.outRatio === 1) {
      if (this.sources.safetyEnabled()) this.safety.process(data);
      return { stream: "audio", seq: this.seq++, sampleRate: model.sampleRate, frames, channels, width: 0, height: 0, data };
    }
    return { stream: "latent", seq: this.seq++, sampleRate: model.sampleRate / spec.outRatio, frames, channels, width: 0, height: 0, data };
  }

  /** Runs a sound file through the current method into another (see file-render.ts); a stream runs on undisturbed. */
  async renderAudioFile(inPath: string, outPath: string): Promise<string> {
    this.renderingCopy = true;
    try {
      return await renderAudioFile({ model: this.sources.model, safetyEnabled: this.sources.safetyEnabled, streaming: this.sources.streaming }, inPath, outPath);
    } finally {
      this.renderingCopy = false;
    }
  }

  /** Renders `seconds` of audio (or one image) into a workspace file; beside a running stream, on a copy of its state. */
  async renderFile(file: string, seconds: number): Promise<string> {
    const { model: session, latent } = this.sources;
    session.require();
    const path = session.resolvePath(file);
    if (session.kind === "image") {
      if (!path.endsWith(".png")) throw new BendingError("the image model renders PNG files: render <file.png>");
      const block = await this.renderBlock();
      await writePng(path, block.data, block.width, block.height);
      return path;
    }
    if (session.kind !== "audio") throw new BendingError(`model '${session.name}' cannot render`);
    if (!path.endsWith(".wav")) throw new BendingError("render writes WAV files: render <file.wav> <seconds>");
    const spec = session.methodSpec();
    if (this.sources.voices.count > 1) throw new BendingError("render writes one voice; send 'voices 1' first");
    if (spec && (spec.outRatio !== 1 || spec.outChannels !== 1)) {
      throw new BendingError(`method '${spec.name}' does not output mono audio; render runs a method with one audio output (e.g. 'method decode')`);
    }
    if (!(seconds > 0 && seconds <= 600)) throw new BendingError("render length must be between 0 and 600 seconds");
    const blockSamples = session.blockSamples;
    const blocks = Math.ceil((seconds * session.sampleRate) / blockSamples);
    const out = new Float32Array(blocks * blockSamples);
    const state = session.streamingState;
    const engine = this.sources.engine();
    if (this.sources.streaming()) {
      // Beside the stream: on a copy of its state, between its blocks (see side-render.ts).
      if (state && !(state.snapshotState && state.restoreState)) throw new BendingError("this model cannot copy its streaming state; stop the stream before rendering ('stream stop')");
      this.renderingCopy = true;
      try {
        await renderBesideStream({
          model: session, latent: latent.copyForRender(), engine, safetyEnabled: this.sources.safetyEnabled,
          msUntilNextBlock: () => this.sources.msUntilNextBlock?.() ?? Infinity, nextStreamBlock: (ms) => this.nextStreamBlock(ms),
        }, blocks, out);
      } finally {
        this.renderingCopy = false;
      }
      await writeWav(path, out.subarray(0, Math.round(seconds * session.sampleRate)), session.sampleRate);
      return path;
    }
    state?.resetState();
    engine.resetState();
    const safety = new SafetyStage();
    await latent.forRender(async () => {
      this.rendering = true;
      try {
        for (let b = 0; b < blocks; b++) {
          out.set((await this.renderBlock(safety)).data, b * blockSamples);
          // Let other commands (set, status, stop) be answered between blocks of a long render.
          await new Promise((resolveTurn) => setImmediate(resolveTurn));
        }
      } finally {
        this.rendering = false;
        state?.resetState();
        engine.resetState();
      }
    });
    await writeWav(path, out.subarray(0, Math.round(seconds * session.sampleRate)), session.sampleRate);
    return path;
  }
}

/** What the model that left at a switch would have played at the join (channel-major, the crossfade's samples of each channel). */
interface LeavingBlock {
  data: Float32Array;
  channels: number;
  sampleRate: number;
}

/** The first `samples` of each of `channels` channels laid one after the other. */
function keepPrefix(block: Float32Array, channels: number, samples: number): Float32Array {
  const length = block.length / channels;
  const out = new Float32Array(channels * samples);
  for (let c = 0; c < channels; c++) out.set(block.subarray(c * length, c * length + samples), c * samples);
  return out;
}
