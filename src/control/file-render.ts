// `render <in.wav> <out.wav>`: a sound file through a method that takes audio, offline and
// as fast as the model runs, block by block on a fresh copy of the streaming state: the
// same samples as streaming the file, and a stream that runs meanwhile is left as it was.
import { takeFloats, tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { readWav, writeWav } from "../formats/media.js";
import type { StreamingState } from "../nn/streaming-state.js";
import { SafetyStage } from "./safety.js";
import type { SessionModel } from "./session-model.js";

/**
 * A streaming state of its own beside the model's: each `run` swaps it in, computes, and
 * swaps the model's back, so a stream between two runs carries on from its own past.
 */
export class DetachedState {
  /** The detached past (null: fresh, the state the model was loaded with). */
  private own: unknown = null;

  constructor(private readonly state: StreamingState) {
    if (!state.snapshotState || !state.restoreState) throw new BendingError("this model cannot copy its streaming state");
  }

  /** Runs `compute` (synchronous: nothing else runs on the model meanwhile) on the detached state. */
  run<T>(compute: () => T): T {
    const state = this.state;
    const theirs = state.snapshotState!();
    if (this.own === null) state.resetState();
    else state.restoreState!(this.own);
    try {
      return compute();
    } finally {
      this.own = state.snapshotState!();
      state.restoreState!(theirs);
    }
  }

  /** Frees the detached past (restored once over the model's own, which is then put back). */
  dispose(): void {
    if (this.own === null) return;
    const theirs = this.state.snapshotState!();
    this.state.restoreState!(this.own);
    this.state.restoreState!(theirs);
    this.own = null;
  }
}

export interface FileRenderSources {
  model: SessionModel;
  safetyEnabled(): boolean;
  streaming(): boolean;
}

/** Renders the WAV file at `inPath` through the current method into `outPath` (both resolved already); returns `outPath`. */
export async function renderAudioFile(sources: FileRenderSources, inPath: string, outPath: string): Promise<string> {
  const { model: session } = sources;
  const model = session.require();
  const spec = session.methodSpec();
  if (session.kind !== "audio" || !spec || spec.inRatio !== 1) {
    throw new BendingError(`method '${session.method}' does not take audio; render <in.wav> <out.wav> runs a method that does (e.g. 'method forward')`);
  }
  if (spec.outRatio !== 1) throw new BendingError(`method '${spec.name}' does not output audio; render <in.wav> <out.wav> runs a method that does (e.g. 'method forward')`);
  if (!inPath.endsWith(".wav") || !outPath.endsWith(".wav")) throw new BendingError("render reads and writes WAV files: render <in.wav> <out.wav>");
  let input: { samples: Float32Array; sampleRate: number };
  try {
    input = await readWav(inPath);
  } catch (e) {
    throw new BendingError(`cannot read '${inPath}' as a WAV file: ${(e as Error).message}`);
  }
  if (input.sampleRate !== session.sampleRate) throw new BendingError(`'${inPath}' is at ${input.sampleRate} Hz; model '${session.name}' runs at ${session.sampleRate} Hz`);
  const length = input.samples.length;
  if (length === 0) throw new BendingError(`'${inPath}' holds no samples`);
  if (length > 600 * session.sampleRate) throw new BendingError("render takes files of up to 600 seconds");
  const state = session.streamingState;
  // Without a copy of the state, a render would take the stream's: it waits for the stream to stop.
  const canCopy = state?.snapshotState !== undefined && state.restoreState !== undefined;
  if (sources.streaming() && !canCopy) throw new BendingError("this model cannot copy its streaming state; stop the stream before rendering ('stream stop')");
  const detached = state && canCopy ? new DetachedState(state) : null;
  if (!detached) state?.resetState();
  const block = session.blockSamples;
  const blocks = Math.ceil(length / block);
  const channels = spec.inChannels;
  const out = new Float32Array(blocks * block * spec.outChannels);
  const safety = new SafetyStage();
  try {
    for (let b = 0; b < blocks; b++) {
      // the file's mono signal on every input channel, the last block padded with silence
      const data = new Float32Array(channels * block);
      const part = input.samples.subarray(b * block, Math.min(length, (b + 1) * block));
      for (let c = 0; c < channels; c++) data.set(part, c * block);
      const tensor = tf.tensor(data, [1, channels, block]);
      let result: Tensor;
      try {
        const compute = () => model.call(session.method, tensor) as Tensor;
        result = detached ? detached.run(compute) : compute();
      } finally {
        tensor.dispose();
      }
      const samples = await takeFloats(result);
      if (sources.safetyEnabled()) safety.process(samples);
      out.set(samples, b * block * spec.outChannels);
      // Let other commands (and the stream's blocks) run between blocks of a long render.
      await new Promise((resolveTurn) => setImmediate(resolveTurn));
    }
  } finally {
    detached?.dispose();
    if (!detached) state?.resetState();
  }
  // channel-major blocks → the first output channel (mono), as the stream's audio
  const mono = new Float32Array(length);
  for (let b = 0; b < blocks; b++) mono.set(out.subarray(b * block * spec.outChannels, b * block * spec.outChannels + block).subarray(0, Math.min(block, length - b * block)), b * block);
  await writeWav(outPath, mono, session.sampleRate);
  return outPath;
}
