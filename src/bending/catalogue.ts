// The bending catalogue beyond Mask: masks, affine maps, noise, permutations, clamps,
// captures, batch interpolation and code callbacks. Each one is registered by type name
// so that configs round-trip through JSON.
//
// Derived tensors (a mask for the current prob, a scaled noise field, a scalar) are
// cached in the target's state and remade only when the control values they come from
// change, so a pass allocates nothing but its results.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { wrapDim } from "../util/python.js";
import {
  BendingCallback,
  controllableFromJSON,
  registerCallback,
  type ArgJSON,
  type BendingTarget,
  type CallbackJSON,
  type ControlResolver,
  type JSONValue,
  type TargetState,
} from "./callback.js";
import { checkStateShape, keptShape } from "./mask.js";
import { BendingParameter, resolveControl, type Controllable } from "./parameter.js";

export type Dim = number | number[];

/** Upper bound of Capture's ring, so a message cannot make it hold unbounded memory. */
export const MAX_CAPTURED_PASSES = 1024;

export interface DimOptions {
  /** Axes the random state varies along; the others have size 1 and broadcast. */
  dim?: Dim;
  seed?: number;
}

type ArgValue = Controllable | JSONValue | readonly Controllable[] | undefined;

// --- shared helpers ------------------------------------------------------------------

/**
 * `x` unchanged. Activations pass the very tensor on; a weight gets a clone (same data,
 * new handle) because the bent-weight cache disposes what a weight chain returns, and
 * that must never be the module's own parameter.
 */
function passThrough(x: Tensor, target: BendingTarget): Tensor {
  return target.kind === "weight" ? tf.clone(x) : x;
}

/** The control values each cached tensor was made for (state only holds tensors and numbers). */
const slotSignatures = new WeakMap<Tensor, string>();

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

function scalarSlot(state: TargetState, key: string, value: number): Tensor {
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
function axisOf(dim: number, shape: readonly number[], who: BendingCallback): number {
  return wrapDim(dim, shape.length, `shape ${formatShape([...shape])}`, String(who));
}

function where(target: BendingTarget): string {
  return target.kind === "activation" ? `activation '${target.name}' of ${target.fn}` : `weight '${target.name}'`;
}

function requireNumber(name: string, value: Controllable, options: { finite?: boolean } = {}): void {
  if (typeof value === "number" && (Number.isNaN(value) || (options.finite !== false && !Number.isFinite(value)))) {
    throw new BendingError(`${name} needs a ${options.finite !== false ? "finite " : ""}number, got ${value}`);
  }
}

// JSON has no Infinity/NaN: they are saved as the strings "Infinity", "-Infinity", "NaN".
const NON_FINITE = new Set(["Infinity", "-Infinity", "NaN"]);

function argToJSON(v: Exclude<ArgValue, undefined>): ArgJSON {
  if (v instanceof BendingParameter) return v.toJSON();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return (v as readonly (Controllable | JSONValue)[]).map((e) => argToJSON(e)) as JSONValue;
  return v as JSONValue;
}

/** A saved numeric argument: a number, a non-finite string, or a control. */
function numberArg(value: ArgJSON | undefined, controls: ControlResolver): Controllable | undefined {
  if (typeof value === "string" && NON_FINITE.has(value)) return Number(value);
  return controllableFromJSON(value, controls);
}

function dimArg(value: ArgJSON | undefined): Dim | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" || (Array.isArray(value) && value.every((d) => typeof d === "number"))) return value as Dim;
  throw new BendingError(`dim must be an integer or a list of integers, got ${JSON.stringify(value)}`);
}

function requiredDim(type: string, value: ArgJSON | undefined): Dim {
  const dim = dimArg(value);
  if (dim === undefined) throw new BendingError(`a saved ${type} needs its dim argument`);
  return dim;
}

