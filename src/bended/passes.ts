// One pass of a method with given weights and activation chains, hooked only when an
// activation is bent or captured; and reading activations (peeks) from such a pass.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, StateTensor, withStateOverrides } from "../nn/module.js";
import { Node } from "../graph/graph.js";
import { runHooked } from "../graph/executor.js";
import { resolveMethod, type MethodInputs } from "../graph/observe.js";
import type { ChainLink } from "./bendings.js";
import type { Traces } from "./traces.js";

export interface PassResult {
  output: unknown;
  /** Kept copies of the captured values, owned by the caller. */
  captured: Record<string, Tensor>;
}

export interface PassOptions {
  /** Parameter/buffer tensors to read instead of the module's own (null: its own); asked once the method is found. */
  overrides: () => Map<StateTensor, Tensor> | null;
  /** Activation chains to apply, by node name. */
  chains: Map<string, ChainLink[]>;
  /** Node names whose values to keep: `<name>`, `<name>_bended`, `<list>[]` for a list's items. */
  capture?: Set<string>;
}

/** Runs `fn` of `module` once; every intermediate tensor is disposed. */
export function runPass(module: Module, traces: Traces, fn: string, args: unknown[], options: PassOptions): PassResult {
  const method = resolveMethod(module, fn);
  const overrides = options.overrides();
  const { chains, capture } = options;
  const hooked = chains.size > 0 || (capture !== undefined && capture.size > 0);
  const traced = hooked ? traces.get(fn) : undefined;
  return tf.tidy(() => {
    const captured: Record<string, Tensor> = {};
    // A captured value is a kept clone (sharing the data): a module that runs its own
    // tf.tidy (interpreted TorchScript) or updates tensors in place would dispose the
    // value itself before the caller reads it.
    const keepCaptured = (key: string, value: Tensor): void => {
      captured[key]?.dispose(); // a node run twice (a loop): the last value counts
      captured[key] = tf.keep(value.clone());
    };
    const output = withStateOverrides(overrides, () => {
      if (!hooked) return method.apply(module, args);
      return runHooked(module, fn, args, (name, value) => {
        // a list (split, chunk) is not hooked; its items are captured for its getitem nodes
        if (Array.isArray(value) && capture?.has(`${name}[]`)) value.forEach((v, i) => v instanceof tf.Tensor && keepCaptured(`${name}[${i}]`, v));
        if (!(value instanceof tf.Tensor)) return value;
        if (capture?.has(name)) keepCaptured(name, value);
        const links = chains.get(name);
        let out = value;
        if (links) for (const l of links) out = l.callback.apply(out, l.bound.state, l.bound.target);
        if (capture?.has(`${name}_bended`)) keepCaptured(`${name}_bended`, out);
        return out;
      }, { inputNames: traced!.inputNames, kernels: traced!.graph.untrackedKernels.length > 0, index: traced!.index });
    });
    return { output, captured } as unknown as tf.TensorContainer;
  }) as unknown as PassResult;
}

/** The node a wanted name reads: `<name>_bended` is `<name>` after its bending. */
function unbendedName(name: string): string {
  return name.endsWith("_bended") ? name.slice(0, -"_bended".length) : name;
}

/** What `readActivations` needs from the bended module besides the traces. */
export interface ActivationPass {
  /** Runs `fn` (bended or not) capturing the given names. */
  run(args: unknown[], capture: Set<string>): PassResult;
  /** Parameters and buffers as the pass reads them. */
  stateDict(): Record<string, Tensor>;
}

/**
 * Values of activations `wanted` of `fn` (before their bending; `<name>_bended` after it)
 * for `inputs` (checked against the trace first). The caller owns (and disposes) the returned tensors.
 */
export function readActivations(traces: Traces, fn: string, wanted: string[], inputs: MethodInputs, pass: ActivationPass): Record<string, Tensor> {
  const known = traces.activationNames(fn);
  for (const n of wanted) {
    const base = n.endsWith("_bended") && !known.includes(n) ? unbendedName(n) : n;
    if (!known.includes(base)) throw new BendingError(`'${n}' is not an activation of ${fn} (activations: ${known.join(", ")})`);
  }
  const { inputNames } = traces.get(fn);
  const args: unknown[] = Array.isArray(inputs) ? inputs : inputNames.map((name) => inputs[name]);
  const lists = listsOfItems(traces, wanted, fn);
  const { output, captured } = pass.run(args, new Set([...wanted, ...[...lists.values()].map((l) => `${l.list}[]`)]));
  for (const [item, { list, index }] of lists) captured[item] ??= captured[`${list}[${index}]`];
  const result: Record<string, Tensor> = {};
  for (const n of wanted) {
    const value = captured[n] ?? (n.endsWith("_bended") ? captured[unbendedName(n)] : undefined) ?? attributeActivation(traces, n, fn, pass);
    if (value === undefined) {
      tf.dispose([...Object.values(captured), ...Object.values(result), ...flattenTensors(output).filter((t) => !args.includes(t))]);
      const base = unbendedName(n);
      const { shape } = traces.activationNode(base, fn);
      if (Array.isArray(shape?.[0])) throw new BendingError(`activation '${base}' of ${fn} is a list of ${shape.length} tensors; read its items (the getitem nodes that use it)`);
      throw new BendingError(`activation '${n}' was not produced by this run of ${fn} as a real tensor (a complex value is read through the real tensors around it)`);
    }
    result[n] = value;
  }
  const keep = new Set(Object.values(result));
  for (const v of Object.values(captured)) if (!keep.has(v)) v.dispose();
  for (const t of flattenTensors(output)) if (!keep.has(t)) t.dispose();
  return result;
}

/** For wanted getitem nodes of a list-valued node: the list's name and the item's index (they are read from the list). */
function listsOfItems(traces: Traces, wanted: string[], fn: string): Map<string, { list: string; index: number }> {
  const out = new Map<string, { list: string; index: number }>();
  const nodes = traces.get(fn).graph.activationNodes();
  for (const n of wanted) {
    const base = unbendedName(n);
    const node = nodes.find((x) => x.name === base);
    const [src, index] = node?.target === "getitem" ? node.args : [];
    if (src instanceof Node && typeof index === "number") out.set(n, { list: src.name, index });
  }
  return out;
}

/**
 * A get_attr node's value (a constant the code made, or a parameter/buffer read, as the
 * pass uses it), which a run does not pass through its hooks; a kept copy.
 */
function attributeActivation(traces: Traces, name: string, fn: string, pass: ActivationPass): Tensor | undefined {
  const base = unbendedName(name);
  const { graph } = traces.get(fn);
  const node = graph.activationNodes().find((n) => n.name === base);
  if (node?.op !== "get_attr") return undefined;
  const value = graph.constants.get(node.target) ?? pass.stateDict()[node.target];
  return value === undefined ? undefined : tf.keep(value.clone());
}

function flattenTensors(value: unknown): Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(flattenTensors);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(flattenTensors);
  return [];
}
