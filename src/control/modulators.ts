// Controls that move by themselves: an LFO, an envelope fired by a trigger, and a follower
// of the live input's level. Each is evaluated once per block, on block time (the block's
// duration, not the wall clock), so a render gives the same values every time. A control
// has at most one modulator; the value it rests at is the one it had when the first
// modulator took it, and every value is clamped into the control's range.
import { BendingError } from "../errors.js";
import { tf } from "../tf.js";
import { DerivedParameter, type BendingParameter } from "../bending/parameter.js";
import { moveControl, type ControlChangeTarget } from "./control-change.js";

export const LFO_SHAPES = ["sine", "triangle", "square", "saw", "random"] as const;
export type LfoShape = (typeof LFO_SHAPES)[number];

export function isLfoShape(word: string): word is LfoShape {
  return (LFO_SHAPES as readonly string[]).includes(word);
}

/** Uniform in [-1, 1), drawn from (seed, cycle): the random LFO's value through one cycle. */
function heldRandom(seed: number, cycle: number): number {
  return tf.tidy(() => tf.randomUniform([1], -1, 1, "float32", (seed * 1_000_003 + cycle) % 2 ** 31).dataSync()[0]);
}

/**
 * The LFO's waveform at `phase` cycles, in [-1, 1]. Sine and triangle start at 0 rising,
 * square is +1 for the first half cycle, saw rises from -1 to 1, random holds a seeded
 * value for a whole cycle.
 */
export function lfoWave(shape: LfoShape, phase: number, seed = 0): number {
  const p = phase - Math.floor(phase);
  switch (shape) {
    case "sine": return Math.sin(2 * Math.PI * p);
    case "triangle": return p < 0.25 ? 4 * p : p < 0.75 ? 2 - 4 * p : 4 * p - 4;
    case "square": return p < 0.5 ? 1 : -1;
    case "saw": return 2 * p - 1;
    case "random": return heldRandom(seed, Math.floor(phase));
  }
}

/** What a modulator's value for one block depends on besides its own clock. */
export interface BlockContext {
  /** The control's resting value (the centre of an LFO, the floor of an envelope). */
  rest: number;
  /** The control's range ([-inf, inf] when it has none). */
  range: readonly [number, number];
  /** Peak level of this block's live input, 0..1 (0: silence or no live input). */
  level: number;
}

/**
 * Seconds of block time: blocks counted and multiplied rather than durations summed, so
 * that block 10 of 0.1 s is at 1 s exactly and a cycle or a stage ends on its block.
 */
class BlockTime {
  private base = 0;
  private blocks = 0;
  private seconds = 0;

  /** Seconds elapsed at the start of the next block (to the nanosecond). */
  get now(): number {
    return Math.round((this.base + this.blocks * this.seconds) * 1e9) / 1e9;
  }

  advance(seconds: number): void {
    if (seconds !== this.seconds) {
      this.base += this.blocks * this.seconds;
      this.blocks = 0;
      this.seconds = seconds;
    }
    this.blocks++;
  }
}

export interface Modulator {
  /** How `controls` names it, e.g. `lfo sine 0.5 0.2`. */
  describe(): string;
  /** The control's value for this block; then its clock moves on by `seconds`. */
  next(context: BlockContext, seconds: number): number;
}

function clampTo(range: readonly [number, number], v: number): number {
  return Math.min(range[1], Math.max(range[0], v));
}

export class Lfo implements Modulator {
  private readonly time = new BlockTime();

  constructor(readonly shape: LfoShape, readonly rate: number, readonly depth: number, readonly seed = 0) {
    if (!(rate >= 0 && rate <= 1000)) throw new BendingError(`lfo rate must be between 0 and 1000 Hz, got ${rate}`);
    if (!Number.isFinite(depth)) throw new BendingError(`lfo depth must be a finite number, got ${depth}`);
  }

  describe(): string {
    return `lfo ${this.shape} ${this.rate} ${this.depth}${this.shape === "random" ? ` seed ${this.seed}` : ""}`;
  }

  next({ rest, range }: BlockContext, seconds: number): number {
    // Cycles elapsed, to the nanocycle (block 10 of a 1 Hz LFO at 10 blocks a second starts cycle 1).
    const phase = Math.round(this.time.now * this.rate * 1e9) / 1e9;
    this.time.advance(seconds);
    return clampTo(range, rest + this.depth * lfoWave(this.shape, phase, this.seed));
  }
}

