// Hook mode: re-run the original method and let a hook see (and replace) the value of
// every node by name as it is produced. Exact by construction — the user's own code
// runs — and robust to code the graph cannot replay.
import type { Tensor } from "../tf.js";
import { withObserver, type CallKind } from "../nn/hooks.js";
import type { Module } from "../nn/module.js";
import { nameFailingNode } from "./node-error.js";
import { NamingObserver, observeKernels, resolveMethod, type ModuleIndex, type KernelAttrs, type KernelInputs } from "./observe.js";

/** Sees each node's value as it is produced; returns the value to pass on. */
export type NodeHook = (name: string, value: unknown) => unknown;

class HookedExecutor extends NamingObserver {
  constructor(root: Module, private readonly hook: NodeHook, index?: ModuleIndex) {
    super(root, index);
  }
  protected call(kind: CallKind, target: string, name: string, _args: unknown[], run: () => unknown): unknown {
    try {
      return this.hook(name, run());
    } catch (error) {
      throw nameFailingNode(error, name, kind, target);
    }
  }
  protected stateRead(_path: string, _name: string, value: Tensor): Tensor {
    return value;
  }
  protected kernel(kernelName: string, name: string, _inputs: KernelInputs, _attrs: KernelAttrs, run: () => unknown): unknown {
    try {
      return this.hook(name, run());
    } catch (error) {
      throw nameFailingNode(error, name, "call_function", `tf.${kernelName}`);
    }
  }
}

export interface HookedRunOptions {
  /** Parameter names of the method (placeholders), as traced. */
  inputNames: string[];
  /** Observe raw tfjs kernels too (when the traced graph has tf.* nodes). */
  kernels: boolean;
  /** The trace's module index (saves walking the module tree on every pass). */
  index?: ModuleIndex;
}

/** Runs `root[fn](...args)` with `hook` applied to every node output (inputs included). */
export function runHooked(root: Module, fn: string, args: unknown[], hook: NodeHook, options: HookedRunOptions): unknown {
  const method = resolveMethod(root, fn);
  const executor = new HookedExecutor(root, hook, options.index);
  const hookedArgs = args.map((a, i) => hook(executor.placeholderName(options.inputNames[i] ?? `arg${i}`), a));
  const run = () => method.apply(root, hookedArgs);
  return withObserver(executor, () => (options.kernels ? observeKernels(executor, run) : run()));
}
