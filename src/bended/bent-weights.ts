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

/** The weights passes read, computed once per (epoch, weights generation, control values). */
interface WeightCache {
  key: string;
  epoch: number;
  generation: number;
  overrides: Map<StateTensor, Tensor> | null;
  /** The bent weights, owned by the cache. */
  owned: Map<StateTensor, Tensor>;
  states: Map<string, StateTensor>;
  /** Each bent weight's chain and the control values it was computed with. */
  chains: Map<string, { links: ChainLink[]; signature: string }>;
}

export class BentWeights {
  readonly versions: VersionStore;
  currentVersion = DEFAULT_VERSION;
  interpolation: Interpolation | null = null;
  /** Weights a pass uses instead of the current ones while `withPinned` runs. */
  private pinned: WeightPin | null = null;
  private cache: WeightCache | null = null;

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
    const signatures = new Map([...chains].map(([name, links]) => [name, links.map((l) => l.callback.controlSignature()).join(";")] as const));
    const signature = [...signatures.values()].join(";");
    let averaged = false;
    if (this.interpolation && (this.interpolation.values === null || this.interpolation.generation !== stateGeneration())) {
      // First pass since the interpolation was set, or the module's own weights changed
      // (loadStateDict): the average must follow them.
      const weights = this.interpolation.weights;
      const values = this.versions.interpolate(weights);
      this.clearInterpolation();
      this.interpolation = { weights, values, generation: stateGeneration() };
      averaged = true;
    }
    const key = `${epoch}|${stateGeneration()}|${signature}`;
    if (this.cache?.key === key) return this.cache.overrides;
    // Only controls moved (same bendings, version and weights): recompute just the chains they drive.
    if (!averaged && this.cache?.epoch === epoch && this.cache.generation === stateGeneration() && this.rebendMoved(signatures)) {
      this.cache.key = key;
      return this.cache.overrides;
    }
    this.clearCache();
    const owned = new Map<StateTensor, Tensor>();
    const states = new Map<string, StateTensor>();
    const overrides = new Map<StateTensor, Tensor>();
    const usesVersion = this.interpolation !== null || this.currentVersion !== DEFAULT_VERSION;
    try {
      for (const [name, state] of this.module.namedStateTensors()) {
        const links = chains.get(name);
        if (links) {
          const bent = this.bend(name, state, links);
          owned.set(state, bent);
          states.set(name, state);
          overrides.set(state, bent);
        } else if (usesVersion) overrides.set(state, this.base(name, state));
      }
    } catch (e) {
      for (const t of owned.values()) t.dispose();
      throw e;
    }
    const result = overrides.size ? overrides : null;
    this.cache = { key, epoch, generation: stateGeneration(), overrides: result, owned, states, chains: new Map([...chains].map(([n, l]) => [n, { links: l, signature: signatures.get(n)! }])) };
    return result;
  }

  /** A weight of the version or interpolation in use, before bendings. */
  private base(name: string, state: StateTensor): Tensor {
    return this.interpolation ? this.interpolation.values!.get(name)! : this.versions.value(this.currentVersion, name, state);
  }

  private bend(name: string, state: StateTensor, links: ChainLink[]): Tensor {
    const base = this.base(name, state);
    return tf.keep(tf.tidy(() => links.reduce((x, l) => l.callback.apply(x, l.bound.state, l.bound.target), base)));
  }

  /**
   * Recomputes the cached chains whose controls moved, in a new overrides map (a pass that
   * holds the old one keeps its other tensors); false when the chains are not the cached ones.
   */
  private rebendMoved(signatures: Map<string, string>): boolean {
    const cache = this.cache!;
    if (cache.overrides === null || signatures.size !== cache.chains.size) return false;
    for (const name of signatures.keys()) if (!cache.chains.has(name) || !cache.states.has(name)) return false;
    const overrides = new Map(cache.overrides);
    for (const [name, signature] of signatures) {
      const chain = cache.chains.get(name)!;
      if (chain.signature === signature) continue;
      const state = cache.states.get(name)!;
      const bent = this.bend(name, state, chain.links);
      cache.owned.get(state)?.dispose();
      cache.owned.set(state, bent);
      overrides.set(state, bent);
      chain.signature = signature;
    }
    cache.overrides = overrides;
    return true;
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
    if (this.cache) for (const t of this.cache.owned.values()) t.dispose();
    this.cache = null;
  }

  /** Frees the interpolation, the versions and the cache. */
  dispose(): void {
    this.clearInterpolation();
    this.versions.dispose();
    this.clearCache();
  }
}
