// Where in a file's code each observed call is made, while a trace asks for it: the call
// expression being evaluated, the function it is written in and the frame's `self`. The
// export of bent models (load/torchscript-activations.ts) reads it to write an activation
// bending into the code right after the statement that computes the activation. Off by
// default: evaluating a call costs one flag test then.
import type { Expr, FunctionDef } from "./syntax.js";

export interface CallSite {
  /** The call expression (a node of the parsed code: compare by identity). */
  expr: Extract<Expr, { k: "call" }>;
  /** The function or method whose body holds it. */
  def: FunctionDef;
  /** Its class (qualified) or module, as labels name it. */
  owner: string;
  /** The frame's `self` for a method (the module instance), null for a free function. */
  self: unknown;
}

let tracking = false;
const stack: CallSite[] = [];

/** Whether calls record their site now. */
export function trackingCallSites(): boolean {
  return tracking;
}

/** Runs `run` with call sites recorded (nested calls restore the stack as they return). */
export function withCallSites<T>(run: () => T): T {
  const previous = tracking;
  tracking = true;
  const depth = stack.length;
  try {
    return run();
  } finally {
    tracking = previous;
    stack.length = depth;
  }
}

/** Evaluates one call with its site on the stack: what it dispatches (after its arguments, whose own sites have left) sees it. */
export function atCallSite<T>(site: CallSite, run: () => T): T {
  stack.push(site);
  try {
    return run();
  } finally {
    stack.pop();
  }
}

/** The call being dispatched now (the innermost call whose arguments are evaluated), if sites are recorded. */
export function currentCallSite(): CallSite | undefined {
  return stack[stack.length - 1];
}
