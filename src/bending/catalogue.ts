// The bending catalogue beyond Mask: masks, affine maps, noise, permutations and clamps;
// the callbacks that watch or mix passes (Capture, InterpolateActivation, Lambda) are in
// catalogue-passes.ts. Each one is registered by type name at the end of its file, so
// that configs round-trip through JSON.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { registerCallback, type BendingTarget, type TargetState } from "./callback.js";
import { checkStateShape, keptShape } from "./mask.js";
import { resolveControl, type Controllable } from "./parameter.js";
import {
  Dim,
  DimOptions,
  passThrough,
  slot,
  scalarSlot,
  randomOrder,
  axisOf,
  where,
  requireNumber,
  numberArg,
  dimArg,
  requiredDim,
  opArg,
  CatalogueCallback,
  NoiseOp,
  NUMBER,
  PROBABILITY,
  NON_NEGATIVE,
  DIM,
  NOISE_OP,
} from "./catalogue-base.js";

// The catalogue's public names, wherever they live.
export { CatalogueCallback, MAX_CAPTURED_PASSES, randomOrder, slot, type Dim, type DimOptions, type NoiseOp } from "./catalogue-base.js";
export { Capture, InterpolateActivation, Lambda, type CaptureOptions, type LambdaOptions } from "./catalogue-passes.js";

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
