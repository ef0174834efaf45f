// The modulators' commands: `lfo`, `env` and its `trigger`, `follow`. They run on the
// inference thread with the other commands; the session evaluates the modulators once
// per block (see applyModulators) and `set` stops a control's modulator.
import { BendingError } from "../errors.js";
import type { BendingParameter } from "../bending/parameter.js";
import { noMore, number, symbol } from "./command-args.js";
import type { CommandContext, CommandSpec } from "./command-table.js";
import { Envelope, Follower, isLfoShape, Lfo, LFO_SHAPES } from "./modulators.js";

function controlNamed(s: CommandContext, name: string): BendingParameter {
  const model = s.requireModel();
  const control = model.controls().find((c) => c.name === name);
  if (!control) throw new BendingError(`unknown control '${name}' (controls: ${model.controls().map((c) => c.name).join(", ") || "none"})`);
  return control;
}

/** An end of the control's range, or the value given instead; an open end without one is an error. */
function rangeEnd(control: BendingParameter, end: 0 | 1, given: number | undefined, what: string, usage: string): number {
  if (given !== undefined) return given;
  const v = control.range?.[end];
  if (v === undefined || !Number.isFinite(v)) throw new BendingError(`control '${control.name}' has no ${end === 0 ? "lower" : "upper"} bound; give the ${what}: ${usage}`);
  return v;
}

export const MODULATOR_COMMANDS: readonly CommandSpec[] = [
  {
    name: "lfo",
    usage: `lfo <control> ${LFO_SHAPES.join("|")} <rate Hz> <depth> [seed <s>]`,
    help: "move a control around its current value by a waveform, once per block on the stream's block time (clamped to its range); 'set' stops it",
    run: (s, a) => {
      const usage = `lfo <control> ${LFO_SHAPES.join("|")} <rate Hz> <depth> [seed <s>]`;
      const control = controlNamed(s, symbol(a, 0, "control"));
      const shape = symbol(a, 1, "shape");
      if (!isLfoShape(shape)) throw new BendingError(`lfo shape must be one of ${LFO_SHAPES.join(", ")}, got '${shape}'`);
      const rate = number(a, 2, "rate");
      const depth = number(a, 3, "depth");
      let seed = 0;
      if (a.length > 4) {
        if (symbol(a, 4, "'seed'") !== "seed") throw new BendingError(`usage: ${usage}`);
        seed = number(a, 5, "seed");
      }
      noMore(a, a.length > 4 ? 6 : 4, usage);
      s.modulators.start(control, new Lfo(shape, rate, depth, seed));
      return { values: [control.name, shape, rate, depth] };
    },
  },
  {
    name: "env",
    usage: "env <control> <attack s> <hold s> <release s> [<peak>]",
    help: "an attack/hold/release envelope on a control, fired by 'trigger <control>'; it rises from the control's value to the peak (default: the top of its range)",
    run: (s, a) => {
      const usage = "env <control> <attack s> <hold s> <release s> [<peak>]";
      const control = controlNamed(s, symbol(a, 0, "control"));
      const attack = number(a, 1, "attack");
      const hold = number(a, 2, "hold");
      const release = number(a, 3, "release");
      const peak = rangeEnd(control, 1, a.length > 4 ? number(a, 4, "peak") : undefined, "peak", usage);
      noMore(a, 5, usage);
      s.modulators.start(control, new Envelope(attack, hold, release, peak));
      return { values: [control.name, attack, hold, release, peak] };
    },
  },
  {
    name: "trigger",
    usage: "trigger <control>",
    help: "fire the envelope of a control (see 'env'): attack, hold, release from the next block",
    run: (s, a) => {
      const name = symbol(a, 0, "control");
      noMore(a, 1, "trigger <control>");
      controlNamed(s, name);
      const modulator = s.modulators.get(name);
      if (!(modulator instanceof Envelope)) throw new BendingError(`control '${name}' has no envelope; send 'env ${name} <attack> <hold> <release>' first`);
      modulator.trigger();
      return { values: [name] };
    },
  },
  {
    name: "follow",
    usage: "follow <control> [<low> <high>]",
    help: "the live input's level (block peak, 0..1) drives a control from low to high (default: its range)",
    run: (s, a) => {
      const usage = "follow <control> [<low> <high>]";
      const control = controlNamed(s, symbol(a, 0, "control"));
      if (a.length !== 1 && a.length !== 3) throw new BendingError(`usage: ${usage}`);
      const spec = s.methodSpec();
      if (!spec || spec.inRatio !== 1) throw new BendingError(`method '${s.method}' takes no live input; follow needs a method that takes audio`);
      const low = rangeEnd(control, 0, a.length === 3 ? number(a, 1, "low") : undefined, "low and high", usage);
      const high = rangeEnd(control, 1, a.length === 3 ? number(a, 2, "high") : undefined, "low and high", usage);
      s.modulators.start(control, new Follower(low, high));
      return { values: [control.name, low, high] };
    },
  },
];