function opArg(value: ArgJSON | undefined): NoiseOp | undefined {
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

// --- OrderedMask -----------------------------------------------------------------------

/**
 * Keeps the first round(prob·n) elements of a random order fixed per target (n elements,
 * or n slices along `dim`): the kept count is exact, and moving prob adds or removes
 * elements one by one in that order. OrderedMask(1) is the identity, OrderedMask(0) zeros.
 */
export class OrderedMask extends CatalogueCallback {
  readonly type = "OrderedMask";
  constructor(readonly prob: Controllable = 0.5, readonly options: DimOptions = {}) {
    super(options.seed);
    requireNumber("OrderedMask prob", prob);
    if (typeof prob === "number" && !(prob >= 0 && prob <= 1)) {
      throw new BendingError(`OrderedMask prob is the kept fraction in [0, 1], got ${prob}`);
    }
  }

  protected args() {
    return { prob: this.prob, dim: this.options.dim };
  }

  private count(n: number): number {
    return Math.round(Math.min(1, Math.max(0, resolveControl(this.prob))) * n);
  }

  override init(target: BendingTarget): TargetState {
    const shape = keptShape(target.shape, this.options.dim);
    const n = shape.reduce((a, b) => a * b, 1);
    // rank[i] = position of element i in the order; the mask keeps rank < k.
    const order = randomOrder(n, target.seed);
    const rank = new Int32Array(n);
    order.forEach((element, position) => (rank[element] = position));
    return { rank: tf.keep(tf.tensor(rank, shape, "int32")), mask: null };
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const rank = state.rank as Tensor;
    checkStateShape(this, rank.shape, x, target);
    const k = this.count(rank.size);
    if (k >= rank.size) return passThrough(x, target);
    return tf.mul(x, slot(state, "mask", String(k), () => tf.cast(tf.less(rank, k), "float32")));
  }
}

// --- Scale, Bias, Affine -----------------------------------------------------------------

/** x · scale. Scale(1) is the identity. */
export class Scale extends CatalogueCallback {
  readonly type = "Scale";
  constructor(readonly scale: Controllable = 1) {
    super(0); // deterministic: two Scale(2) are equal
    requireNumber("Scale scale", scale);
  }
  protected args() {
    return { scale: this.scale };
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const s = resolveControl(this.scale);
    if (s === 1) return passThrough(x, target);
    return tf.mul(x, scalarSlot(state, "scale", s));
  }
}

/** x + bias. Bias(0) is the identity (exactly: -0 stays -0). */
export class Bias extends CatalogueCallback {
  readonly type = "Bias";
  constructor(readonly bias: Controllable = 0) {
    super(0);
    requireNumber("Bias bias", bias);
  }
  protected args() {
    return { bias: this.bias };
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const b = resolveControl(this.bias);
    if (b === 0) return passThrough(x, target);
    return tf.add(x, scalarSlot(state, "bias", b));
  }
}

/** x · scale + bias. Affine(1, 0) is the identity. */
export class Affine extends CatalogueCallback {
  readonly type = "Affine";
  constructor(readonly scale: Controllable = 1, readonly bias: Controllable = 0) {
    super(0);
    requireNumber("Affine scale", scale);
    requireNumber("Affine bias", bias);
  }
  protected args() {
    return { scale: this.scale, bias: this.bias };
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const s = resolveControl(this.scale);
    const b = resolveControl(this.bias);
    if (s === 1 && b === 0) return passThrough(x, target);
    // Skip the neutral half so each setting is a single op.
    const scaled = s === 1 ? x : tf.mul(x, scalarSlot(state, "scale", s));
    return b === 0 ? scaled : tf.add(scaled, scalarSlot(state, "bias", b));
  }
}

// --- Normal, Uniform -------------------------------------------------------------------

export type NoiseOp = "add" | "mul";

export interface NoiseOptions extends DimOptions {
  /** "add": x + noise (default); "mul": x · (1 + noise). */
  op?: NoiseOp;
}

export interface NormalOptions extends NoiseOptions {
  mean?: Controllable;
}

/**
 * Noise drawn once per target at bend time (a unit field from the target's seed); the
 * controls only rescale it, so moving them never redraws.
 */
abstract class NoiseCallback extends CatalogueCallback {
  readonly op: NoiseOp;
  constructor(readonly options: NoiseOptions) {
    super(options.seed);
    this.op = options.op ?? "add";
    if (this.op !== "add" && this.op !== "mul") throw new BendingError(`noise op must be 'add' or 'mul', got '${String(this.op)}'`);
  }

  /** The unit field, drawn from `seed`. */
  protected abstract draw(shape: number[], seed: number): Tensor;
  /** Current [scale, offset] of the noise: noise = offset + scale · field. */
  protected abstract affine(): [number, number];

  private signature(): string {
    return this.affine().join(",");
  }

  private factor(field: Tensor): Tensor {
    const [scale, offset] = this.affine();
    const noise = tf.add(tf.mul(field, scale), offset);
    return this.op === "add" ? noise : tf.add(noise, 1);
  }

  override init(target: BendingTarget): TargetState {
    return { field: tf.keep(this.draw(keptShape(target.shape, this.options.dim), target.seed)), noise: null };
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const field = state.field as Tensor;
    checkStateShape(this, field.shape, x, target);
    const [scale, offset] = this.affine();
    if (scale === 0 && offset === 0) return passThrough(x, target); // exact identity
    const noise = slot(state, "noise", this.signature(), () => this.factor(field));
    return this.op === "add" ? tf.add(x, noise) : tf.mul(x, noise);
  }
}

/** Gaussian noise N(mean, std²) per element, added (op "add") or as x · (1 + noise) ("mul"). Normal(0) is the identity. */
export class Normal extends NoiseCallback {
  readonly type = "Normal";
  readonly mean: Controllable;
  constructor(readonly std: Controllable = 1, options: NormalOptions = {}) {
    super(options);
    this.mean = options.mean ?? 0;
    requireNumber("Normal std", std);
    requireNumber("Normal mean", this.mean);
  }
  protected args() {
    return { std: this.std, mean: this.mean, op: this.op, dim: this.options.dim };
  }
  protected draw(shape: number[], seed: number): Tensor {
    return tf.randomNormal(shape, 0, 1, "float32", seed);
  }
  protected affine(): [number, number] {
    return [resolveControl(this.std), resolveControl(this.mean)];
  }
}

/** Uniform noise amount · U(-1, 1) per element, added (op "add") or as x · (1 + noise) ("mul"). Uniform(0) is the identity. */
export class Uniform extends NoiseCallback {
  readonly type = "Uniform";
  constructor(readonly amount: Controllable = 1, options: NoiseOptions = {}) {
    super(options);
    requireNumber("Uniform amount", amount);
  }
  protected args() {
    return { amount: this.amount, op: this.op, dim: this.options.dim };
  }
  protected draw(shape: number[], seed: number): Tensor {
    return tf.randomUniform(shape, -1, 1, "float32", seed);
  }
  protected affine(): [number, number] {
    return [resolveControl(this.amount), 0];
  }
}

// --- Permute, Reverse ----------------------------------------------------------------------

/** A random permutation, fixed per target, of the indices along `dim` (a negative dim counts from the end). */
export class Permute extends CatalogueCallback {
  readonly type = "Permute";
  constructor(readonly dim: number, readonly options: { seed?: number } = {}) {
    super(options.seed);
    if (!Number.isInteger(dim)) throw new BendingError(`Permute dim must be an integer, got ${String(dim)}`);
  }
  protected args() {
    return { dim: this.dim };
  }
  override init(target: BendingTarget): TargetState {
    // a 0-d tensor takes dim 0 (PyTorch's rule) and has one element to order
    const n = target.shape.length === 0 ? 1 : target.shape[axisOf(this.dim, target.shape, this)];
    return { indices: tf.keep(tf.tensor1d(randomOrder(n, target.seed), "int32")) };
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const indices = state.indices as Tensor;
    const axis = axisOf(this.dim, x.shape, this);
    if (x.rank === 0 && indices.size === 1) return x;
    if (x.shape[axis] !== indices.size) {
      throw new BendingError(
        `${this} on ${where(target)} was drawn for ${indices.size} indices along dim ${this.dim} ` +
          `(traced shape ${formatShape(target.shape)}), but got shape ${formatShape(x.shape)}`,
      );
    }
    return tf.gather(x, indices, axis);
  }
}

/** Reverses the order along `dim` (one axis or several). Reverse twice is the identity. */
export class Reverse extends CatalogueCallback {
  readonly type = "Reverse";
  constructor(readonly dim: Dim) {
    super(0);
    const dims = typeof dim === "number" ? [dim] : dim;
    if (!Array.isArray(dims) || dims.length === 0 || !dims.every(Number.isInteger)) {
      throw new BendingError(`Reverse dim must be an integer or a non-empty list of integers, got ${JSON.stringify(dim)}`);
    }
  }
  protected args() {
    return { dim: this.dim };
  }
  override init(target: BendingTarget): TargetState {
    for (const d of typeof this.dim === "number" ? [this.dim] : this.dim) axisOf(d, target.shape, this); // fail at bend time
    return {};
  }
  apply(x: Tensor): Tensor {
    const dims = (typeof this.dim === "number" ? [this.dim] : this.dim).map((d) => axisOf(d, x.shape, this));
    return x.rank === 0 ? x : tf.reverse(x, dims); // a 0-d tensor reversed is itself (torch.flip)
  }
}

// --- Clamp, ThresholdActivation --------------------------------------------------------------

/** Clips into [min, max]; Clamp(-Infinity, Infinity) (the defaults) is the identity. */
export class Clamp extends CatalogueCallback {
  readonly type = "Clamp";
  constructor(readonly min: Controllable = -Infinity, readonly max: Controllable = Infinity) {
    super(0);
    requireNumber("Clamp min", min, { finite: false });
    requireNumber("Clamp max", max, { finite: false });
    if (typeof min === "number" && typeof max === "number" && min > max) {
      throw new BendingError(`Clamp min (${min}) is above max (${max})`);
    }
  }
  protected args() {
    return { min: this.min, max: this.max };
  }
  apply(x: Tensor, _state: TargetState, target: BendingTarget): Tensor {
    const lo = resolveControl(this.min);
    const hi = resolveControl(this.max);
    if (lo > hi) throw new BendingError(`${this} on ${where(target)}: min is above max`);
    if (lo === -Infinity && hi === Infinity) return passThrough(x, target);
    // Bounds are kernel attributes, not tensors: nothing to cache.
    return tf.clipByValue(x, lo, hi);
  }
}

export interface ThresholdOptions {
  /** What elements below the threshold become (default 0). */
  value?: Controllable;
}

/** Elements x < threshold become `value` (ReLU-like gating). Activations only; ThresholdActivation(-Infinity) is the identity. */
export class ThresholdActivation extends CatalogueCallback {
  readonly type = "ThresholdActivation";
  readonly value: Controllable;
  constructor(readonly threshold: Controllable = 0, options: ThresholdOptions = {}) {
    super(0);
    this.value = options.value ?? 0;
    requireNumber("ThresholdActivation threshold", threshold, { finite: false });
    requireNumber("ThresholdActivation value", this.value);
  }
  override get weightCompatible(): boolean {
    return false;
  }
  protected args() {
    return { threshold: this.threshold, value: this.value };
  }
  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const t = resolveControl(this.threshold);
    if (t === -Infinity) return passThrough(x, target);
    const below = tf.less(x, scalarSlot(state, "threshold", t));
    return tf.where(below, scalarSlot(state, "value", resolveControl(this.value)), x);
  }
}

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

