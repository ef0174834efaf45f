// Changes while audio streams do not click: a change of state (a control, an attribute,
// a version, an interpolation) is crossfaded at the start of the next block, from how the
// blocks before go on (their last period repeated) into the block rendered once under the
// new state; without blocks before (the stream's first), the old state renders the block
// too and is mixed. Any other jump at a block join is declicked.
import type { Tensor } from "../tf.js";
import type { BendedModule, WeightPin } from "../bended/bended-module.js";

/** Runs a model computation under the state the output had before a change (what the weights do not hold: a control's old value, an attribute). */
export type PreviousState = (compute: () => Tensor) => Tensor;

/** What the next streamed block crossfades from: the weights the last block used, and how to undo the rest. */
export interface CrossfadeSource {
  weights: WeightPin;
  undo: PreviousState | null;
}

/** Mixes `from` into `to` in place, fading from all `from` to all `to` across the block. */
export function crossfade(from: Float32Array, to: Float32Array): void {
  const n = to.length;
  for (let i = 0; i < n; i++) {
    const a = n > 1 ? i / (n - 1) : 1;
    to[i] = from[i] * (1 - a) + to[i] * a;
  }
}

/**
 * Mixes `from`, the first `from.length / channels` samples of each channel of a block
 * (channel-major, like `to`), into `to` in place, fading from all `from` to all `to` across
 * those samples; the rest of `to` is left as it is.
 */
export function crossfadePrefix(from: Float32Array, to: Float32Array, channels: number): void {
  const fade = from.length / channels;
  const length = to.length / channels;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < fade; i++) {
      const a = fade > 1 ? i / (fade - 1) : 1;
      to[c * length + i] = from[c * fade + i] * (1 - a) + to[c * length + i] * a;
    }
  }
}

/**
 * Samples the crossfade after a change lasts (about 12 ms at 44.1 kHz). Where the old state
 * is rendered (no blocks before to continue), a method that takes latents renders only the
 * latent frames that cover it: a streaming model is causal, so the block's start is the
 * same from a shorter input.
 */
export const CROSSFADE_MIN_SAMPLES = 512;

/** A control step smaller than this fraction of the control's range (or of its value, unbounded) is inaudible: no crossfade, a declick. */
export const INAUDIBLE_STEP = 0.002;

/** Whether moving a control from `old` to `now` is too small a step to be heard (see INAUDIBLE_STEP). */
export function inaudibleStep(old: number, now: number, range?: readonly [number, number] | null): boolean {
  if (old === now) return true;
  const span = range && Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[1] > range[0] ? range[1] - range[0] : Math.max(Math.abs(old), Math.abs(now));
  return Math.abs(now - old) <= INAUDIBLE_STEP * span;
}

/**
 * Samples of each channel the stream keeps from its last blocks: what a crossfade after a
 * change continues when the old state is not rendered again (see `continuation`).
 */
export const CONTINUATION_TAIL = 2048;
/** Samples at the end of the tail that the continuation's period is matched on. */
const MATCH_SAMPLES = 256;
/** The shortest period searched (about 1.4 kHz at 44.1 kHz). */
const MIN_PERIOD = 32;
/** Below this normalised correlation the tail has no period worth repeating (noise). */
const PERIODIC = 0.5;

/**
 * `tail` (channel-major, `channels` channels) followed by `block` (channel-major), cut to
 * the last CONTINUATION_TAIL samples of each channel; `tail` null or of another channel
 * count starts from the block alone.
 */
export function appendTail(tail: Float32Array | null, block: Float32Array, channels: number): Float32Array {
  const frames = block.length / channels;
  const kept = tail !== null && tail.length % channels === 0 ? tail.length / channels : 0;
  const length = Math.min(CONTINUATION_TAIL, kept + frames);
  const out = new Float32Array(channels * length);
  for (let c = 0; c < channels; c++) {
    const fromBlock = Math.min(length, frames);
    const fromTail = length - fromBlock;
    if (fromTail > 0) out.set(tail!.subarray((c + 1) * kept - fromTail, (c + 1) * kept), c * length);
    out.set(block.subarray((c + 1) * frames - fromBlock, (c + 1) * frames), c * length + fromTail);
  }
  return out;
}

