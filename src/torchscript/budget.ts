// What one top-level call into interpreted code may spend: bytes allocated (tensors, lists
// and strings together), the longest string, the longest list, loop steps and call depth.
// Strings and lists are charged by length before they are built; tensors are charged where
// the backend allocates them (`backend.write`, hooked for the call: on wasm and cpu every
// kernel output passes there, before its memory is taken) and, for backends that allocate
// elsewhere (tfjs-node), by the engine's live byte count after each op. A budget exceeded
// is a BendingError; the interpreter adds the method and file:line, and the call's tidy
// frees its tensors, so the module works on the next call.
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";

export interface CallLimits {
  /** Bytes one call may allocate: tensors created, plus 8 bytes per list element and 2 per string character built. */
  bytes: number;
  /** Characters in one string the code builds. */
  stringLength: number;
  /** Elements in one list the code builds. */
  listLength: number;
  /** Loop iterations and calls. */
  steps: number;
  /** Nested interpreted calls. */
  depth: number;
}

/**
 * Defaults: above what the test fixtures use per call (measured by test/torchscript-budget.test.ts:
 * at 32,768-sample blocks conv24 allocates 386 MB in all, rave_like 38 MB, rave_v1_like 16 MB,
 * ops_zoo 8 MB, with at most 180 steps), far below what takes a process down (V8 strings of
 * 2^29 characters, arrays of 2^27 elements, a 4 GB wasm heap). Tensor bytes are counted as
 * allocated, freed intermediates included, so the budget bounds a call's work as well as its memory.
 */
export const CALL_LIMITS: Readonly<CallLimits> = Object.freeze({
  bytes: 1024 * 1024 * 1024,
  stringLength: 1 << 20,
  listLength: 1_000_000,
  steps: 1_000_000,
  depth: 200,
});

/** Bytes charged per list element (a reference) and per string character (UTF-16). */
const LIST_ELEMENT_BYTES = 8;
const CHAR_BYTES = 2;

const count = (n: number): string => n.toLocaleString("en");

interface EngineWithState {
  state: { numBytes: number };
}

type Write = (values: unknown, shape: number[], dtype: tf.DataType) => unknown;

export class CallBudget {
  /** Bytes of tensors written through the backend, and of lists and strings built, so far. */
  private tensorBytes = 0;
  private valueBytes = 0;
  private readonly engineAtStart: number;

  constructor(readonly limits: Readonly<CallLimits> = CALL_LIMITS) {
    this.engineAtStart = engineBytes();
  }

  /** Bytes allocated so far by this call (the larger of the two tensor counts, plus values). */
  get allocated(): number {
    return Math.max(this.tensorBytes, engineBytes() - this.engineAtStart) + this.valueBytes;
  }

  /** Refuses a list of `length` elements before it is built; charges it. */
  list(length: number, what: string): void {
    if (!(length <= this.limits.listLength)) {
      throw new BendingError(`${what} would build a list of ${length} elements (at most ${count(this.limits.listLength)})`);
    }
    this.chargeValues(length * LIST_ELEMENT_BYTES, `${what} (a list of ${count(length)} elements)`);
  }

  /** Refuses a string of `length` characters before it is built; charges it. */
  string(length: number, what: string): void {
    if (!(length <= this.limits.stringLength)) {
      throw new BendingError(`${what} would build a string of ${count(length)} characters (at most ${count(this.limits.stringLength)})`);
    }
    this.chargeValues(length * CHAR_BYTES, `${what} (a string of ${count(length)} characters)`);
  }

  /** Refuses a tensor of `shape` before a factory builds it (4 bytes an element, the widest dtype tfbend makes). */
  plannedTensor(shape: readonly number[], what: string): void {
    let elements = 1;
    for (const d of shape) elements *= d;
    if (!Number.isFinite(elements) || elements < 0) throw new BendingError(`${what}: a tensor of shape [${shape.join(", ")}] cannot be built`);
    this.refuseOver(this.allocated + elements * 4, `${what} (a tensor of shape [${shape.join(", ")}])`);
  }

  /** After each op: the engine's own count, for backends whose kernels allocate outside `write`. */
  check(what: string): void {
    this.refuseOver(this.allocated, what);
  }

  /** Charges tensor memory the backend is about to take. */
  private chargeTensor(bytes: number, shape: readonly number[], dtype: string): void {
    this.refuseOver(this.allocated + bytes, `a ${dtype} tensor of shape [${shape.join(", ")}]`);
    this.tensorBytes += bytes;
  }

  private chargeValues(bytes: number, what: string): void {
    this.refuseOver(this.allocated + bytes, what);
    this.valueBytes += bytes;
  }

  private refuseOver(total: number, what: string): void {
    if (total > this.limits.bytes) {
      throw new BendingError(`${what} would take the call past ${count(this.limits.bytes)} bytes allocated (the per-call memory budget)`);
    }
  }

  /**
   * Runs `body` with the backend's `write` charged to this budget: refused before the memory is
   * taken. Restored when `body` ends, however it ends.
   */
  metering<T>(body: () => T): T {
    const backend = tf.backend() as unknown as { write?: Write };
    const original = backend.write;
    if (typeof original !== "function") return body();
    const hadOwn = Object.prototype.hasOwnProperty.call(backend, "write");
    const budget = this;
    backend.write = function (this: unknown, values: unknown, shape: number[], dtype: tf.DataType): unknown {
      let elements = 1;
      for (const d of shape) elements *= d;
      if (dtype !== "string") budget.chargeTensor(elements * (dtype === "complex64" ? 8 : 4), shape, dtype);
      return original.call(this, values, shape, dtype);
    };
    try {
      return body();
    } finally {
      if (hadOwn) backend.write = original;
      else delete backend.write;
    }
  }
}

function engineBytes(): number {
  return (tf.engine() as unknown as EngineWithState).state.numBytes;
}
