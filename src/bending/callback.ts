// The base of every bending: a callback that transforms a weight (once, cached) or an
// activation (on every pass). Per-target state (a mask, a noise field) is drawn once at
// bend time from the target's traced shape and a seed, so it is reproducible.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { BendingParameter, DerivedParameter, type Controllable, type ParameterJSON } from "./parameter.js";

export type TargetKind = "weight" | "activation";

export interface BendingTarget {
  kind: TargetKind;
  /** Weight name (conv_modules.0.weight) or activation node name (nnlin). */
  name: string;
  /** Traced method, for activations. */
  fn?: string;
  /** The weight's shape, or the activation's traced shape. */
  shape: number[];
  /** Seed of this target's random state. */
  seed: number;
  /** The channels of a stored channel cluster (`bended.clusterChannels`), undefined for an unknown name. */
  clusters?: (name: string) => readonly number[] | undefined;
}

export type JSONValue = number | string | boolean | null | JSONValue[] | { [key: string]: JSONValue };
export type ArgJSON = JSONValue | ParameterJSON;

export interface CallbackJSON {
  type: string;
  args: Record<string, ArgJSON>;
  seed: number;
}

/** Per-target state; tensors in it are kept and disposed by `disposeState`. */
export type TargetState = Record<string, Tensor | number | null>;

export abstract class BendingCallback {
  /** Registered type name ("Mask"); also the repr's name. */
  abstract readonly type: string;
  /** Arguments printed as integers (the others with 3 decimals, as the seed's repr). */
  protected readonly integerArguments: readonly string[] = ["dim"];
  readonly seed: number;

  constructor(seed?: number) {
    this.seed = seed === undefined ? Math.floor(Math.random() * 2 ** 31) : seed >>> 0;
  }

  get weightCompatible(): boolean {
    return true;
  }

  get activationCompatible(): boolean {
    return true;
  }

  /** Arguments shown in the repr and saved in configs, in order. */
  protected abstract arguments(): Record<string, Controllable | JSONValue | undefined>;

  /** Draws the per-target state (default: none). */
  init(_target: BendingTarget): TargetState {
    return {};
  }

  /** Transforms `x` (runs inside the caller's tidy). */
  abstract apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor;

  disposeState(state: TargetState): void {
    for (const v of Object.values(state)) if (v instanceof tf.Tensor) v.dispose();
  }

  /** Callbacks run after this one on the same targets: `a.then(b)`. */
  then(next: BendingCallback): BendingCallback {
    return new Chain([this, next]);
  }

  /** The live controls this callback reads. */
  controls(): BendingParameter[] {
    const out: BendingParameter[] = [];
    for (const v of Object.values(this.arguments())) {
      if (v instanceof BendingParameter) for (const p of v.sources()) if (!out.includes(p)) out.push(p);
    }
    return out;
  }

  /** Current values of the controls it reads (to know when a cached weight is stale). */
  controlSignature(): string {
    return Object.values(this.arguments())
      .filter((v): v is BendingParameter => v instanceof BendingParameter)
      .map((p) => p.value)
      .join(",");
  }

  checkCompatible(kind: TargetKind, name: string): void {
    const ok = kind === "weight" ? this.weightCompatible : this.activationCompatible;
    if (!ok) throw new BendingError(`${this} cannot bend ${kind}s ('${name}' is a ${kind})`);
  }

  toString(): string {
    const args = Object.entries(this.arguments())
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${reprValue(v as Controllable | JSONValue, this.integerArguments.includes(k))}`);
    return `${this.type}(${args.join(", ")})`;
  }

  toJSON(): CallbackJSON {
    const args: Record<string, ArgJSON> = {};
    for (const [k, v] of Object.entries(this.arguments())) {
      if (v === undefined) continue;
      args[k] = v instanceof BendingParameter ? v.toJSON() : (v as JSONValue);
    }
    return { type: this.type, args, seed: this.seed };
  }

  /** Same type, arguments and seed. */
  equals(other: BendingCallback): boolean {
    return other === this || JSON.stringify(this.toJSON()) === JSON.stringify(other.toJSON());
  }
}

function reprValue(v: Controllable | JSONValue, integer = false): string {
  if (typeof v === "number") return integer ? String(v) : v.toFixed(3);
  if (v instanceof BendingParameter) return `${v.name}(${v.value.toFixed(3)})`;
  if (typeof v === "string") return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map((x) => reprValue(x, integer)).join(", ")}]`;
  return JSON.stringify(v);
}

/** Several callbacks applied in order as one. */
export class Chain extends BendingCallback {
  readonly type = "Chain";
  constructor(readonly callbacks: BendingCallback[]) {
    super(0);
  }
  override get weightCompatible(): boolean {
    return this.callbacks.every((c) => c.weightCompatible);
  }
  override get activationCompatible(): boolean {
    return this.callbacks.every((c) => c.activationCompatible);
  }
  protected arguments(): Record<string, JSONValue> {
    return {};
  }
  // Each part's state object lives as long as the chain's, so parts may cache in it.
  private readonly parts = new WeakMap<TargetState, TargetState[]>();

