// Voices, as mc.nn~ runs them: N independent voices of one model in one batched call
// (batch dimension N). Each voice has its own input (voice 1 the session's `input`,
// voices 2..N their own latent, walking on their own seed) and its own streaming state
// (row n of every cache: the model's state follows the batch); bendings, controls,
// attributes and versions are the model's, shared by all. The output block carries N ×
// out_channels channels, voice after voice (voice 1's channels first), and a method that
// takes audio takes N × in_channels channels the same way.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { DEFAULT_WALK_SPEED } from "./latent-walk.js";
import { LatentInput } from "./latent-input.js";
import { noMore, number } from "./command-args.js";
import type { CommandContext, CommandSpec } from "./command-table.js";
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

/** What the voice commands need from the session beyond CommandContext. */
export interface VoiceContext {
  readonly voices: Voices;
  /** Runs `count` voices (checked: the model's streaming state must follow the batch). */
  setVoices(count: number): void;
}

export const VOICE_COMMANDS: readonly CommandSpec[] = [
  {
    name: "voices",
    usage: "voices [<n>]",
    help: `run n independent voices (1 to ${MAX_VOICES}) of the model in one batched call, as mc.nn~: each its own input and streaming state, bendings shared; output n × out_channels channels, voice after voice. Without n: how many run`,
    run: (s, a) => {
      noMore(a, 1, "voices [<n>]");
      const v = voiceContext(s);
      if (a.length === 1) v.setVoices(number(a, 0, "number of voices"));
      return { values: [v.voices.count] };
    },
  },
  {
    name: "voice",
    usage: "voice <k> <latent values...> | voice <k> walk [speed] | voice <k> hold",
    help: "the latent input of voice k (1 to n; voice 1's is also 'input'), as 'input' sets it",
    run: (s, a) => {
      const v = voiceContext(s);
      const k = number(a, 0, "voice");
      if (!Number.isInteger(k) || k < 1 || k > v.voices.count) throw new BendingError(`voice ${k} does not exist (voices 1 to ${v.voices.count}; 'voices <n>' sets how many)`);
      s.requireModel();
      const rest = a.slice(1);
      if (k === 1) {
        noMore(rest, rest[0] === "walk" ? 2 : rest[0] === "hold" ? 1 : rest.length, "voice <k> walk [speed] | voice <k> hold");
        if (rest[0] === "walk") s.walkLatent(rest[1] === undefined ? DEFAULT_WALK_SPEED : number(rest, 1, "walk speed"));
        else if (rest[0] === "hold") s.holdLatent();
        else s.setLatent(latentValues(rest));
        return { values: [k, ...s.latent] };
      }
      const voice = v.voices.voice(k);
      if (rest[0] === "walk") {
        noMore(rest, 2, "voice <k> walk [speed]");
        voice.walkAt(rest[1] === undefined ? DEFAULT_WALK_SPEED : number(rest, 1, "walk speed"), s.modelName);
      } else if (rest[0] === "hold") {
        noMore(rest, 1, "voice <k> hold");
        voice.hold(s.modelName);
      } else {
        voice.set(latentValues(rest), s.modelName);
      }
      return { values: [k, ...voice.target] };
    },
  },
];

function latentValues(a: readonly (string | number)[]): number[] {
  if (a.length === 0) throw new BendingError("missing latent values; usage: voice <k> <latent values...> | voice <k> walk [speed] | voice <k> hold");
  return a.map((_, i) => number([...a], i, `latent value ${i + 1}`));
}

function voiceContext(s: CommandContext): VoiceContext {
  const v = s as CommandContext & Partial<VoiceContext>;
  if (!(v.voices instanceof Voices) || typeof v.setVoices !== "function") throw new BendingError("this session runs one voice");
  return v as CommandContext & VoiceContext;
}
