// A small torch-like Module system over tfjs. Parameters and buffers are discovered
// from the properties of a module in definition order (like PyTorch's registration
// order), so `conv_modules = new nn.Sequential(...)` gives `conv_modules.0.weight`.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { currentObserver, dispatch } from "./hooks.js";

let stateOverrides: Map<StateTensor, Tensor> | null = null;
let frozen = 0;
let generation = 0;

/** Bumped whenever any module's parameter or buffer is replaced (caches derived from weights compare it). */
export function stateGeneration(): number {
  return generation;
}

/** Runs `run` without side effects on module state (BatchNorm's running statistics). */
export function withFrozenState<T>(run: () => T): T {
  frozen++;
  try {
    return run();
  } finally {
    frozen--;
  }
}

export function stateIsFrozen(): boolean {
  return frozen > 0;
}

/**
 * Runs `run` with some parameters/buffers reading other tensors (bent weights,
 * another version). The module's own tensors are never touched.
 */
export function withStateOverrides<T>(overrides: Map<StateTensor, Tensor> | null, run: () => T): T {
  const prev = stateOverrides;
  stateOverrides = overrides;
  try {
    return run();
  } finally {
    stateOverrides = prev;
  }
}

/** A tensor owned by a module: a Parameter (bendable weight) or a Buffer (running statistics). */
export abstract class StateTensor {
  protected _data: Tensor;

  constructor(data: Tensor) {
    this._data = tf.keep(data);
  }

  /** The tensor as stored in the module (never bent). */
  get data(): Tensor {
    return this._data;
  }

  /** Replaces the stored tensor (disposes the old one). */
  set data(value: Tensor) {
    this.replace(value);
    generation++;
  }

  /** How a new value is stored; wrappers of other frameworks' variables write into them instead. */
  protected replace(value: Tensor): void {
    if (value === this._data) return;
    const old = this._data;
    this._data = tf.keep(value);
    old.dispose();
  }

  /** The tensor a forward pass should use: the stored one, or a bent/versioned override. */
  get value(): Tensor {
    const value = stateOverrides?.get(this) ?? this._data;
    const obs = currentObserver();
    return obs === null ? value : obs.onStateRead(this, value);
  }

  get shape(): number[] {
    return this._data.shape;
  }
}

export class Parameter extends StateTensor {}
export class Buffer extends StateTensor {}


let moduleCounter = 0;

export class Module {
  /** Leaf modules are recorded as one call_module node; others are traced through. */
  isLeaf = false;
  training = true;
  readonly moduleId: number = 5500000000 + ++moduleCounter;

  forward(..._args: never[]): unknown {
    throw new BendingError(`${this.constructor.name} does not define forward()`);
  }

  /** Invokes the module (torch's __call__): observed when a tracer or bended pass runs. */
  call<M extends Module>(this: M, ...args: Parameters<M["forward"]>): ReturnType<M["forward"]> {
    const forward = this.forward as unknown as (...a: unknown[]) => ReturnType<M["forward"]>;
    if (!this.isLeaf) return forward.apply(this, args);
    return dispatch("call_module", this, args, () => forward.apply(this, args));
  }

  /**
   * The method callable by the name `fn` (trace("encode"), bended.call("encode")), or null.
   * A plain module's methods are its functions; an interpreted module keeps its methods in a
   * table (TorchScriptModule), so that names a file chooses never become properties of the
   * object (`then` would make it look like a promise).
   */
  findMethod(fn: string): ((...args: unknown[]) => unknown) | null {
    const member: unknown = (this as unknown as Record<string, unknown>)[fn];
    return typeof member === "function" ? (member as (...args: unknown[]) => unknown) : null;
  }