// --- registry ---------------------------------------------------------------------------------

// Each callback's arguments and their domains (a control bound to one takes its domain as range).
const NUMBER = { kind: "number" } as const;
const PROBABILITY = { kind: "number", min: 0, max: 1 } as const;
const NON_NEGATIVE = { kind: "number", min: 0 } as const;
const DIM = { kind: "dim" } as const;
const NOISE_OP = { kind: "word", words: ["add", "mul"] } as const;

registerCallback("OrderedMask", (args, seed, controls) =>
  new OrderedMask(numberArg(args.prob, controls) ?? 0.5, { dim: dimArg(args.dim), seed }), { prob: PROBABILITY, dim: DIM });
registerCallback("Scale", (args, _seed, controls) => new Scale(numberArg(args.scale, controls) ?? 1), { scale: NUMBER });
registerCallback("Bias", (args, _seed, controls) => new Bias(numberArg(args.bias, controls) ?? 0), { bias: NUMBER });
registerCallback("Affine", (args, _seed, controls) =>
  new Affine(numberArg(args.scale, controls) ?? 1, numberArg(args.bias, controls) ?? 0), { scale: NUMBER, bias: NUMBER });
registerCallback("Normal", (args, seed, controls) =>
  new Normal(numberArg(args.std, controls) ?? 1, { mean: numberArg(args.mean, controls), op: opArg(args.op), dim: dimArg(args.dim), seed }),
  { std: NON_NEGATIVE, mean: NUMBER, op: NOISE_OP, dim: DIM });
registerCallback("Uniform", (args, seed, controls) =>
  new Uniform(numberArg(args.amount, controls) ?? 1, { op: opArg(args.op), dim: dimArg(args.dim), seed }),
  { amount: NON_NEGATIVE, op: NOISE_OP, dim: DIM });
registerCallback("Permute", (args, seed) => new Permute(requiredDim("Permute", args.dim) as number, { seed }), { dim: DIM });
registerCallback("Reverse", (args) => new Reverse(requiredDim("Reverse", args.dim)), { dim: DIM });
registerCallback("Clamp", (args, _seed, controls) =>
  new Clamp(numberArg(args.min, controls) ?? -Infinity, numberArg(args.max, controls) ?? Infinity), { min: NUMBER, max: NUMBER });
registerCallback("ThresholdActivation", (args, _seed, controls) =>
  new ThresholdActivation(numberArg(args.threshold, controls) ?? 0, { value: numberArg(args.value, controls) }), { threshold: NUMBER, value: NUMBER });
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
