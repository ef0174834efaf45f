// Instances of scripted classes that are not modules: built at run time by the code
// (`__torch__.X.__new__(__torch__.X)` then `(obj).__init__(...)`, as torch 2.x prints
// no_grad and user classes) or loaded from data.pkl (nn~'s buffer attributes keep a
// `python_tools.buffer.Buffer` object in an attribute). Fields are plain values; an object
// that outlives calls (loaded from the file) keeps its own copy of each tensor written to it.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import type { CallContext } from "./context.js";
import { SCRIPT_INSTANCE, type ScriptClass, type ScriptInstance, type Value } from "./script-class.js";

export class ScriptObjectInstance implements ScriptInstance {
  readonly [SCRIPT_INSTANCE] = true;
  readonly #fields = new Map<string, Value>();
  /** Tensors this object keeps (persistent objects only): freed when replaced or on dispose(). */
  readonly #kept = new Set<Tensor>();

  /**
   * @param persistent whether the object outlives the call that made it (loaded from the file):
   *   then tensors written to it are kept (tfjs would free them when the call ends).
   * @param run runs a top-level call (for callForward from outside the interpreter).
   */
  constructor(readonly scriptClass: ScriptClass, private readonly persistent: boolean, private readonly run: <T>(body: (ctx: CallContext) => T) => T) {}

  /** Sets a field while loading (tensors stay owned by the loader). */
  define(name: string, value: Value): void {
    this.#fields.set(name, value);
  }

  /** The field's value outside any call (tests, nn~ metadata). */
  field(name: string): Value {
    return this.#fields.get(name);
  }

  getField(name: string, ctx: CallContext): Value {
    const overlay = ctx.overlay.get(this);
    if (overlay !== undefined && overlay.has(name)) return overlay.get(name);
    if (this.#fields.has(name)) return this.#fields.get(name);
    if (this.scriptClass.constants.has(name)) return this.scriptClass.constants.get(name);
    throw new BendingError(`${this.scriptClass.shortName} object has no attribute '${name}'`);
  }

  setField(name: string, value: Value, ctx: CallContext): void {
    if (!this.persistent) {
      this.#fields.set(name, value);
      return;
    }
    if (ctx.frozen) {
      // tracing and peeks see the write for the rest of their call only
      let overlay = ctx.overlay.get(this);
      if (overlay === undefined) ctx.overlay.set(this, (overlay = new Map()));
      overlay.set(name, value);
      return;
    }
    const old = this.#fields.get(name);
    let stored = value;
    if (value instanceof tf.Tensor) {
      stored = tf.keep(value.clone());
      this.#kept.add(stored as Tensor);
    }
    this.#fields.set(name, stored);
    if (old instanceof tf.Tensor && this.#kept.delete(old)) ctx.retired.push(old);
  }

  callForward(args: Value[]): Value {
    const forward = this.scriptClass.methods.get("forward");
    if (forward === undefined) throw new BendingError(`${this.scriptClass.shortName} object is not callable`);
    return this.run((ctx) => forward.invoke(ctx, this, args));
  }

  /** Runs a method from outside the interpreter (one top-level call). */
  invoke(name: string, args: Value[]): Value {
    const method = this.scriptClass.methods.get(name);
    if (method === undefined) throw new BendingError(`${this.scriptClass.shortName} has no method '${name}'`);
    return this.run((ctx) => method.invoke(ctx, this, args));
  }

  dispose(): void {
    for (const t of this.#kept) if (!t.isDisposed) t.dispose();
    this.#kept.clear();
  }
}
