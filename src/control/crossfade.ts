// Changes while audio streams do not click: a change of state (a control, an attribute,
// a version, an interpolation) is crossfaded across the next block, rendered under the old
// state too and mixed; any other jump at a block join is declicked.
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
 * Samples the crossfade after a change lasts at least (about 12 ms at 44.1 kHz). For a
 * method that takes latents the old state renders only the latent frames that cover it:
 * a streaming model is causal, so the block's start is the same from a shorter input.
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