/**
 * Attack, hold, release: idle at rest until triggered, then a linear rise from where it
 * was to the peak over `attack` seconds, the peak for `hold`, and a linear fall to rest
 * over `release`. A trigger during a run starts the attack again from the current value.
 */
export class Envelope implements Modulator {
  /** Block time since the trigger (null: idle). */
  private elapsed: BlockTime | null = null;
  /** Where the attack starts (the value when it was triggered). */
  private from: number | null = null;
  private last: number | null = null;

  constructor(readonly attack: number, readonly hold: number, readonly release: number, readonly peak: number) {
    for (const [name, v] of [["attack", attack], ["hold", hold], ["release", release]] as const) {
      if (!(v >= 0 && v <= 3600)) throw new BendingError(`env ${name} must be between 0 and 3600 seconds, got ${v}`);
    }
  }

  describe(): string {
    return `env ${this.attack} ${this.hold} ${this.release} ${this.peak}${this.elapsed === null ? "" : " running"}`;
  }

  trigger(): void {
    this.elapsed = new BlockTime();
    this.from = this.last;
  }

  get running(): boolean {
    return this.elapsed !== null;
  }

  next({ rest, range }: BlockContext, seconds: number): number {
    const peak = clampTo(range, this.peak);
    const t = this.elapsed?.now ?? null;
    let value = rest;
    if (t !== null) {
      const from = this.from ?? rest;
      const { attack, hold, release } = this;
      if (t < attack) value = from + ((peak - from) * t) / attack;
      else if (t < attack + hold) value = peak;
      else if (t < attack + hold + release) value = peak + ((rest - peak) * (t - attack - hold)) / release;
      else this.elapsed = null;
      this.elapsed?.advance(seconds);
    }
    this.last = clampTo(range, value);
    return this.last;
  }
}

/** The live input's block peak (0..1) mapped onto [low, high]. */
export class Follower implements Modulator {
  constructor(readonly low: number, readonly high: number) {
    if (!Number.isFinite(low) || !Number.isFinite(high)) throw new BendingError(`follow needs a finite low and high, got ${low} and ${high}`);
  }

  describe(): string {
    return `follow ${this.low} ${this.high}`;
  }

  next({ range, level }: BlockContext): number {
    return clampTo(range, this.low + (this.high - this.low) * Math.min(1, Math.max(0, level)));
  }
}

interface Driven {
  control: BendingParameter;
  modulator: Modulator;
  rest: number;
}

/** The modulators of a session's controls, one per control at most. */
export class Modulators {
  private readonly driven = new Map<string, Driven>();

  /** Drives `control` with `modulator` (replacing its modulator; the resting value stays the first one's). */
  start(control: BendingParameter, modulator: Modulator): void {
    if (control instanceof DerivedParameter) throw new BendingError(`control '${control.name}' is derived from another one; modulate that one instead`);
    const rest = this.driven.get(control.name)?.rest ?? control.value;
    this.driven.set(control.name, { control, modulator, rest });
  }

  /** Stops the modulator of a control (the control stays where the last block left it); false if none. */
  stop(name: string): boolean {
    return this.driven.delete(name);
  }

  clear(): void {
    this.driven.clear();
  }

  get(name: string): Modulator | undefined {
    return this.driven.get(name)?.modulator;
  }

  /** How `controls` names a control's modulator ("" when none drives it). */
  describe(name: string): string {
    return this.driven.get(name)?.modulator.describe() ?? "";
  }

  get size(): number {
    return this.driven.size;
  }

  /** Each modulated control and its value for this block; every modulator's clock then moves on by `seconds`. */
  step(seconds: number, level: number): Array<[BendingParameter, number]> {
    const moves: Array<[BendingParameter, number]> = [];
    for (const { control, modulator, rest } of this.driven.values()) {
      const range = control.range ?? [-Infinity, Infinity];
      moves.push([control, modulator.next({ rest, range, level }, seconds)]);
    }
    return moves;
  }
}

/**
 * Once per block, before it is computed: moves every modulated control to its value for
 * this block, each move crossfaded like a `set` (see moveControl).
 */
export function applyModulators(target: ControlChangeTarget, modulators: Modulators, seconds: number, level: number): void {
  if (modulators.size === 0) return;
  for (const [control, value] of modulators.step(seconds, level)) {
    if (value !== control.value) moveControl(target, control, value);
  }
}
