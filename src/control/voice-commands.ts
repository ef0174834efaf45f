// The voice commands (`voices`, `voice`): how many voices run and each voice's latent input.
// Apart from voices.ts so that the Voices the renderer reads never depend on the command table.
import { BendingError } from "../errors.js";
import { DEFAULT_WALK_SPEED } from "./latent-walk.js";
import { noMore, number } from "./command-args.js";
import type { CommandContext, CommandSpec } from "./command-table.js";
import { MAX_VOICES, Voices } from "./voices.js";

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
