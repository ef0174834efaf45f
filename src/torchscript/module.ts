// A TorchScript module tree as tfbend modules: one TorchScriptModule per scripted module,
// children and parameters/buffers under their PyTorch names (so weight names are the
// state_dict() keys), methods interpreted. A module whose class has no submodules is a
// leaf (one call_module node); the others are traced through, so their ops are nodes.
// Streaming state (buffers a class writes) is read directly and written in place,
// without touching weight versions; resetState() restores the buffers of the file.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Buffer, Module, Parameter } from "../nn/module.js";
import { currentObserver } from "../nn/hooks.js";
import type { AttributeSpec, AttributeValue, MethodSpec, NnTildeInterface } from "../nn/method-spec.js";
import { CallContext, type RandomSource, type StateOwner } from "./context.js";
import { CALL_LIMITS, type CallLimits } from "./budget.js";
import { checkExposedName } from "./exposed-names.js";
import { checkMethodOutput, checkMethodParams } from "./output-check.js";
import type { Program } from "./interpreter.js";
import { SCRIPT_INSTANCE, type ScriptClass, type ScriptInstance, type Value } from "./script-class.js";
import { ScriptObjectInstance } from "./objects.js";
import { enumListAttribute } from "./enum-attributes.js";

/** A buffer the model writes while it runs (a streaming cache); keeps the file's value for resetState(). */
export class StateBuffer extends Buffer {
  readonly initial: Tensor;

  constructor(data: Tensor) {
    super(data);
    this.initial = this._data;
  }

  /** Replaces the state by a kept tensor; returns the old one when it should be freed. */
  writeState(value: Tensor): Tensor | null {
    const old = this._data;
    this._data = value;
    return old === this.initial || old === value ? null : old;
  }

  protected override replace(value: Tensor): void {
    if (value === this._data) return;
    const old = this._data;
    this._data = tf.keep(value);
    if (old !== this.initial) old.dispose();
  }

  resetState(): void {
    if (this._data !== this.initial) this._data.dispose();
    this._data = this.initial;
  }
}

/** Runs interpreted calls: one CallContext per top-level call. */
export class Runtime {
  private current: CallContext | null = null;
  /** The most bytes and steps one call has used so far (to size CALL_LIMITS; see status). */
  peakBytes = 0;
  peakSteps = 0;

  /** Whether a call is running (a method invoked now is nested in it). */
  get busy(): boolean {
    return this.current !== null;
  }
  constructor(readonly program: Program, readonly random: RandomSource, readonly limits: Readonly<CallLimits> = CALL_LIMITS) {
    program.newObject = (cls) => new ScriptObjectInstance(cls, false, (body) => this.run(body));
  }

  run<T>(body: (ctx: CallContext) => T): T {
    if (this.current !== null) return body(this.current);
    const ctx = new CallContext(this.random, this.program.hasInPlace, this.limits);
    this.current = ctx;
    let result: T | undefined;
    try {
      // one tidy per call: a budget exceeded anywhere frees everything the call made
      result = ctx.budget.metering(() => tf.tidy(() => body(ctx) as unknown as tf.TensorContainer)) as unknown as T;
      return result;
    } finally {
      this.current = null;
      this.peakBytes = Math.max(this.peakBytes, ctx.budget.allocated);
      this.peakSteps = Math.max(this.peakSteps, ctx.steps);
      ctx.finish(result);
    }
  }
}

type FieldKind = "module" | "param" | "buffer" | "state" | "attr";

// Names a file's children, parameters and buffers (which are properties, so that Module walks
// them) must not take over: Module fields and TorchScriptRoot's own fields (set after the base
// constructor runs); members of the prototype chain, Object.prototype's included, are checked
// with `in` on the instance (see isReserved). Script methods are not properties at all.
const RESERVED = new Set<string>(["isLeaf", "training", "moduleId", "constructor", "__proto__", "methods", "attributes", "file", "unsupportedOps"]);
for (let p: object | null = Module.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
  for (const k of Object.getOwnPropertyNames(p)) RESERVED.add(k);
}

export class TorchScriptModule extends Module implements ScriptInstance, StateOwner {
  readonly [SCRIPT_INSTANCE] = true;
  readonly #cls: ScriptClass;
  readonly #runtime: Runtime;
  readonly #kinds = new Map<string, FieldKind>();
  readonly #attrs = new Map<string, Value>();
  /** Tensors the model's code wrote into plain attributes (`self.table = t`): kept across calls, freed when replaced. */
  readonly #keptAttrs = new Set<Tensor>();

  constructor(cls: ScriptClass, runtime: Runtime) {
    super();
    this.#cls = cls;
    this.#runtime = runtime;
  }

