// Named sets of weights: `_default` is the module's own state (never copied); other
// versions hold kept copies. Interpolation is the normalised weighted average of
// versions' weights.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { sameShape, type StateTensor } from "../nn/module.js";

export const DEFAULT_VERSION = "_default";

export type StateValues = Map<string, Tensor>;

/** Versions a store keeps unless told otherwise (each is a full copy of the weights). */
export const DEFAULT_MAX_VERSIONS = 64;

/** Bytes the tensors of `values` hold. */
export function stateBytes(values: Iterable<Tensor>): number {
  let bytes = 0;
  for (const t of values) bytes += t.size * (t.dtype === "complex64" ? 8 : 4);
  return bytes;
}

export class VersionStore {
  private readonly stored = new Map<string, StateValues>();
  /** Stored versions (besides `_default`) allowed; writing one more is an error. */
  maxVersions = DEFAULT_MAX_VERSIONS;

  constructor(private readonly state: () => [string, StateTensor][]) {}

  names(): string[] {
    return [DEFAULT_VERSION, ...this.stored.keys()];
  }

  has(name: string): boolean {
    return name === DEFAULT_VERSION || this.stored.has(name);
  }

  check(name: string): void {
    if (!this.has(name)) throw new BendingError(`unknown version '${name}' (versions: ${this.names().join(", ")})`);
  }

  /** The tensor of `key` in version `name` (the module's own tensor for _default). */
  value(name: string, key: string, state: StateTensor): Tensor {
    if (name === DEFAULT_VERSION) return state.data;
    return this.stored.get(name)!.get(key)!;
  }

  /** Stores copies of `values` as version `name` (replacing an older one of that name). */
  set(name: string, values: Map<string, Tensor>): void {
    if (name === DEFAULT_VERSION) throw new BendingError(`'${DEFAULT_VERSION}' holds the original weights and cannot be overwritten`);
    if (!this.stored.has(name) && this.stored.size >= this.maxVersions) {
      throw new BendingError(`${this.stored.size} versions stored, the most allowed (--max-versions); delete one first ('version delete <name>')`);
    }
    this.checkKeys(name, values);
    const copy: StateValues = new Map();
    for (const [k, v] of values) copy.set(k, tf.keep(v.clone()));
    this.delete(name);
    this.stored.set(name, copy);
  }

  /** Refuses a set of weights whose keys or shapes differ from the module's. */
  checkKeys(name: string, values: Map<string, Tensor>): void {
    const own = new Map(this.state());
    const missing = [...own.keys()].filter((k) => !values.has(k));
    const extra = [...values.keys()].filter((k) => !own.has(k));
    const shapes = [...values].filter(([k, v]) => own.has(k) && !sameShape(own.get(k)!.shape, v.shape)).map(([k]) => k);
    if (missing.length || extra.length || shapes.length) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing ${missing.join(", ")}`);
      if (extra.length) parts.push(`unexpected ${extra.join(", ")}`);
      if (shapes.length) parts.push(`different shapes for ${shapes.join(", ")}`);
      throw new BendingError(`version '${name}' does not fit this module's weights: ${parts.join("; ")}`);
    }
  }

  /** Bytes the stored versions hold (`_default` is the module's own and not counted). */
  bytes(): number {
    let bytes = 0;
    for (const values of this.stored.values()) bytes += stateBytes(values.values());
    return bytes;
  }

  delete(name: string): void {
    const old = this.stored.get(name);
    if (old) for (const t of old.values()) t.dispose();
    this.stored.delete(name);
  }

  /** Σwᵢθᵢ / Σwᵢ over every weight and buffer; new kept tensors. */
  interpolate(weights: Record<string, number>): StateValues {
    const entries = this.checkWeights(weights);
    const total = entries.reduce((s, [, w]) => s + w, 0);
    const out: StateValues = new Map();
    for (const [key, state] of this.state()) {
      out.set(key, tf.keep(tf.tidy(() => {
        let acc: Tensor | null = null;
        for (const [name, w] of entries) {
          const term = tf.mul(this.value(name, key, state), w / total);
          acc = acc === null ? term : tf.add(acc, term);
        }
        return acc!;
      })));
    }
    return out;
  }

  /** Refuses weights that are not an interpolation of stored versions; returns them as entries. */
  checkWeights(weights: Record<string, number>): [string, number][] {
    const entries = Object.entries(weights);
    if (entries.length === 0) throw new BendingError("interpolate needs at least one version and its weight");
    for (const [name, w] of entries) {
      this.check(name);
      if (typeof w !== "number" || !Number.isFinite(w)) throw new BendingError(`interpolation weight of '${name}' must be a finite number, got ${String(w)}`);
      // Σwᵢθᵢ/Σwᵢ with mixed signs extrapolates past every version, without bound as Σwᵢ → 0.
      if (w < 0) throw new BendingError(`interpolation weight of '${name}' is ${w}; weights are 0 or more (negative weights would extrapolate)`);
    }
    const total = entries.reduce((s, [, w]) => s + w, 0);
    if (total === 0) throw new BendingError("interpolation weights sum to 0; give at least one version a non-zero total weight");
    return entries;
  }

  dispose(): void {
    for (const name of [...this.stored.keys()]) this.delete(name);
  }
}