  /** Names findMethod knows, for error messages. */
  methodNames(): string[] {
    const names = new Set<string>();
    for (let p: object | null = Object.getPrototypeOf(this) as object | null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const k of Object.getOwnPropertyNames(p)) if (k !== "constructor") names.add(k);
    }
    return [...names];
  }

  /**
   * The input names of methods, declared by the class (`static inputNames = { forward: ["x"] }`).
   * Keyword inputs (`trace({ x })`) bind by these: transpilers and minifiers rename parameters,
   * so the method's source text is only a fallback.
   */
  static inputNames?: Readonly<Record<string, readonly string[]>>;

  /** Names of a method's inputs as the code declares them; null when it declares none (read from the source). */
  argumentNames(fn: string): string[] | null {
    const declared = (this.constructor as typeof Module).inputNames;
    return declared !== undefined && Object.hasOwn(declared, fn) ? [...declared[fn]] : null;
  }

  /**
   * State keys this module takes in a state dict besides its parameters and buffers (PyTorch's
   * BatchNorm `num_batches_tracked`): each reads the loaded tensor, throws a BendingError if it
   * does not fit, and returns what stores it (run only once every key of the dict fits).
   */
  protected extraStateKeys(): Record<string, (tensor: Tensor) => () => void> {
    return {};
  }

  /** Direct children in definition order. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
    }
    return out;
  }

  /** All modules below (and including) this one, with dotted paths ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [key, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix === "" ? key : `${prefix}.${key}`));
    }
    return out;
  }

  private ownState<T extends StateTensor>(kind: abstract new (...a: never[]) => T): [string, T][] {
    const out: [string, T][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof kind) out.push([key, value as T]);
    }
    return out;
  }

  namedParameters(): [string, Parameter][] {
    return this.namedState(Parameter);
  }

  namedBuffers(): [string, Buffer][] {
    return this.namedState(Buffer);
  }

  private namedState<T extends StateTensor>(kind: abstract new (...a: never[]) => T): [string, T][] {
    const out: [string, T][] = [];
    for (const [path, mod] of this.namedModules()) {
      for (const [key, state] of mod.ownState(kind)) out.push([path === "" ? key : `${path}.${key}`, state]);
    }
    return out;
  }

  /** Parameters then buffers of every module, keyed by dotted path, in module order. */
  namedStateTensors(): [string, StateTensor][] {
    const out: [string, StateTensor][] = [];
    for (const [path, mod] of this.namedModules()) {
      for (const [key, value] of Object.entries(mod)) {
        if (value instanceof StateTensor) out.push([path === "" ? key : `${path}.${key}`, value]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters and buffers by dotted name. The tensors are the module's own (not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, state] of this.namedStateTensors()) out[name] = state.data;
    return out;
  }

  /**
   * Copies tensors into this module's parameters and buffers. With `strict` (default),
   * missing, unexpected or mis-shaped keys are an error listing all of them, and
   * nothing is changed.
   */
  loadStateDict(stateDict: Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const own = new Map(this.namedStateTensors());
    const extra = new Map<string, (tensor: Tensor) => () => void>();
    for (const [path, mod] of this.namedModules()) {
      for (const [key, read] of Object.entries(mod.extraStateKeys())) extra.set(path === "" ? key : `${path}.${key}`, read);
    }
    const missing = [...own.keys()].filter((k) => !(k in stateDict));
    const unexpected = Object.keys(stateDict).filter((k) => !own.has(k) && !extra.has(k));
    const misshaped: string[] = [];
    for (const [name, tensor] of Object.entries(stateDict)) {
      const state = own.get(name);
      if (state !== undefined && !sameShape(state.shape, tensor.shape)) {
        misshaped.push(`${name}: expected [${state.shape.join(", ")}], got [${tensor.shape.join(", ")}]`);
      }
    }
    const stores: (() => void)[] = [];
    for (const [name, tensor] of Object.entries(stateDict)) {
      const read = own.has(name) ? undefined : extra.get(name);
      if (read === undefined) continue;
      try {
        stores.push(read(tensor));
      } catch (error) {
        if (!(error instanceof BendingError)) throw error;
        misshaped.push(`${name}: ${error.message}`);
      }
    }
    const problems: string[] = [];
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(", ")}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(", ")}`);
    if (misshaped.length) problems.push(`shape mismatch: ${misshaped.join("; ")}`);
    if (problems.length) {
      throw new BendingError(`cannot load state dict into ${this.constructor.name}: ${problems.join(" | ")}`);
    }
    for (const [name, tensor] of Object.entries(stateDict)) {
      const state = own.get(name);
      if (state !== undefined) state.data = tf.tidy(() => tf.cast(tensor, state.data.dtype).clone());
    }
    for (const store of stores) store();
  }

  train(mode = true): this {
    for (const [, mod] of this.namedModules()) mod.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Layer arguments shown in the repr, e.g. "1, 4, kernel_size=(3,)". */
  extraRepr(): string {
    return "";
  }

  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return head + ")";
    const lines = children.map(([key, child]) => `  (${key}): ${String(child).split("\n").join("\n  ")}`);
    return `${head}\n${lines.join("\n")}\n)`;
  }

  /** Disposes every parameter and buffer. */
  dispose(): void {
    for (const [, state] of this.namedStateTensors()) state.data.dispose();
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