  override init(target: BendingTarget): TargetState {
    const state: TargetState = {};
    // Each part keeps its own seed (mixed with the target's), as it would outside the chain.
    this.parts.set(state, this.callbacks.map((c, i) => c.init({ ...target, seed: hashSeed(c.seed, `${target.seed}:${i}`) })));
    return state;
  }
  /** The state of each part for one target (what an engine compiling the chain needs). */
  partStates(state: TargetState): TargetState[] {
    const parts = this.parts.get(state);
    if (parts === undefined) throw new BendingError(`${this}: no state for this target`);
    return parts;
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const parts = this.parts.get(state)!;
    return this.callbacks.reduce((y, c, i) => c.apply(y, parts[i], target), x);
  }
  override disposeState(state: TargetState): void {
    this.parts.get(state)?.forEach((part, i) => this.callbacks[i].disposeState(part));
    this.parts.delete(state);
  }
  override controls(): BendingParameter[] {
    return [...new Set(this.callbacks.flatMap((c) => c.controls()))];
  }
  override controlSignature(): string {
    return this.callbacks.map((c) => c.controlSignature()).join("|");
  }
  override then(next: BendingCallback): BendingCallback {
    return new Chain([...this.callbacks, next]);
  }
  override toString(): string {
    return this.callbacks.map(String).join(" -> ");
  }
  override toJSON(): CallbackJSON {
    return { type: "Chain", args: { callbacks: this.callbacks.map((c) => c.toJSON() as unknown as JSONValue) }, seed: 0 };
  }
}

/** A 31-bit seed mixed from a base seed and a key (FNV-1a). */
export function hashSeed(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

// --- registry: callbacks by type name, for configs loaded from JSON ------------------

type Factory = (args: Record<string, ArgJSON>, seed: number, controls: ControlResolver) => BendingCallback;
/** Gives the shared BendingParameter for a saved control (same name → same object). */
export type ControlResolver = (json: ParameterJSON) => BendingParameter;

/**
 * What one argument of a callback takes, declared with the callback: a number (or a live
 * control) within [min, max], an integer, one or more axes, a word among `words`, or a list
 * of numbers. A control created by binding the argument takes [min, max] as its range.
 */
export interface ArgumentSpec {
  /** "text": any word (a cluster's name), where "word" takes one of `words`. */
  kind: "number" | "integer" | "dim" | "word" | "numbers" | "text";
  min?: number;
  max?: number;
  words?: readonly string[];
}
export type ArgumentSpecs = Readonly<Record<string, ArgumentSpec>>;

const registry = new Map<string, { factory: Factory; args: ArgumentSpecs }>();

export function registerCallback(type: string, factory: Factory, args: ArgumentSpecs = {}): void {
  if (registry.has(type)) throw new BendingError(`the callback type '${type}' is registered twice`);
  registry.set(type, { factory, args });
}

export function registeredCallbacks(): string[] {
  return [...registry.keys()];
}

/** The arguments a registered callback takes (a BendingError for an unknown type). */
export function callbackArguments(type: string): ArgumentSpecs {
  return entry(type).args;
}

function entry(type: string): { factory: Factory; args: ArgumentSpecs } {
  const found = registry.get(type);
  if (found === undefined) throw new BendingError(`unknown bending callback '${type}' (known: ${registeredCallbacks().join(", ")})`);
  return found;
}

/** The domain of a numeric argument as text: "[0, 1]", ">= 0". */
export function domainText(spec: ArgumentSpec): string {
  const lo = spec.min ?? -Infinity;
  const hi = spec.max ?? Infinity;
  if (Number.isFinite(lo) && Number.isFinite(hi)) return `[${lo}, ${hi}]`;
  if (Number.isFinite(lo)) return `>= ${lo}`;
  return Number.isFinite(hi) ? `<= ${hi}` : "any number";
}

/** A BendingError unless every name is an argument of `type` (`extra`: names taken besides, like seed). */
export function checkArgumentNames(type: string, names: string[], extra: string[] = []): void {
  const specs = callbackArguments(type);
  const unknown = names.filter((n) => !Object.hasOwn(specs, n) && !extra.includes(n));
  if (unknown.length === 0) return;
  const known = [...Object.keys(specs), ...extra];
  throw new BendingError(
    `${type} has no argument ${unknown.map((n) => `'${n}'`).join(", ")} (its arguments: ${known.length ? known.join(", ") : "none"})`,
  );
}

/** A BendingError when a numeric value lies outside the argument's declared domain. */
export function checkDomain(type: string, name: string, spec: ArgumentSpec, value: number, what = "value"): void {
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    throw new BendingError(`${type} ${name} must be ${domainText(spec)}, got ${what} ${value}`);
  }
}

export function callbackFromJSON(json: CallbackJSON, controls: ControlResolver): BendingCallback {
  if (json.type === "Chain") {
    const parts = (json.args.callbacks as unknown as CallbackJSON[]).map((c) => callbackFromJSON(c, controls));
    return new Chain(parts);
  }
  const { factory, args: specs } = entry(json.type);
  checkArgumentNames(json.type, Object.keys(json.args));
  for (const [name, value] of Object.entries(json.args)) {
    const spec = specs[name];
    if (spec.kind !== "number" && spec.kind !== "integer") continue;
    if (typeof value === "number") checkDomain(json.type, name, spec, value);
    else if (value !== null && typeof value === "object" && !Array.isArray(value) && "control" in value) {
      const control = value as unknown as ParameterJSON;
      if (control.derived === undefined && typeof control.value === "number") checkDomain(json.type, name, spec, control.value, `control '${control.control}' =`);
    }
  }
  return factory(json.args, json.seed, controls);
}

/** A number or the control a saved argument refers to. */
export function controllableFromJSON(value: ArgJSON | undefined, controls: ControlResolver): Controllable | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value;
  if (typeof value === "object" && !Array.isArray(value) && "control" in value) {
    const json = value as unknown as ParameterJSON;
    let p: BendingParameter = controls(json);
    for (const step of json.derived ?? []) p = step.op === "times" ? p.times(step.k) : p.plus(step.k);
    return p;
  }
  throw new BendingError(`expected a number or a control, got ${JSON.stringify(value)}`);
}

export { DerivedParameter };
