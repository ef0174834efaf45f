import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { BendingCallback, controllableFromJSON, registerCallback, type BendingTarget, type TargetState } from "./callback.js";
import { resolveControl, type Controllable } from "./parameter.js";

export interface MaskOptions {
  /** Axes the mask varies along; the others have size 1 and broadcast. */
  dim?: number | number[];
  seed?: number;
}

/** The shape of a random state drawn for `shape`, keeping only the axes in `dim`. */
export function keptShape(shape: number[], dim: number | number[] | undefined): number[] {
  if (dim === undefined) return shape;
  const dims = (typeof dim === "number" ? [dim] : dim).map((d) => {
    if (!Number.isInteger(d)) throw new BendingError(`dim must be an integer axis, got ${d}`);
    const a = d < 0 ? d + shape.length : d;
    if (a < 0 || a >= shape.length) {
      throw new BendingError(`dim ${d} is out of range for shape ${formatShape(shape)}`);
    }
    return a;
  });
  return shape.map((s, i) => (dims.includes(i) ? s : 1));
}

/**
 * Checks that state drawn for the traced shape applies to `x` without changing its
 * shape (each axis 1 or equal); otherwise the seed's "common issue" with a clear fix.
 */
export function checkStateShape(callback: BendingCallback, stateShape: number[], x: Tensor, target: BendingTarget): void {
  const ok = stateShape.length === x.rank && stateShape.every((s, i) => s === 1 || s === x.shape[i]);
  if (ok) return;
  const varying = stateShape.map((s, i) => (s !== 1 && s !== x.shape[i] ? i - stateShape.length : null)).filter((d) => d !== null);
  const keep = stateShape.map((s, i) => (s !== 1 && x.shape[i] === s ? i - stateShape.length : null)).filter((d) => d !== null);
  const where = target.kind === "activation" ? `activation '${target.name}' of ${target.fn}` : `weight '${target.name}'`;
  throw new BendingError(
    `${callback} on ${where} was drawn for the traced shape ${formatShape(target.shape)}, ` +
      `but got shape ${formatShape(x.shape)} (axes ${varying.join(", ")} differ). ` +
      `Bend with dim set to the axes that stay fixed, e.g. dim: ${keep.length === 1 ? keep[0] : `[${keep.join(", ")}]`}, ` +
      `or trace again with inputs of this shape.`,
  );
}

/**
 * Keeps each element with probability `prob` (Mask(0) zeros, Mask(1) is the identity).
 * A uniform field is drawn once per target, and the mask is field < prob: moving prob
 * live adds or removes elements progressively instead of redrawing.
 */
export class Mask extends BendingCallback {
  readonly type = "Mask";
  constructor(readonly prob: Controllable = 0.5, readonly options: MaskOptions = {}) {
    super(options.seed);
    if (typeof prob === "number" && !(prob >= 0 && prob <= 1)) {
      throw new BendingError(`Mask prob is a keep probability in [0, 1], got ${prob}`);
    }
  }

  protected arguments() {
    return { prob: this.prob, dim: this.options.dim };
  }

  override init(target: BendingTarget): TargetState {
    const shape = keptShape(target.shape, this.options.dim);
    return { field: tf.keep(tf.randomUniform(shape, 0, 1, "float32", target.seed)), mask: null, maskProb: null };
  }

  apply(x: Tensor, state: TargetState, target: BendingTarget): Tensor {
    const field = state.field as Tensor;
    checkStateShape(this, field.shape, x, target);
    const prob = Math.min(1, Math.max(0, resolveControl(this.prob)));
    if (state.maskProb !== prob) {
      (state.mask as Tensor | null)?.dispose();
      state.mask = tf.keep(tf.tidy(() => tf.cast(tf.less(field, prob), "float32")));
      state.maskProb = prob;
    }
    return tf.mul(x, state.mask as Tensor);
  }
}

registerCallback("Mask", (args, seed, controls) =>
  new Mask(controllableFromJSON(args.prob, controls) ?? 0.5, { dim: args.dim as number | number[] | undefined, seed }),
  { prob: { kind: "number", min: 0, max: 1 }, dim: { kind: "dim" } });
