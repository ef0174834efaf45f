// What the catalogue's callbacks share: argument types, the cached derived tensors
// (`slot`: remade only when the control values they come from change, so a pass allocates
// nothing but its results), argument checks and JSON helpers, argument domains, and the
// CatalogueCallback base class.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { wrapDim } from "../util/python.js";
import {
  BendingCallback,
  controllableFromJSON,
  type ArgJSON,
  type BendingTarget,
  type CallbackJSON,
  type ControlResolver,
  type JSONValue,
  type TargetState,
} from "./callback.js";

import { BendingParameter, type Controllable } from "./parameter.js";

export type Dim = number | number[];

/** Upper bound of Capture's ring, so a message cannot make it hold unbounded memory. */
export const MAX_CAPTURED_PASSES = 1024;

export interface DimOptions {
  /** Axes the random state varies along; the others have size 1 and broadcast. */
  dim?: Dim;
  seed?: number;
}

export type ArgValue = Controllable | JSONValue | readonly Controllable[] | undefined;

// --- shared helpers ------------------------------------------------------------------

/**
 * `x` unchanged. Activations pass the very tensor on; a weight gets a clone (same data,
 * new handle) because the bent-weight cache disposes what a weight chain returns, and
 * that must never be the module's own parameter.
 */
export function passThrough(x: Tensor, target: BendingTarget): Tensor {
  return target.kind === "weight" ? tf.clone(x) : x;
}

/** The control values each cached tensor was made for (state only holds tensors and numbers). */
export const slotSignatures = new WeakMap<Tensor, string>();

/**
 * `state[key]`, a kept tensor made by `make()` for the control values in `signature`;
 * remade (and the old one disposed) only when the signature changes.
 */
export function slot(state: TargetState, key: string, signature: string, make: () => Tensor): Tensor {
  const cached = state[key];
  if (cached instanceof tf.Tensor && slotSignatures.get(cached) === signature) return cached;
  if (cached instanceof tf.Tensor) cached.dispose();
  const made = tf.keep(tf.tidy(make));
  slotSignatures.set(made, signature);
  state[key] = made;
  return made;
}

export function scalarSlot(state: TargetState, key: string, value: number): Tensor {
  return slot(state, key, String(value), () => tf.scalar(value));
}

/** A random order of 0..n-1 drawn from `seed` (tf's seeded uniform, argsorted once at bend time). */
export function randomOrder(n: number, seed: number): Int32Array {
  const field = tf.tidy(() => tf.randomUniform([n], 0, 1, "float32", seed).dataSync());
  // Array.sort is stable, so ties (rare in float32) still give a reproducible order.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => field[a] - field[b]);
  return Int32Array.from(order);
}

/** `dim` of a tensor of `shape` as an axis (PyTorch's rule), or a BendingError naming the shape and the callback. */
export function axisOf(dim: number, shape: readonly number[], who: BendingCallback): number {
  return wrapDim(dim, shape.length, `shape ${formatShape([...shape])}`, String(who));
}

export function where(target: BendingTarget): string {
  return target.kind === "activation" ? `activation '${target.name}' of ${target.fn}` : `weight '${target.name}'`;
}

export function requireNumber(name: string, value: Controllable, options: { finite?: boolean } = {}): void {
  if (typeof value === "number" && (Number.isNaN(value) || (options.finite !== false && !Number.isFinite(value)))) {
    throw new BendingError(`${name} needs a ${options.finite !== false ? "finite " : ""}number, got ${value}`);
  }
}

// JSON has no Infinity/NaN: they are saved as the strings "Infinity", "-Infinity", "NaN".
export const NON_FINITE = new Set(["Infinity", "-Infinity", "NaN"]);

export function argToJSON(v: Exclude<ArgValue, undefined>): ArgJSON {
  if (v instanceof BendingParameter) return v.toJSON();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return (v as readonly (Controllable | JSONValue)[]).map((e) => argToJSON(e)) as JSONValue;
  return v as JSONValue;
}

/** A saved numeric argument: a number, a non-finite string, or a control. */
export function numberArg(value: ArgJSON | undefined, controls: ControlResolver): Controllable | undefined {
  if (typeof value === "string" && NON_FINITE.has(value)) return Number(value);
  return controllableFromJSON(value, controls);
}

export function dimArg(value: ArgJSON | undefined): Dim | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" || (Array.isArray(value) && value.every((d) => typeof d === "number"))) return value as Dim;
  throw new BendingError(`dim must be an integer or a list of integers, got ${JSON.stringify(value)}`);
}

export function requiredDim(type: string, value: ArgJSON | undefined): Dim {
  const dim = dimArg(value);
  if (dim === undefined) throw new BendingError(`a saved ${type} needs its dim argument`);
  return dim;
}

export function opArg(value: ArgJSON | undefined): NoiseOp | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === "add" || value === "mul") return value;
  throw new BendingError(`noise op must be 'add' or 'mul', got ${JSON.stringify(value)}`);
}

// --- base ----------------------------------------------------------------------------

/**
 * Base of the catalogue: arguments may hold lists of controls (InterpolateActivation's
 * weights) and non-finite numbers (Clamp's default bounds), which the base class's
 * controls, signature and JSON do not cover.
 */
export abstract class CatalogueCallback extends BendingCallback {
  /** Arguments in repr/JSON order. */
  protected abstract args(): Record<string, ArgValue>;

  protected arguments(): Record<string, Controllable | JSONValue | undefined> {
    // Lists of controls print through the base repr, which handles them element-wise.
    return this.args() as unknown as Record<string, Controllable | JSONValue | undefined>;
  }

  private controlArgs(): BendingParameter[] {
    return Object.values(this.args())
      .flatMap((v) => (Array.isArray(v) ? (v as readonly unknown[]) : [v]))
      .filter((v): v is BendingParameter => v instanceof BendingParameter);
  }

  override controls(): BendingParameter[] {
    return [...new Set(this.controlArgs().flatMap((p) => p.sources()))];
  }

  override controlSignature(): string {
    return this.controlArgs().map((p) => p.value).join(",");
  }

  override toJSON(): CallbackJSON {
    const args: Record<string, ArgJSON> = {};
    for (const [k, v] of Object.entries(this.args())) if (v !== undefined) args[k] = argToJSON(v);
    return { type: this.type, args, seed: this.seed };
  }
}

export type NoiseOp = "add" | "mul";

// Each callback's arguments and their domains (a control bound to one takes its domain as range).
export const NUMBER = { kind: "number" } as const;
export const PROBABILITY = { kind: "number", min: 0, max: 1 } as const;
export const NON_NEGATIVE = { kind: "number", min: 0 } as const;
export const DIM = { kind: "dim" } as const;
export const NOISE_OP = { kind: "word", words: ["add", "mul"] } as const;

