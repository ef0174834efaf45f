// Observation points through which the graph package sees what user code does.
// nn knows nothing about graphs: it only reports calls to whoever observes (a tracer
// or the bended executor). Calls made while another observed call runs are not
// reported (depth > 0), so a leaf module's internals stay opaque.
import type { Tensor } from "../tf.js";

export type CallKind = "call_module" | "call_function" | "call_method";

export interface CallObserver {
  /** `target` is the Module for call_module, the op name for call_function/call_method. */
  onCall(kind: CallKind, target: unknown, args: unknown[], run: () => unknown): unknown;
  /** A parameter or buffer read directly by user code (torch.fx's get_attr). */
  onStateRead(owner: object, value: Tensor): Tensor;
}

let observer: CallObserver | null = null;
let depth = 0;

/** The observer that should see a call made now, or null. */
export function currentObserver(): CallObserver | null {
  return depth === 0 ? observer : null;
}

/** Runs `run` as one observed call of `kind`/`target`; nested calls are hidden. */
export function dispatch<T>(kind: CallKind, target: unknown, args: unknown[], run: () => T): T {
  const obs = depth === 0 ? observer : null;
  if (obs === null) return run();
  return obs.onCall(kind, target, args, () => opaque(run)) as T;
}

/** Runs `run` without reporting any call made inside it. */
export function opaque<T>(run: () => T): T {
  depth++;
  try {
    return run();
  } finally {
    depth--;
  }
}

/** Runs `run` with `obs` observing top-level calls; restores the previous observer. */
export function withObserver<T>(obs: CallObserver | null, run: () => T): T {
  const prevObserver = observer;
  const prevDepth = depth;
  observer = obs;
  depth = 0;
  try {
    return run();
  } finally {
    observer = prevObserver;
    depth = prevDepth;
  }
}
