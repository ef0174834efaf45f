// The weights a pass reads: the version in use or an interpolation of versions, with the
// weight bendings applied, computed once and cached; and pins that hold them for later.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, StateTensor, stateGeneration } from "../nn/module.js";
import { DEFAULT_VERSION, stateBytes, VersionStore, type StateValues } from "./versions.js";
import type { ChainLink } from "./bendings.js";

/** Weights held for later passes (see `BendedModule.pinWeights`): null overrides means the module's own. */
export interface WeightPin {
  readonly overrides: Map<StateTensor, Tensor> | null;
  dispose(): void;
}

/**
 * The interpolation in effect. Its average is computed by the first pass that needs it
 * (`values` null until then), so several interpolations between two passes cost one, and
 * again when the module's own weights change (another generation).
 */
export interface Interpolation {
  weights: Record<string, number>;
  values: StateValues | null;
  generation: number;
}

export class BentWeights {
  readonly versions: VersionStore;
  currentVersion = DEFAULT_VERSION;
  interpolation: Interpolation | null = null;
  /** Weights a pass uses instead of the current ones while `withPinned` runs. */
  private pinned: WeightPin | null = null;
  private cache: { key: string; overrides: Map<StateTensor, Tensor> | null; owned: Tensor[] } | null = null;

  constructor(private readonly module: Module) {
    this.versions = new VersionStore(() => this.module.namedStateTensors());
  }

  /** Switches to version `name` (checked), ending any interpolation. */
  select(name: string): void {
    this.versions.check(name);
    this.clearInterpolation();
    this.currentVersion = name;
  }

  /** Stores `values` as version `name` and switches to it. */
  store(name: string, values: Record<string, Tensor>): void {
    this.versions.set(name, new Map(Object.entries(values)));
    this.clearInterpolation();
    this.currentVersion = name;
  }

  /** The weights and buffers of a version (tensors owned by the version store). */
  stateDictOf(name: string): Record<string, Tensor> {
    this.versions.check(name);
    const out: Record<string, Tensor> = {};
    for (const [key, state] of this.module.namedStateTensors()) out[key] = this.versions.value(name, key, state);
    return out;
  }

  /** Deletes a stored version unless it is `_default`, in use, or part of the interpolation. */
  deleteVersion(name: string): void {
    if (name === DEFAULT_VERSION) throw new BendingError(`'${DEFAULT_VERSION}' holds the original weights and cannot be deleted`);
    this.versions.check(name);
    if (this.interpolation && name in this.interpolation.weights) {
      throw new BendingError(`version '${name}' is part of the interpolation in effect; switch version first ('version default')`);
    }
    if (this.currentVersion === name) {
      throw new BendingError(`version '${name}' is in use; switch to another first ('version default')`);
    }
    this.versions.delete(name);
  }

  /** Sets the interpolation in effect; its average is computed by the next pass. */
  startInterpolation(weights: Record<string, number>): void {
    this.versions.checkWeights(weights);
    this.clearInterpolation();
    this.interpolation = { weights: { ...weights }, values: null, generation: stateGeneration() };
  }

  /**
   * The tensors parameters/buffers read during a bended pass, or null when the module's
   * own are used. Cached until a bending (the `epoch`), a control driving a weight bending,
   * or the version changes.
   */
  overrides(chains: Map<string, ChainLink[]>, epoch: number): Map<StateTensor, Tensor> | null {
    const signature = [...chains.values()].flat().map((l) => l.callback.controlSignature()).join(";");
    if (this.interpolation && (this.interpolation.values === null || this.interpolation.generation !== stateGeneration())) {
      // First pass since the interpolation was set, or the module's own weights changed
      // (loadStateDict): the average must follow them.
      const weights = this.interpolation.weights;
      const values = this.versions.interpolate(weights);
      this.clearInterpolation();
      this.interpolation = { weights, values, generation: stateGeneration() };
    }
    const key = `${epoch}|${stateGeneration()}|${signature}`;
    if (this.cache?.key === key) return this.cache.overrides;
    this.clearCache();
    const owned: Tensor[] = [];
    const overrides = new Map<StateTensor, Tensor>();
    const usesVersion = this.interpolation !== null || this.currentVersion !== DEFAULT_VERSION;
    try {
      for (const [name, state] of this.module.namedStateTensors()) {
        const base = this.interpolation
          ? this.interpolation.values!.get(name)!
          : this.versions.value(this.currentVersion, name, state);
        const links = chains.get(name);
        if (links) {
          const bent = tf.keep(tf.tidy(() => links.reduce((x, l) => l.callback.apply(x, l.bound.state, l.bound.target), base)));
          owned.push(bent);
          overrides.set(state, bent);
        } else if (usesVersion) overrides.set(state, base);
      }
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
    const result = overrides.size ? overrides : null;
    this.cache = { key, overrides: result, owned };
    return result;
  }

  /** What a bended pass reads: the pinned weights while `withPinned` runs, else `overrides`. */
  passOverrides(chains: () => Map<string, ChainLink[]>, epoch: number): Map<StateTensor, Tensor> | null {
    return this.pinned ? this.pinned.overrides : this.overrides(chains(), epoch);
  }

  /** A pin of the current overrides: clones sharing the data, freed by its `dispose()`. */
  pin(current: Map<StateTensor, Tensor> | null): WeightPin {
    const overrides = current === null ? null : new Map([...current].map(([state, t]) => [state, tf.clone(t)] as const));
    let disposed = false;
    return {
      overrides,
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (overrides) for (const t of overrides.values()) t.dispose();
      },
    };
  }

  withPinned<T>(pin: WeightPin, fn: () => T): T {
    const saved = this.pinned;
    this.pinned = pin;
    try {
      return fn();
    } finally {
      this.pinned = saved;
    }
  }

  /** Runs `enter` then `fn`, and restores the version and interpolation afterwards (`changed` then). */
  temporarily<T>(enter: () => void, fn: () => T, changed: () => void): T {
    const savedVersion = this.currentVersion;
    const savedInterpolation = this.interpolation;
    this.interpolation = null; // keep the saved one alive while fn runs
    try {
      enter();
      return fn();
    } finally {
      this.clearInterpolation();
      this.currentVersion = savedVersion;
      this.interpolation = savedInterpolation;
      changed();
    }
  }

  clearInterpolation(): void {
    if (this.interpolation?.values) for (const t of this.interpolation.values.values()) t.dispose();
    this.interpolation = null;
  }

  /** Bytes held by stored versions and the interpolation in effect. */
  bytes(): number {
    return this.versions.bytes() + (this.interpolation?.values ? stateBytes(this.interpolation.values.values()) : 0);
  }

  private clearCache(): void {
    if (this.cache) for (const t of this.cache.owned) t.dispose();
    this.cache = null;
  }

  /** Frees the interpolation, the versions and the cache. */
  dispose(): void {
    this.clearInterpolation();
    this.versions.dispose();
    this.clearCache();
  }
}
