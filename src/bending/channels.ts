// The base of the spatial and temporal callbacks: activations of a fixed rank (N, C, H, W)
// or (N, C, L) whose channels are bent all together or as a selection — a list of
// channels, a stored channel cluster, or a seeded random fraction of them.
//
// Only the selected channels are transformed: they are gathered, transformed, and put
// back with one gather over [x, transformed], so the others keep their very values.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { controllableFromJSON, type ArgJSON, type ArgumentSpec, type BendingTarget, type ControlResolver, type JSONValue, type TargetState } from "./callback.js";
import { CatalogueCallback, randomOrder, slot } from "./catalogue.js";
import { resolveControl, type Controllable } from "./parameter.js";

/** Which channels (axis 1) a callback bends; at most one of the three, none meaning all. */
export interface ChannelOptions {
  /** These channels (indices along axis 1). */
  channels?: readonly number[];
  /** The channels of a stored cluster (`bended.clusterChannels`), e.g. "conv1:c0". */
  cluster?: string;
  /** A seeded random subset: the first round(fraction·C) channels of an order fixed per target. */
  fraction?: Controllable;
  seed?: number;
}

/** The arguments every channel callback declares besides its own. */
export const CHANNEL_ARGUMENTS = {
  channels: { kind: "numbers" },
  cluster: { kind: "text" },
  fraction: { kind: "number", min: 0, max: 1 },
} as const satisfies Record<string, ArgumentSpec>;

/** `what` of a target, for messages. */
export function describeTarget(target: BendingTarget): string {
  return target.kind === "activation" ? `activation '${target.name}' of ${target.fn}` : `weight '${target.name}'`;
}

/** A BendingError for a number argument that is not finite (a control is checked when read). */
export function requireFinite(name: string, value: Controllable): void {
  if (typeof value === "number" && !Number.isFinite(value)) throw new BendingError(`${name} needs a finite number, got ${value}`);
}

/** A numeric argument's current value, a BendingError when it is not finite. */
export function finiteValue(name: string, value: Controllable): number {
  const v = resolveControl(value);
  if (!Number.isFinite(v)) throw new BendingError(`${name} needs a finite number, got ${v}`);
  return v;
}

export abstract class ChannelCallback extends CatalogueCallback {
  /** 4 for (N, C, H, W), 3 for (N, C, L). */
  protected abstract readonly rank: number;
  readonly channels: readonly number[] | undefined;
  readonly cluster: string | undefined;
  readonly fraction: Controllable | undefined;
  /** The random channel order of each bound target, for `fraction` (it lives as long as the state). */
  private readonly orders = new WeakMap<TargetState, Int32Array>();

  /** `who`: the type name, for messages (subclass fields are not set yet here). */
  constructor(who: string, options: ChannelOptions = {}, deterministic = true) {
    // A callback drawing nothing random has seed 0, so two equal ones compare equal.
    super(options.seed ?? (deterministic && options.fraction === undefined ? 0 : undefined));
    const given = [options.channels, options.cluster, options.fraction].filter((v) => v !== undefined).length;
    if (given > 1) throw new BendingError(`${who}: give one of channels, cluster, fraction`);
    if (options.channels !== undefined) {
      if (!Array.isArray(options.channels) || options.channels.length === 0 || !options.channels.every((c) => Number.isInteger(c) && c >= 0)) {
        throw new BendingError(`${who} channels must be a non-empty list of channel indices, got ${JSON.stringify(options.channels)}`);
      }
      this.channels = [...new Set(options.channels)].sort((a, b) => a - b);
    }
    if (options.cluster !== undefined && (typeof options.cluster !== "string" || options.cluster === "")) {
      throw new BendingError(`${who} cluster must be a cluster's name, got ${JSON.stringify(options.cluster)}`);
    }
    this.cluster = options.cluster;
    if (typeof options.fraction === "number" && !(options.fraction >= 0 && options.fraction <= 1)) {
      throw new BendingError(`${who} fraction is the bent share of channels in [0, 1], got ${options.fraction}`);
    }
    this.fraction = options.fraction;
  }

  override get weightCompatible(): boolean {
    return false;
  }

  /** The selection's arguments, for subclasses' args(). */
  protected selectionArgs() {
    return { channels: this.channels as number[] | undefined, cluster: this.cluster, fraction: this.fraction };
  }

  /** True when the current settings leave every value as it is. */
  protected abstract isIdentity(): boolean;

  /** Transforms the selected channels `x` (same rank, fewer channels). */
  protected abstract transform(x: Tensor, state: TargetState, target: BendingTarget): Tensor;

