// The state of one top-level call into interpreted code: the frames on the stack, where
// each tensor view came from (so that an in-place write to a slice of a buffer updates
// the buffer, as in PyTorch), writes made while state is frozen (tracing, peeks), and
// the old buffer tensors to free when the call ends.
import { tf, type Tensor } from "../tf.js";
import { stateIsFrozen } from "../nn/module.js";
import { dispatch } from "../nn/hooks.js";
import { BendingError } from "../errors.js";
import { CallBudget, CALL_LIMITS, type CallLimits } from "./budget.js";

/** Draws random numbers for `randn`/`rand` and their `_like` forms. */
export type RandomSource = (kind: "normal" | "uniform", shape: number[]) => Float32Array;

/** Where a tensor value lives: a view of another tensor, or a module's state buffer. */
export type Origin =
  | { kind: "view"; base: Tensor; write: (base: Tensor, view: Tensor) => Tensor }
  | { kind: "state"; owner: StateOwner; name: string };

/** A module whose named buffer can be rewritten (TorchScriptModule). */
export interface StateOwner {
  writeState(name: string, value: Tensor, ctx: CallContext): void;
}

/** Loop iterations and calls one top-level call may make (the test fixtures need at most 100). */
export const STEP_BUDGET = CALL_LIMITS.steps;
/** Nested interpreted calls (recursion) before a call is refused, well inside the JS stack. */
export const MAX_CALL_DEPTH = CALL_LIMITS.depth;
/** Elements one list built by interpreted code (range(), list * n) may hold. */
export const MAX_LIST_ELEMENTS = CALL_LIMITS.listLength;

/**
 * Refuses a list longer than the limit before it is built (V8 aborts the process on huge
 * arrays) and charges it to the call's byte budget when there is a call.
 */
export function checkListLength(length: number, what: string, ctx?: CallContext | null): void {
  if (ctx) ctx.budget.list(length, what);
  else if (!(length <= MAX_LIST_ELEMENTS)) throw new BendingError(`${what} would build a list of ${length} elements (at most ${MAX_LIST_ELEMENTS.toLocaleString("en")})`);
}

/** Refuses a string longer than the limit before it is built (charged like a list). */
export function checkStringLength(length: number, what: string, ctx?: CallContext | null): void {
  if (ctx) ctx.budget.string(length, what);
  else if (!(length <= CALL_LIMITS.stringLength)) throw new BendingError(`${what} would build a string of ${length} characters (at most ${CALL_LIMITS.stringLength.toLocaleString("en")})`);
}

/** Counts one loop iteration or call against the top-level call's budget. */
export function countStep(ctx: CallContext): void {
  if (++ctx.steps > ctx.budget.limits.steps) {
    throw new BendingError(`the model ran more than ${ctx.budget.limits.steps.toLocaleString("en")} loop iterations and calls in one call (an endless loop?)`);
  }
}

export class CallContext {
  readonly frames: unknown[][] = [];
  /** Loop iterations and calls so far, against STEP_BUDGET. */
  steps = 0;
  private readonly origins = new Map<Tensor, Origin>();
  private readonly latest = new Map<Tensor, Tensor>();
  /** Field writes made while state is frozen: visible to the rest of this call only. */
  readonly overlay = new Map<object, Map<string, unknown>>();
  /** Buffer tensors replaced during this call, freed when it ends. */
  readonly retired: Tensor[] = [];
  readonly frozen = stateIsFrozen();
  /** What the call may still allocate (see budget.ts). */
  readonly budget: CallBudget;

  constructor(readonly random: RandomSource, readonly trackViews: boolean, limits: Readonly<CallLimits> = CALL_LIMITS) {
    this.budget = new CallBudget(limits);
  }

  /** Records that `view` is a view of `base`; `write` puts a new view value back into a base value. */
  view(base: Tensor, view: Tensor, write: (base: Tensor, view: Tensor) => Tensor): Tensor {
    if (this.trackViews) this.origins.set(view, { kind: "view", base, write });
    return view;
  }

  /** Records that `value` is the current tensor of `owner`'s buffer `name`. */
  stateValue(owner: StateOwner, name: string, value: Tensor): Tensor {
    if (this.trackViews) this.origins.set(value, { kind: "state", owner, name });
    return value;
  }

  /**
   * An in-place write: `old` now holds `value`. Every local holding `old` is rebound,
   * and if `old` is a view, the tensor it views (up to a state buffer) is rewritten.
   */
  assign(old: Tensor, value: Tensor): Tensor {
    for (const frame of this.frames) {
      for (let i = 0; i < frame.length; i++) if (frame[i] === old) frame[i] = value;
    }
    this.latest.set(old, value);
    const origin = this.origins.get(old);
    if (origin === undefined) return value;
    this.origins.set(value, origin);
    if (origin.kind === "view") {
      const base = this.current(origin.base);
      // a node of its own, so that a tracer knows the rewritten tensor
      this.assign(base, dispatch("call_function", "slice_scatter", [base, value], () => tf.tidy(() => origin.write(base, value))));
    } else {
      origin.owner.writeState(origin.name, value, this);
    }
    return value;
  }

  /** The tensor that replaced `t` through in-place writes (t itself if none). */
  current(t: Tensor): Tensor {
    let out = t;
    for (let next = this.latest.get(out); next !== undefined; next = this.latest.get(out)) out = next;
    return out;
  }

  /** Frees replaced buffer tensors that the call's result does not hold. */
  finish(result: unknown): void {
    if (this.retired.length === 0) return;
    const keep = new Set<Tensor>();
    const visit = (v: unknown): void => {
      if (v instanceof tf.Tensor) keep.add(v);
      else if (Array.isArray(v)) v.forEach(visit);
    };
    visit(result);
    for (const t of this.retired) if (!keep.has(t) && !t.isDisposed) t.dispose();
  }
}
