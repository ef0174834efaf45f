// The table of F ops by name: what tracing records as a call_function target and what
// graph replay (GraphModule) looks up. A name belongs to one op: defining a second op
// under a taken name is a programming error, refused at load time rather than letting
// replay silently run whichever definition came last.
import type { Tensor } from "../../tf.js";
import { dispatch } from "../hooks.js";

/** A tensor's shape as a plain array (tfjs types it per rank). */
export function dims(t: Tensor): number[] {
  return t.shape;
}

/** What element-wise ops take on either side: a tensor or a number. */
export type Operand = Tensor | number;

type OpImpl = (...args: never[]) => unknown;
type AnyOp = (...args: unknown[]) => unknown;

const registry = new Map<string, AnyOp>();

/** Every F op by name, for graph replay (read-only). */
export const FUNCTIONS: ReadonlyMap<string, AnyOp> = registry;

/**
 * Registers `impl` as the op `name` and returns it wrapped so that a call is reported
 * as one call_function node (its internals stay opaque). Throws if `name` is taken.
 */
export function defineOp<T extends OpImpl>(name: string, impl: T): T {
  if (registry.has(name)) throw new Error(`tfbend: the op '${name}' is defined twice`);
  const run = impl as unknown as AnyOp;
  const observed = ((...args: unknown[]) => dispatch("call_function", name, args, () => run(...args))) as unknown as T;
  registry.set(name, run);
  Object.defineProperty(observed, "name", { value: name });
  return observed;
}