  /** The random source `randn`/`rand` draw from (the native engine feeds its draws from it). Static: adds no name to instances. */
  static randomSource(module: TorchScriptModule): RandomSource {
    return module.#runtime.random;
  }

  /** Whether `name` is a tfbend/JS member of this object, which a file's names must not replace. */
  isReserved(name: string): boolean {
    return RESERVED.has(name) || name in this;
  }

  /**
   * Script methods by name (bended.call("encode"), trace("decode")), from the class's table:
   * whatever a file names its methods (`then`, `toJSON`, `dispose`), they never become
   * properties of this object, and tfbend's own members stay what they are.
   */
  override findMethod(fn: string): ((...args: unknown[]) => unknown) | null {
    if (!this.#cls.methods.has(fn)) return null;
    return fn === "forward" ? this.forward : (...args: unknown[]) => this.invoke(fn, args);
  }

  override methodNames(): string[] {
    return [...this.#cls.methods.keys()];
  }

  /** The most bytes and loop steps one call into this model's code has used so far. */
  protected get tfbendRuntime(): Runtime {
    return this.#runtime;
  }

  get callPeak(): { bytes: number; steps: number } {
    return { bytes: this.#runtime.peakBytes, steps: this.#runtime.peakSteps };
  }

  get scriptClass(): ScriptClass {
    return this.#cls;
  }

  /** Adds a field while building the tree (children, parameters, buffers, plain attributes). */
  define(name: string, kind: FieldKind, value: Value): void {
    if (kind !== "attr" && this.isReserved(name)) {
      throw new BendingError(`attribute '${name}' of ${this.#cls.name} collides with a tfbend Module member; this model cannot be loaded`);
    }
    this.#kinds.set(name, kind);
    if (kind === "attr") this.#attrs.set(name, value);
    else (this as unknown as Record<string, unknown>)[name] = value;
  }

  override forward(...args: unknown[]): unknown {
    return this.invoke("forward", args);
  }

  /** Runs an interpreted method of this module. */
  invoke(name: string, args: unknown[]): unknown {
    const method = this.#cls.methods.get(name);
    if (method === undefined) throw new BendingError(`${this.#cls.shortName} has no method '${name}' (methods: ${[...this.#cls.methods.keys()].join(", ")})`);
    return this.#runtime.run((ctx) => method.invoke(ctx, this, args));
  }

  callForward(args: Value[]): Value {
    return (this.call as (...a: unknown[]) => unknown)(...args);
  }

  override argumentNames(fn: string): string[] | null {
    return this.#cls.methods.get(fn)?.argumentNames ?? null;
  }

  getField(name: string, ctx: CallContext): Value {
    if (ctx.overlay.size > 0) {
      const o = ctx.overlay.get(this);
      if (o !== undefined && o.has(name)) {
        const v = o.get(name);
        return v instanceof tf.Tensor && this.#kinds.get(name) === "state" ? ctx.stateValue(this, name, v) : v;
      }
    }
    const own = this as unknown as Record<string, unknown>;
    switch (this.#kinds.get(name)) {
      case "module": return own[name];
      case "param": return (own[name] as Parameter).value;
      case "buffer": {
        // another class may write it in place (self.child.buffer.copy_(x)): remember where it lives
        const buffer = own[name] as Buffer;
        const value = buffer.value;
        return value === buffer.data ? ctx.stateValue(this, name, value) : value;
      }
      case "state": {
        // read directly (versions and interpolation do not apply to streaming state), seen by a tracer as get_attr
        const buffer = own[name] as StateBuffer;
        const obs = currentObserver();
        return ctx.stateValue(this, name, obs === null ? buffer.data : obs.onStateRead(buffer, buffer.data));
      }
      case "attr": {
        // torch.nn.RNN keeps `_flat_weights` as copies of its parameters in the file; read the
        // parameters themselves (as PyTorch does), so that bending their weights reaches the GRU/LSTM
        const names = name === "_flat_weights" ? this.#attrs.get("_flat_weights_names") : undefined;
        if (Array.isArray(names)) return names.map((n) => this.getField(String(n), ctx));
        return this.#attrs.get(name);
      }
      default:
        if (name === "training") return this.training;
        if (this.#cls.constants.has(name)) return this.#cls.constants.get(name);
        throw new BendingError(`${this.#cls.shortName} has no attribute '${name}'`);
    }
  }

  setField(name: string, value: Value, ctx: CallContext): void {
    const kind = this.#kinds.get(name);
    if (kind === "module" || kind === "param") throw new BendingError(`the model assigns ${kind === "module" ? "submodule" : "parameter"} '${name}', which is not supported`);
    if (kind === "state" || kind === "buffer") {
      if (!(value instanceof tf.Tensor)) throw new BendingError(`buffer '${name}' can only hold a tensor`);
      this.writeState(name, value, ctx);
      return;
    }
    if (ctx.frozen) {
      this.overlayOf(ctx).set(name, value);
      return;
    }
    if (name === "training" && kind === undefined) this.training = Boolean(value);
    else {
      this.#kinds.set(name, "attr");
      const old = this.#attrs.get(name);
      // a tensor made during the call would be freed when it ends: the attribute keeps its own copy
      const stored = value instanceof tf.Tensor ? tf.keep(value.clone()) : value;
      if (stored instanceof tf.Tensor) this.#keptAttrs.add(stored);
      this.#attrs.set(name, stored);
      if (old instanceof tf.Tensor && this.#keptAttrs.delete(old)) ctx.retired.push(old);
    }
  }

  private overlayOf(ctx: CallContext): Map<string, unknown> {
    let o = ctx.overlay.get(this);
    if (o === undefined) {
      o = new Map();
      ctx.overlay.set(this, o);
    }
    return o;
  }

  writeState(name: string, value: Tensor, ctx: CallContext): void {
    if (ctx.frozen) {
      this.overlayOf(ctx).set(name, value);
      return;
    }
    const own = this as unknown as Record<string, unknown>;
    const buffer = own[name];
    if (buffer instanceof StateBuffer) {
      const old = buffer.writeState(tf.keep(value));
      if (old !== null) ctx.retired.push(old);
    } else if (buffer instanceof Buffer) {
      buffer.data = value;
    } else {
      throw new BendingError(`'${name}' is not a buffer of ${this.#cls.shortName}`);
    }
  }

  /** A plain (non-tensor-state) attribute, for nn~ metadata. */
  attribute(name: string): Value {
    return this.#attrs.get(name);
  }

  override extraRepr(): string {
    return this.#cls.name;
  }

  /** Frees the tensors the model's code wrote into plain attributes. */
  disposeKeptAttributes(): void {
    for (const t of this.#keptAttrs) if (!t.isDisposed) t.dispose();
    this.#keptAttrs.clear();
  }
}

/** The root of an interpreted model: the nn~ interface on top of TorchScriptModule. */
export class TorchScriptRoot extends TorchScriptModule implements NnTildeInterface {
  methods: MethodSpec[] = [];
  attributes: AttributeSpec[] = [];
  /** The model file it was loaded from. */
  file = "";
  /** Ops the code uses that the op table lacks ("torch.x in Class.method (file:line)"); calls reaching them fail. */
  unsupportedOps: string[] = [];
  /** nn~ attributes whose getter returns a tensor (a wavetable): getTensorAttribute / setTensorAttribute. */
  tensorAttributes: { name: string; type: string }[] = [];
  /** nn~ buffer attributes (`get_buffer_attributes`), filled from audio with setBufferAttribute. */
  bufferAttributes: string[] = [];
  #owned: Tensor[] = [];
  #objects: ScriptObjectInstance[] = [];

  /** Reads nn~'s metadata (get_methods, <method>_params, get_attributes, get_<name>). */
  readNnTilde(): void {
    const cls = this.scriptClass;
    // exports without get_methods (RAVE v1) declare each method by its `<method>_params` buffer alone
    const methodNames = cls.methods.has("get_methods") ? (this.invoke("get_methods", []) as string[])
      : this.namedBuffers().map(([key]) => key).filter((k) => k.endsWith("_params") && !k.includes(".") && cls.methods.has(k.slice(0, -"_params".length)))
        .map((k) => k.slice(0, -"_params".length));
    this.methods = methodNames.map((name) => {
      checkExposedName(name, "nn~ method", this.file);
      const params = (this as unknown as Record<string, unknown>)[`${name}_params`];
      if (!(params instanceof Buffer)) throw new BendingError(`nn~ method '${name}' has no '${name}_params' buffer`);
      const [inChannels, inRatio, outChannels, outRatio] = Array.from(params.data.dataSync());
      const labels = (kind: "input" | "output", n: number): string[] => {
        const given = this.attribute(`${name}_${kind}_labels`);
        return Array.isArray(given) && given.length === n ? given.map(String) : Array.from({ length: n }, (_, i) => `(signal) ${kind} ${i}`);
      };
      const spec = { name, inChannels, inRatio, outChannels, outRatio, inputLabels: labels("input", inChannels), outputLabels: labels("output", outChannels) };
      checkMethodParams(spec, this.file);
      return spec;
    });
    let names: string[];
    if (cls.methods.has("get_attributes")) names = (this.invoke("get_attributes", []) as string[]).map(String);
    else names = [...cls.methods.keys()].filter((m) => m.startsWith("get_") && cls.methods.has(`set_${m.slice(4)}`)).map((m) => m.slice(4));
    for (const name of names) checkExposedName(name, "nn~ attribute", this.file);
    const specs = names.filter((n) => cls.methods.has(`get_${n}`)).map((name) => ({ name, type: cls.methods.get(`get_${name}`)!.def.returns ?? "Any" }));
    this.tensorAttributes = specs.filter((a) => isTensorType(a.type));
    this.attributes = specs.filter((a) => !isTensorType(a.type)).map((a) => {
      const choices = this.enumChoices(a.name);
      return { ...a, value: this.getAttribute(a.name), ...(choices ? { choices } : {}) };
    });
    this.bufferAttributes = cls.methods.has("get_buffer_attributes") ? (this.invoke("get_buffer_attributes", []) as unknown[]).map(String) : [];
  }

  /** An enum attribute's names (see enum-attributes.ts), or undefined for other attributes. */
  private enumChoices(name: string): string[] | undefined {
    const setter = this.scriptClass.methods.get(`set_${name}`)?.def;
    const list = setter === undefined ? undefined : enumListAttribute(setter);
    const choices = list === undefined ? undefined : this.attribute(list);
    return Array.isArray(choices) && choices.length > 0 && choices.every((c) => typeof c === "string") ? (choices as string[]) : undefined;
  }

  /** A tensor-valued attribute (a copy: the caller disposes it). */
  getTensorAttribute(name: string): Tensor {
    if (!this.tensorAttributes.some((a) => a.name === name)) throw new BendingError(`unknown tensor attribute '${name}' (tensor attributes: ${this.tensorAttributes.map((a) => a.name).join(", ") || "none"})`);
    const value = this.invoke(`get_${name}`, []);
    if (!(value instanceof tf.Tensor)) throw new BendingError(`get_${name} returned ${value === null ? "None" : typeof value}, not a tensor`);
    return tf.clone(value);
  }

  /** Sets a tensor-valued attribute through the model's set_<name> (the model keeps its own copy). */
  setTensorAttribute(name: string, value: Tensor): void {
    if (!this.tensorAttributes.some((a) => a.name === name)) throw new BendingError(`unknown tensor attribute '${name}' (tensor attributes: ${this.tensorAttributes.map((a) => a.name).join(", ") || "none"})`);
    this.checkStatus(`set_${name}`, this.invoke(`set_${name}`, [value]), `${name} = a tensor of shape [${value.shape.join(", ")}]`);
  }

  /** nn~'s set_buffer_attribute(name, tensor, sr): fills a buffer attribute from audio (the model keeps its own copy). */
  setBufferAttribute(name: string, value: Tensor, sampleRate: number): void {
    this.checkBufferAttribute(name);
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new BendingError(`buffer attribute '${name}': the sample rate must be a positive int, got ${sampleRate}`);
    this.checkStatus("set_buffer_attribute", this.invoke("set_buffer_attribute", [name, value, sampleRate]), `buffer ${name}`);
  }

  /** nn~'s clear_buffer_attribute(name). */
  clearBufferAttribute(name: string): void {
    this.checkBufferAttribute(name);
    this.checkStatus("clear_buffer_attribute", this.invoke("clear_buffer_attribute", [name]), `clearing buffer ${name}`);
  }

  /** nn~'s is_buffer_empty(name). */
  isBufferEmpty(name: string): boolean {
    this.checkBufferAttribute(name);
    return Boolean(this.invoke("is_buffer_empty", [name]));
  }

  private checkBufferAttribute(name: string): void {
    if (!this.bufferAttributes.includes(name)) throw new BendingError(`unknown buffer attribute '${name}' (buffer attributes: ${this.bufferAttributes.join(", ") || "none"})`);
  }

  /** nn~ setters return 0 (or nothing) when they accept a value. */
  private checkStatus(method: string, result: unknown, what: string): void {
    if (typeof result === "number" && result !== 0) throw new BendingError(`the model refused ${what} (${method} returned ${result})`);
  }

  /** Runs a method; a top-level call of an nn~ method has its output checked against its declaration. */
  override invoke(name: string, args: unknown[]): unknown {
    const spec = this.tfbendRuntime.busy ? undefined : this.methods.find((m) => m.name === name);
    const output = super.invoke(name, args);
    if (spec !== undefined) {
      try {
        checkMethodOutput(spec, args[0], output, this.file);
      } catch (e) {
        tf.dispose(output as tf.TensorContainer);
        throw e;
      }
    }
    return output;
  }

  getAttribute(name: string): AttributeValue {
    if (!this.scriptClass.methods.has(`get_${name}`)) throw new BendingError(`unknown attribute '${name}' (attributes: ${this.attributes.map((a) => a.name).join(", ") || "none"})`);
    return toAttributeValue(this.invoke(`get_${name}`, []), name);
  }

  setAttribute(name: string, value: AttributeValue): void {
    const setter = this.scriptClass.methods.get(`set_${name}`);
    if (setter === undefined) throw new BendingError(`attribute '${name}' cannot be set (no set_${name} in the model)`);
    const params = setter.def.params.slice(1);
    // nn~ keeps attributes as tuples: a getter's 1-tuple sets through a setter of one plain value
    const oneOfOne = params.length === 1 && Array.isArray(value) && value.length === 1 && !/^(List|Tuple)\[/.test(params[0].type ?? "");
    const values = (params.length > 1 || oneOfOne) && Array.isArray(value) ? value : [value];
    if (values.length !== params.length) throw new BendingError(`set_${name} takes ${params.length} value(s), got ${values.length}`);
    params.forEach((p, i) => checkType(values[i], p.type, `${name}`));
    const result = this.invoke(`set_${name}`, values);
    if (typeof result === "number" && result !== 0) throw new BendingError(`the model refused ${name} = ${String(value)} (set_${name} returned ${result})`);
    const spec = this.attributes.find((a) => a.name === name);
    if (spec !== undefined) spec.value = this.getAttribute(name);
  }

  resetState(): void {
    for (const [, state] of this.namedBuffers()) if (state instanceof StateBuffer) state.resetState();
  }

  /** Kept copies of the streaming state (for rendering a block twice from the same past). */
  snapshotState(): Map<StateBuffer, Tensor> {
    const out = new Map<StateBuffer, Tensor>();
    for (const [, state] of this.namedBuffers()) if (state instanceof StateBuffer) out.set(state, tf.keep(state.data.clone()));
    return out;
  }

  /** Puts a snapshot back (and takes ownership of it). */
  restoreState(snapshot: unknown): void {
    for (const [state, value] of snapshot as Map<StateBuffer, Tensor>) {
      const old = state.writeState(value);
      old?.dispose();
    }
  }

  /** Scripted-class objects of the file (buffer attributes): they free the tensors written to them with the root. */
  ownObjects(objects: ScriptObjectInstance[]): void {
    this.#objects.push(...objects);
  }

  /** Tensors the module holds beyond its state (constants, plain tensor attributes). */
  own(tensors: Tensor[]): void {
    this.#owned.push(...tensors);
  }

  override dispose(): void {
    const initials = this.namedBuffers().map(([, b]) => b).filter((b): b is StateBuffer => b instanceof StateBuffer);
    this.resetState();
    for (const [, m] of this.namedModules()) if (m instanceof TorchScriptModule) m.disposeKeptAttributes();
    super.dispose();
    for (const b of initials) if (!b.initial.isDisposed) b.initial.dispose();
    for (const t of this.#owned) t.dispose();
    this.#owned = [];
    for (const o of this.#objects) o.dispose();
    this.#objects = [];
  }
}

function toAttributeValue(v: Value, name: string): AttributeValue {
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "number" || typeof x === "boolean" || typeof x === "string")) return v as (number | boolean | string)[];
  throw new BendingError(`attribute '${name}' has a value tfbend cannot pass on (${v === null ? "None" : typeof v})`);
}

/** Whether a TorchScript type holds a tensor (`Tensor`, `Optional[Tensor]`). */
function isTensorType(type: string): boolean {
  return /\bTensor\b/.test(type);
}

function checkType(v: unknown, type: string | null, name: string): void {
  if (type === null) return;
  const list = /^List\[(.+)\]$/.exec(type);
  if (list !== null) {
    if (!Array.isArray(v)) throw new BendingError(`attribute '${name}' needs a list (${type}), got ${String(v)}`);
    v.forEach((item) => checkType(item, list[1], name));
    return;
  }
  const ok = type === "bool" ? typeof v === "boolean"
    : type === "int" ? typeof v === "number" && Number.isInteger(v)
    : type === "float" ? typeof v === "number" && Number.isFinite(v)
    : type === "str" ? typeof v === "string"
    : true;
  if (!ok) throw new BendingError(`attribute '${name}' needs a ${type}, got ${typeof v === "string" ? `'${v}'` : String(v)}`);
}
