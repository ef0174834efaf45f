// Callbacks that watch or mix passes rather than map values: Capture records an activation
// on every pass, InterpolateActivation morphs between the items of a batch, Lambda runs
// TypeScript code (never built from a message or a file).
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";

import {
  BendingCallback,
  registerCallback,
  type BendingTarget,
  type CallbackJSON,
  type TargetState,
} from "./callback.js";

import { resolveControl, type Controllable } from "./parameter.js";
import {
  MAX_CAPTURED_PASSES,
  passThrough,
  slot,
  where,
  requireNumber,
  numberArg,
  CatalogueCallback,
} from "./catalogue-base.js";

// --- Capture --------------------------------------------------------------------------------

export interface CaptureOptions {
  /** Passes kept per target, oldest dropped first (default 16). */
  maxPasses?: number;
}

interface Ring {
  /** Names it answers to: the activation name and `fn:name`. */
  names: string[];
  /** Its key as BendedModule prints it (`fn:name` outside the default method). */
  key: string;
  tensors: Tensor[];
}

/**
 * Records the activation of every pass (oldest first, the last `maxPasses` per target)
 * and passes it through unchanged. Activations only. The recorded tensors belong to the
 * Capture: `captured()` hands out clones the caller disposes; `clear()` frees the records;
 * removing the bending (or `reset()`) frees its targets' records.
 */
export class Capture extends CatalogueCallback {
  readonly type = "Capture";
  protected override readonly integerArguments: readonly string[] = ["maxPasses"];
  readonly maxPasses: number;
  /** Records by target state object (the state lives exactly as long as the bound target). */
  private readonly rings = new Map<TargetState, Ring>();

  constructor(options: CaptureOptions = {}) {
    super(0);
    this.maxPasses = options.maxPasses ?? 16;
    if (!(Number.isInteger(this.maxPasses) && this.maxPasses >= 1 && this.maxPasses <= MAX_CAPTURED_PASSES)) {
      throw new BendingError(`Capture keeps 1 to ${MAX_CAPTURED_PASSES} passes, got ${this.maxPasses}`);
    }
  }
  override get weightCompatible(): boolean {
    return false;
  }
  protected args() {
    return { maxPasses: this.maxPasses };
  }

  override init(target: BendingTarget): TargetState {
    const state: TargetState = {};
    const scoped = `${target.fn}:${target.name}`;
    // "forward" is BendedModule's default method, whose keys are unscoped (bending/ cannot import bended/).
    const key = target.fn === "forward" ? target.name : scoped;
    this.rings.set(state, { names: [target.name, scoped], key, tensors: [] });
    return state;
  }

  override disposeState(state: TargetState): void {
    const ring = this.rings.get(state);
    if (ring !== undefined) tf.dispose(ring.tensors);
    this.rings.delete(state);
    super.disposeState(state);
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const ring = this.rings.get(state);
    if (ring !== undefined) {
      // A kept clone shares x's data: no copy, and it outlives the pass's tidy.
      ring.tensors.push(tf.keep(tf.clone(x)));
      if (ring.tensors.length > this.maxPasses) ring.tensors.shift()!.dispose();
    }
    return passThrough(x, target);
  }

  /** Names of the targets with a record. */
  targets(): string[] {
    return [...this.rings.values()].map((r) => r.key);
  }

  /**
   * The recorded activations of a target (oldest first), as clones the caller owns and
   * disposes. `name` may be omitted when the Capture is bound to a single target.
   */
  captured(name?: string): Tensor[] {
    const rings = [...this.rings.values()];
    let ring: Ring | undefined;
    if (name === undefined) {
      if (rings.length > 1) throw new BendingError(`${this} records ${rings.length} targets; name one: ${this.targets().join(", ")}`);
      ring = rings[0];
    } else {
      ring = rings.find((r) => r.key === name) ?? rings.find((r) => r.names.includes(name));
      if (ring === undefined) throw new BendingError(`${this} records no '${name}' (targets: ${this.targets().join(", ") || "none"})`);
    }
    return ring === undefined ? [] : ring.tensors.map((t) => tf.clone(t));
  }

  /** Frees every recorded activation (the targets stay bound). */
  clear(): void {
    for (const ring of this.rings.values()) {
      tf.dispose(ring.tensors);
      ring.tensors = [];
    }
  }
}

// --- InterpolateActivation --------------------------------------------------------------------

/**
 * Replaces every batch item of an activation by the weighted mean of the batch items,
 * Σ wᵢ·x[i] / Σ wᵢ, so a batch of two inputs can be morphed between ([1, 0] gives the
 * first everywhere, [1, 1] the midpoint, [0, 1] the second). One weight per batch item
 * (the batch size is fixed to weights.length); weights may be live controls, and negative
 * ones extrapolate as long as their sum is not 0. Activations only; it interpolates
 * within a batch (no recorded source is needed).
 */
