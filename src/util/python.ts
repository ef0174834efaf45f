// Python's and PyTorch's indexing and equality rules, in one place for every caller
// (the F ops, the TorchScript op table, the bending catalogue): negative dims and
// slice bounds count from the end, slice bounds clamp, == compares lists item by item.
import { BendingError } from "../errors.js";

/**
 * `dim` as an axis in [0, rank), PyTorch's rule (c10's maybe_wrap_dim): dims in
 * [-max(rank, 1), max(rank, 1)) are valid, so a 0-d tensor takes dim 0 and -1 (both 0).
 * `subject` names what the dim indexes and `who` the caller, in the error.
 */
export function wrapDim(dim: number, rank: number, subject = `a tensor of rank ${rank}`, who?: string): number {
  const bound = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -bound || dim >= bound) {
    throw new BendingError(`${who === undefined ? "" : `${who}: `}dim ${dim} is out of range for ${subject}`);
  }
  return dim < 0 ? dim + bound : dim;
}

/** A slice bound (start or stop of x[a:b]) clamped into [0, size]: None gives `fallback`, negatives count from the end. */
export function clampSliceBound(value: number | null, size: number, fallback: number): number {
  if (value === null) return fallback;
  const v = value < 0 ? value + size : value;
  return Math.min(Math.max(v, 0), size);
}

/** Python's `==` on plain values: lists equal item by item, everything else by identity. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  return a === b;
}