/**
 * The period that best continues `t` (normalised correlation of its last samples with
 * earlier ones), or 0 when it has none worth repeating (noise, silence, a tail too short).
 */
function bestPeriod(t: Float32Array): number {
  const n = t.length;
  const w = Math.min(MATCH_SAMPLES, Math.floor(n / 2));
  let refEnergy = 0;
  for (let i = n - w; i < n; i++) refEnergy += t[i] * t[i];
  const longest = n - w;
  if (refEnergy === 0 || longest < MIN_PERIOD) return 0;
  let best = 0;
  let bestScore = -Infinity;
  for (let p = MIN_PERIOD; p <= longest; p++) {
    let corr = 0;
    let energy = 0;
    for (let i = n - w; i < n; i++) {
      const v = t[i - p];
      corr += t[i] * v;
      energy += v * v;
    }
    const score = energy > 0 ? corr / Math.sqrt(energy * refEnergy) : -Infinity;
    if (score > bestScore) {
      bestScore = score;
      best = p;
    }
  }
  return bestScore >= PERIODIC ? best : 0;
}

/**
 * How the signal in `tail` (channel-major) would go on for `samples` more samples: the
 * last period of each channel repeated (the waveform substitution of packet-loss
 * concealment). A crossfade after a change fades from this instead of rendering the old
 * state again, so a change costs one render on every engine.
 */
export function continuation(tail: Float32Array, channels: number, samples: number): Float32Array {
  const n = tail.length / channels;
  const out = new Float32Array(channels * samples);
  for (let c = 0; c < channels; c++) {
    const t = tail.subarray(c * n, (c + 1) * n);
    const period = bestPeriod(t);
    if (period > 0) for (let i = 0; i < samples; i++) out[c * samples + i] = t[n - period + (i % period)];
    else {
      // No period: the tail read backwards from its end (then forwards again), which starts
      // at the very sample the stream ended on, so the join itself has no step.
      for (let i = 0; i < samples; i++) {
        const k = i % (2 * n);
        out[c * samples + i] = t[k < n ? n - 1 - k : k - n];
      }
    }
  }
  return out;
}

/** Samples over which a jump at a block join is faded out. */
export const DECLICK_SAMPLES = 128;

/**
 * Removes the step between the previous block's last sample and this block's start by
 * fading an offset out over the first samples, so a change of bending never clicks.
 */
export function declick(block: Float32Array, previous: number): void {
  const step = previous - block[0];
  const n = Math.min(DECLICK_SAMPLES, block.length);
  for (let i = 0; i < n; i++) block[i] += step * (1 - i / n);
}

/** The state the next block crossfades from, gathered over the changes since the last block. */
export class PendingCrossfade {
  private source: CrossfadeSource | null = null;

  /**
   * Applies a change: the old weights are pinned as the last block used them (no
   * recomputation); `undo` restores for the old render what weights do not hold. Several
   * changes between two blocks compose, so "old" is always the state of the last block.
   * `apply` returns whether anything changed; if it throws, nothing did.
   */
  change(model: BendedModule, apply: () => boolean, undo?: PreviousState): void {
    const pending = this.source;
    const weights = pending?.weights ?? model.pinWeights();
    let changed: boolean;
    try {
      changed = apply();
    } catch (e) {
      if (!pending) weights.dispose();
      throw e;
    }
    if (!changed) {
      if (!pending) weights.dispose();
      return;
    }
    // Undo the newest change first, then the older ones.
    const older = pending?.undo ?? null;
    const newest = undo ?? null;
    this.source = { weights, undo: newest && older ? (compute) => newest(() => older(compute)) : (newest ?? older) };
  }

  /** The pending source, which the caller now owns (null: no change since the last block). */
  take(): CrossfadeSource | null {
    const source = this.source;
    this.source = null;
    return source;
  }

  drop(): void {
    this.source?.weights.dispose();
    this.source = null;
  }
}