export class InterpolateActivation extends CatalogueCallback {
  readonly type = "InterpolateActivation";
  readonly weights: readonly Controllable[];

  constructor(weights: readonly Controllable[]) {
    super(0);
    if (!Array.isArray(weights) || weights.length === 0) {
      throw new BendingError("InterpolateActivation needs one weight per batch item, e.g. [1, 0]");
    }
    weights.forEach((w, i) => requireNumber(`InterpolateActivation weights[${i}]`, w));
    this.weights = [...weights];
  }
  override get weightCompatible(): boolean {
    return false;
  }
  protected args() {
    return { weights: this.weights };
  }

  private normalised(target: BendingTarget): number[] {
    const w = this.weights.map(resolveControl);
    const sum = w.reduce((a, b) => a + b, 0);
    if (sum === 0) throw new BendingError(`${this} on ${where(target)}: the weights sum to 0`);
    return w.map((v) => v / sum);
  }

  /** A [B, B] matrix whose rows are the normalised weights: one matMul mixes the batch. */
  private static matrix(w: number[]): Tensor {
    return tf.tile(tf.tensor2d(w, [1, w.length]), [w.length, 1]);
  }

  override init(target: BendingTarget): TargetState {
    const b = this.weights.length;
    if (target.shape.length === 0 || target.shape[0] !== b) {
      throw new BendingError(
        `${this} has ${b} weights, one per batch item, but ${where(target)} has traced shape ${formatShape(target.shape)}; ` +
          `trace with a batch of ${b}`,
      );
    }
    this.normalised(target); // a zero sum fails at bend time
    return { mix: null };
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const b = this.weights.length;
    if (x.rank === 0 || x.shape[0] !== b) {
      throw new BendingError(`${this} on ${where(target)} needs a batch of ${b}, got shape ${formatShape(x.shape)}`);
    }
    const w = this.normalised(target);
    const mix = slot(state, "mix", w.join(","), () => InterpolateActivation.matrix(w));
    return tf.reshape(tf.matMul(mix, tf.reshape(x, [b, -1])), x.shape);
  }
}

// --- Lambda -----------------------------------------------------------------------------------

export interface LambdaOptions {
  /** Shown in the repr: Lambda(name='fold'). Defaults to the function's name. */
  name?: string;
}

/**
 * Any TypeScript function of the tensor (weights and activations). It runs inside the
 * pass's tidy: return a tensor it made (or `x` itself), never one kept elsewhere. A
 * Lambda is code: it cannot be saved in a config, nor created from a message or a file.
 */
export class Lambda extends CatalogueCallback {
  readonly type = "Lambda";
  readonly name: string | undefined;
  constructor(readonly fn: (x: Tensor, target: BendingTarget) => Tensor, options: LambdaOptions = {}) {
    super(0);
    if (typeof fn !== "function") throw new BendingError("Lambda needs a function (x) => tensor");
    this.name = options.name ?? (fn.name || undefined);
  }
  protected args() {
    return { name: this.name };
  }
  apply(x: Tensor, _state: TargetState, target: BendingTarget): Tensor {
    const y = this.fn(x, target);
    if (!(y instanceof tf.Tensor)) throw new BendingError(`${this} on ${where(target)} returned ${typeof y}, not a tensor`);
    if (target.kind === "weight" && y.shape.join() !== x.shape.join()) {
      throw new BendingError(`${this} changed the shape of ${where(target)} from ${formatShape(x.shape)} to ${formatShape(y.shape)}`);
    }
    return y === x ? passThrough(x, target) : y;
  }
  override toJSON(): CallbackJSON {
    throw new BendingError(
      `${this} is TypeScript code and cannot be saved in a bending config; ` +
        `remove it (handle.remove() or bended.unbend(pattern)) before saving, and bend it again in code after loading`,
    );
  }
  /** Only the same Lambda: two functions cannot be compared. */
  override equals(other: BendingCallback): boolean {
    return other === this;
  }
}

registerCallback("Capture", (args) =>
  new Capture({ maxPasses: typeof args.maxPasses === "number" ? args.maxPasses : undefined }),
  { maxPasses: { kind: "integer", min: 1, max: MAX_CAPTURED_PASSES } });
registerCallback("InterpolateActivation", (args, _seed, controls) => {
  if (!Array.isArray(args.weights)) throw new BendingError("a saved InterpolateActivation needs its weights list");
  return new InterpolateActivation(args.weights.map((w) => numberArg(w, controls) ?? Number.NaN));
}, { weights: { kind: "numbers" } });
// Registered so that a message or file naming it gets the reason, not "unknown callback".
registerCallback("Lambda", () => {
  throw new BendingError("a Lambda is TypeScript code: it cannot be created from a message or a file; bend it in code");
});
