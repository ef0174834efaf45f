// What the tracer and the hooked executor share: naming every observed call the same
// way, and seeing raw tfjs kernels that user code runs outside tb.F.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { currentObserver, opaque, type CallKind, type CallObserver } from "../nn/hooks.js";
import type { Module, StateTensor } from "../nn/module.js";
import { callTarget, modulePaths, nameBase, Namer, parameterNames } from "./naming.js";

export type KernelInputs = Record<string, Tensor>;
export type KernelAttrs = Record<string, unknown>;

/** Dotted paths of a module tree's modules and state tensors, as a trace saw them. */
export interface ModuleIndex {
  modules: Map<Module, string>;
  states: Map<StateTensor, string>;
}

/** Walks the module tree once; a trace keeps the result so hooked passes need not walk it again. */
export function indexModule(root: Module): ModuleIndex {
  return { modules: modulePaths(root), states: new Map(root.namedStateTensors().map(([name, state]) => [state, name])) };
}

export abstract class NamingObserver implements CallObserver {
  protected readonly namer = new Namer();
  protected readonly paths: Map<Module, string>;
  protected readonly statePaths: Map<StateTensor, string>;

  constructor(protected readonly root: Module, readonly index: ModuleIndex = indexModule(root)) {
    this.paths = index.modules;
    this.statePaths = index.states;
  }

  onCall(kind: CallKind, target: unknown, args: unknown[], run: () => unknown): unknown {
    const recorded = callTarget(kind, target, this.paths);
    return this.call(kind, recorded, this.namer.next(nameBase(kind, recorded)), args, run);
  }

  onStateRead(owner: object, value: Tensor): Tensor {
    const path = this.statePaths.get(owner as StateTensor) ?? "attr";
    return this.stateRead(path, this.namer.next(nameBase("get_attr", path)), value);
  }

  onKernel(kernelName: string, inputs: KernelInputs, attrs: KernelAttrs, run: () => unknown): unknown {
    return this.kernel(kernelName, this.namer.next(nameBase("kernel", kernelName)), inputs, attrs, run);
  }

  /** Names a method argument (a placeholder). */
  placeholderName(param: string): string {
    return this.namer.next(param);
  }

  protected abstract call(kind: CallKind, target: string, name: string, args: unknown[], run: () => unknown): unknown;
  protected abstract stateRead(path: string, name: string, value: Tensor): Tensor;
  protected abstract kernel(kernelName: string, name: string, inputs: KernelInputs, attrs: KernelAttrs, run: () => unknown): unknown;
}

type RunKernel = (kernelName: string, inputs: KernelInputs, attrs?: KernelAttrs) => unknown;

/**
 * Runs `run` while every kernel started at top level (not inside an observed call) is
 * reported to `observer`. Wrapping the engine costs nothing once restored.
 */
export function observeKernels<T>(observer: NamingObserver, run: () => T): T {
  const engine = tf.engine() as unknown as { runKernel: RunKernel };
  const hadOwn = Object.prototype.hasOwnProperty.call(engine, "runKernel");
  const original = engine.runKernel;
  engine.runKernel = function (kernelName: string, inputs: KernelInputs, attrs: KernelAttrs = {}) {
    const exec = () => original.call(engine, kernelName, inputs, attrs);
    if (currentObserver() !== observer) return exec();
    return observer.onKernel(kernelName, inputs, attrs, () => opaque(exec));
  };
  try {
    return run();
  } finally {
    if (hadOwn) engine.runKernel = original;
    else delete (engine as { runKernel?: RunKernel }).runKernel;
  }
}

export type MethodInputs = Record<string, unknown> | unknown[];

type Method = (...args: unknown[]) => unknown;

/** The method `fn` of `module`, or a clear error listing the methods there are. */
export function resolveMethod(module: Module, fn: string): Method {
  const method = module.findMethod(fn);
  if (method === null) throw new BendingError(`${module.constructor.name} has no method '${fn}' (methods: ${module.methodNames().join(", ")})`);
  return method as Method;
}

/** Positional arguments and their parameter names, from named or positional inputs. */
export function bindInputs(module: Module, fn: string, inputs: MethodInputs): { names: string[]; args: unknown[] } {
  const method = resolveMethod(module, fn);
  const declared = module.argumentNames(fn);
  const params = declared ?? parameterNames(method as (...a: never[]) => unknown);
  if (Array.isArray(inputs)) {
    const names = inputs.map((_, i) => params[i] ?? `arg${i}`);
    return { names, args: inputs };
  }
  const keys = Object.keys(inputs);
  const unknown = keys.filter((k) => !params.includes(k));
  if (unknown.length > 0) {
    // One input for a one-parameter method binds whatever a transpiler renamed the parameter to.
    if (declared === null && keys.length === 1 && params.length === 1) return { names: keys, args: [inputs[keys[0]]] };
    throw new BendingError(unknownInputMessage(module, fn, params, unknown, declared !== null));
  }
  let last = -1;
  params.forEach((p, i) => {
    if (p in inputs) last = i;
  });
  const names = params.slice(0, last + 1);
  return { names, args: names.map((p) => inputs[p]) };
}

function unknownInputMessage(module: Module, fn: string, params: string[], unknown: string[], declared: boolean): string {
  const cls = module.constructor.name;
  const missing = unknown.map((k) => `'${k}'`).join(", ");
  if (declared) return `${cls}.${fn} takes the inputs (${params.join(", ")}); there is no input ${missing}`;
  const guess = params.map((p, i) => JSON.stringify(i < unknown.length ? unknown[i] : p)).join(", ");
  return (
    `${cls}.${fn}(${params.join(", ")}) has no parameter ${missing}: these names are read from the running code, ` +
    `which transpilers and minifiers rename. Declare them in the class (static inputNames = { ${fn}: [${guess}] }) ` +
    `or pass the inputs by position (trace("${fn}", [...]))`
  );
}
