// Python's indexing and slicing of lists and strings as the op table applies them: an
// index counted from the end and bounds-checked, slice objects, positive slice steps.
// Used by the list/string ops and by tensor indexing (tensor-views.ts).
import { BendingError } from "../errors.js";
import { clampSliceBound } from "../util/python.js";

type Value = unknown;

export function pyIndex(i: number, length: number): number {
  const at = i < 0 ? i + length : i;
  if (at < 0 || at >= length) throw new BendingError(`index ${i} is out of range for length ${length}`);
  return at;
}

export interface SliceLike {
  start: number | null;
  stop: number | null;
  step: number | null;
}

export function isSlice(v: Value): v is SliceLike {
  return typeof v === "object" && v !== null && "start" in v && "stop" in v && "step" in v;
}

export function positiveStep(step: number): number {
  if (!(step > 0)) throw new BendingError("list slices with a non-positive step are not supported");
  return step;
}

export function sliceList<T>(list: T[], s: SliceLike): T[] {
  const step = positiveStep(s.step ?? 1);
  const n = list.length;
  const start = clampSliceBound(s.start, n, 0);
  const stop = clampSliceBound(s.stop, n, n);
  const out: T[] = [];
  for (let i = start; i < stop; i += step) out.push(list[i]);
  return out;
}