  /** Per-target state of the transform itself (default none). */
  protected initTransform(_target: BendingTarget): TargetState {
    return {};
  }

  /** The random channel order drawn for `fraction` on this target's state (undefined without fraction). */
  fractionOrder(state: TargetState): Int32Array | undefined {
    return this.orders.get(state);
  }

  /** How many channels of C `fraction` bends now. */
  fractionCount(c: number): number {
    return Math.round(Math.min(1, Math.max(0, finiteValue(`${this.type} fraction`, this.fraction ?? 1))) * c);
  }

  /** The rank this callback bends (4: (N, C, H, W), 3: (N, C, L)), a BendingError for another shape. */
  checkShape(shape: readonly number[], target: BendingTarget): void {
    if (shape.length !== this.rank) {
      const layout = this.rank === 4 ? "(N, C, H, W)" : "(N, C, L)";
      throw new BendingError(`${this.type} bends ${layout} activations; ${describeTarget(target)} has shape ${formatShape([...shape])}`);
    }
  }

  /** The selected channels of C now, or null for all of them. */
  selected(c: number, state: TargetState, target: BendingTarget): readonly number[] | null {
    let list: readonly number[];
    if (this.channels !== undefined) list = this.channels;
    else if (this.cluster !== undefined) {
      const found = target.clusters?.(this.cluster);
      if (found === undefined) throw new BendingError(`${this}: no channel cluster '${this.cluster}' (run clusterChannels first)`);
      list = found;
    } else if (this.fraction !== undefined) {
      const order = this.orders.get(state)!;
      const k = this.fractionCount(c);
      if (k === c) return null;
      list = [...order.subarray(0, k)].sort((a, b) => a - b);
    } else return null;
    const outside = list.filter((i) => i >= c);
    if (outside.length > 0) {
      throw new BendingError(`${this} selects channel ${outside[0]}, but ${describeTarget(target)} has ${c} channels`);
    }
    return list.length === c ? null : list;
  }

  override init(target: BendingTarget): TargetState {
    if (target.kind !== "activation") throw new BendingError(`${this} bends activations only`);
    this.checkShape(target.shape, target);
    const state = this.initTransform(target);
    if (this.fraction !== undefined) this.orders.set(state, randomOrder(target.shape[1], target.seed));
    this.selected(target.shape[1], state, target); // an unknown cluster or channel fails at bend time
    return state;
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    this.checkShape(x.shape, target);
    if (this.isIdentity()) return x;
    const c = x.shape[1] as number;
    const list = this.selected(c, state, target);
    if (list === null) return this.transform(x, state, target);
    if (list.length === 0) return x;
    const signature = `${c}:${list.join(",")}`;
    const pick = slot(state, "pick", signature, () => tf.tensor1d(Int32Array.from(list), "int32"));
    // merge[i] = i for a kept channel, C + its rank among the selected for a bent one.
    const merge = slot(state, "merge", signature, () => {
      const index = new Int32Array(c).map((_, i) => i);
      list.forEach((channel, rank) => (index[channel] = c + rank));
      return tf.tensor1d(index, "int32");
    });
    const bent = this.transform(tf.gather(x, pick, 1), state, target);
    return tf.gather(tf.concat([x, bent], 1), merge, 1);
  }
}

// --- saved arguments -------------------------------------------------------------------

/** The selection of a saved channel callback. */
export function channelOptions(args: Record<string, ArgJSON>, seed: number, controls: ControlResolver): ChannelOptions {
  const channels = args.channels;
  if (channels !== undefined && !(Array.isArray(channels) && channels.every((c) => typeof c === "number"))) {
    throw new BendingError(`channels must be a list of channel indices, got ${JSON.stringify(channels)}`);
  }
  if (args.cluster !== undefined && typeof args.cluster !== "string") {
    throw new BendingError(`cluster must be a cluster's name, got ${JSON.stringify(args.cluster)}`);
  }
  return {
    channels: channels as number[] | undefined,
    cluster: args.cluster as string | undefined,
    fraction: controllableFromJSON(args.fraction, controls),
    seed,
  };
}

/** A saved numeric argument (a number or a control), or `fallback` when absent. */
export function numberOr(value: ArgJSON | undefined, controls: ControlResolver, fallback: number): Controllable {
  return controllableFromJSON(value, controls) ?? fallback;
}

/** A saved word among `words`, or `fallback` when absent. */
export function wordOr<W extends string>(value: ArgJSON | undefined, words: readonly W[], fallback: W, what: string): W {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "string" && (words as readonly string[]).includes(value)) return value as W;
  throw new BendingError(`${what} must be one of ${words.join(", ")}, got ${JSON.stringify(value as JSONValue)}`);
}
