// Voices, as mc.nn~ runs them: N independent voices of one model in one batched call
// (batch dimension N). Each voice has its own input (voice 1 the session's `input`,
// voices 2..N their own latent, walking on their own seed) and its own streaming state
// (row n of every cache: the model's state follows the batch); bendings, controls,
// attributes and versions are the model's, shared by all. The output block carries N ×
// out_channels channels, voice after voice (voice 1's channels first), and a method that
// takes audio takes N × in_channels channels the same way.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { LatentInput } from "./latent-input.js";
import type { SessionModel } from "./session-model.js";

export const MAX_VOICES = 16;

export class Voices {
  /** The latents of voices 2..N (voice 1's is the session's). */
  private others: LatentInput[] = [];

  get count(): number {
    return 1 + this.others.length;
  }

  /** N voices, each new one at a latent of `dim` values, walking (seed = its number) when the metadata has latent statistics. */
  set(count: number, dim: number, metadata: Record<string, string>): void {
    if (!Number.isInteger(count) || count < 1 || count > MAX_VOICES) throw new BendingError(`voices takes a whole number from 1 to ${MAX_VOICES}, got ${count}`);
    this.others = this.others.slice(0, count - 1);
    for (let k = this.others.length + 2; k <= count; k++) {
      const voice = new LatentInput();
      voice.reset(dim);
      voice.startFrom(metadata, true, k);
      this.others.push(voice);
    }
  }

  /** Back to one voice (a new model). */
  reset(): void {
    this.others = [];
  }

  /** Every voice's latent takes `dim` values (kept when it has them already). */
  resize(dim: number): void {
    for (const v of this.others) v.resize(dim);
  }

  /** The latent input of voice `k` (2..N; voice 1 is the session's). */
  voice(k: number): LatentInput {
    const v = this.others[k - 2];
    if (v === undefined) throw new BendingError(`voice ${k} does not exist (voices 1 to ${this.count}; 'voices <n>' sets how many)`);
    return v;
  }

  /** The batched latent input of one block: [N, z, frames], voice 1 from `first` (advanced already), the others advanced by `seconds`. */
  latentBlock(first: LatentInput, frames: number, seconds: number): Tensor {
    const z = first.target.length;
    const data = new Float32Array(this.count * z * frames);
    data.set(first.ramp(frames), 0);
    this.others.forEach((v, i) => {
      v.advance(seconds);
      data.set(v.ramp(frames), (i + 1) * z * frames);
    });
    return tf.tensor(data, [this.count, z, frames]);
  }

  /**
   * Every voice's latent where it is, held across `frames` frames ([N, z, frames]; voice 1
   * from `first`): nothing advances or ramps, so the stream's next block is as it would have been.
   */
  heldLatentBlock(first: LatentInput, frames: number): Tensor {
    const z = first.target.length;
    const data = new Float32Array(this.count * z * frames);
    [first, ...this.others].forEach((v, i) => {
      for (let c = 0; c < z; c++) data.fill(v.target[c], (i * z + c) * frames, (i * z + c + 1) * frames);
    });
    return tf.tensor(data, [this.count, z, frames]);
  }
}

/**
 * Refuses `count` voices where the model cannot run them: not a streaming audio model, or a
 * model whose streaming state does not follow the batch (caches of batch 1 only). A trial
 * block at the batch tells; the caller resets the streaming state afterwards.
 */
export function checkVoices(model: SessionModel, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_VOICES) throw new BendingError(`voices takes a whole number from 1 to ${MAX_VOICES}, got ${count}`);
  const bended = model.require();
  const spec = model.methodSpec();
  if (model.kind !== "audio" || spec === null) throw new BendingError(`model '${model.name}' does not stream audio methods; it runs one voice`);
  if (count === 1) return;
  const frames = model.blockSamples / spec.inRatio;
  let problem: string | null = null;
  try {
    tf.tidy(() => {
      const out = bended.call(model.method, tf.zeros([count, spec.inChannels, frames])) as Tensor;
      if (out.shape[0] !== count) problem = `its output has batch ${out.shape[0]}`;
    });
  } catch (e) {
    problem = e instanceof Error ? e.message : String(e);
  } finally {
    model.streamingState?.resetState();
  }
  if (problem !== null) {
    throw new BendingError(`model '${model.name}' cannot run ${count} voices of '${model.method}' in one batch (its streaming state or code is fixed at batch 1): ${problem}`);
  }
}
