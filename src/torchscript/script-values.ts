// Python's meaning of the values interpreted code handles: truthiness, equality, `in`,
// iteration, isinstance() checks, slice objects and Ellipsis, and how a value is named in
// an error. Apart from the compilers because every one of them (and no grammar) needs it.
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";
import { pyEquals } from "../util/python.js";
import { isInstance, type Value } from "./script-class.js";

/** Python truthiness (a tensor must have one element). */
export function truthy(v: Value): boolean {
  if (v instanceof tf.Tensor) {
    if (v.size !== 1) throw new BendingError(`the truth value of a tensor with ${v.size} elements is ambiguous`);
    return v.dataSync()[0] !== 0;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === "string") return v.length > 0;
  return Boolean(v);
}

export function contains(container: Value, item: Value): boolean {
  if (Array.isArray(container)) return container.some((x) => pyEquals(x, item));
  if (container instanceof Map) return container.has(item);
  if (typeof container === "string") return container.includes(String(item));
  throw new BendingError(`'in' is not supported on ${describe(container)}`);
}

/** A Python slice object `a:b:c`. */
export class SliceValue {
  constructor(readonly start: number | null, readonly stop: number | null, readonly step: number | null) {}
}

export const ELLIPSIS = Symbol("Ellipsis");

export function iterable(v: Value): Value[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys()];
  if (typeof v === "string") return [...v];
  if (v instanceof tf.Tensor) return tf.unstack(v);
  throw new BendingError(`${describe(v)} is not iterable`);
}

export function describe(v: Value): string {
  if (v === null) return "None";
  if (v instanceof tf.Tensor) return `a tensor of shape [${v.shape.join(", ")}]`;
  if (Array.isArray(v)) return "a list";
  if (isInstance(v)) return `a ${v.scriptClass.shortName} module`;
  if (v instanceof Map) return "a dict";
  return `a ${typeof v} (${String(v)})`;
}

export function isOfType(v: Value, type: string): boolean {
  switch (type) {
    case "Tensor": return v instanceof tf.Tensor;
    case "int": return typeof v === "number" && Number.isInteger(v);
    case "float": return typeof v === "number";
    case "bool": return typeof v === "boolean";
    case "str": return typeof v === "string";
    case "List": case "Tuple": case "list": case "tuple": return Array.isArray(v);
    case "Dict": case "dict": return v instanceof Map;
    case "NoneType": case "None": return v === null;
    default: return isInstance(v) && (v.scriptClass.name === type || v.scriptClass.shortName === type.split(".").pop());
  }
}

