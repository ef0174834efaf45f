// Eager tracing: run a method once on real example inputs and record every observed
// call (leaf module, F op, tensor method, parameter read, raw tfjs kernel) as a node
// with its concrete output shape. Symbolic tracing does not work on tfjs (ops reject
// proxies, code reads x.shape), so the graph is what the code actually did.
import { tf, type Tensor } from "../tf.js";
import { opaque, withObserver, type CallKind } from "../nn/hooks.js";
import { withFrozenState } from "../nn/module.js";
import { Module } from "../nn/module.js";
import { Graph, Node, type Argument, type RecordedShape } from "./graph.js";
import { bindInputs, NamingObserver, type ModuleIndex, observeKernels, resolveMethod, type KernelAttrs, type KernelInputs, type MethodInputs } from "./observe.js";

/** Where a tensor came from: a node, or an element of a node's list/object output. */
interface Source {
  node: Node;
  key?: string | number;
}

function isTensor(v: unknown): v is Tensor {
  return v instanceof tf.Tensor;
}

function recordedShape(value: unknown): RecordedShape {
  if (isTensor(value)) return value.shape;
  if (Array.isArray(value) && value.length > 0 && value.every(isTensor)) return value.map((t) => t.shape);
  return null;
}

function recordedDtype(value: unknown): string | null {
  if (isTensor(value)) return value.dtype;
  if (Array.isArray(value) && value.length > 0 && isTensor(value[0])) return value[0].dtype;
  return null;
}

class Tracer extends NamingObserver {
  /** Told of each call node as it is made (while its call runs: see torchscript/call-sites.ts). */
  onNode: ((node: Node) => void) | null = null;

  readonly graph = new Graph();
  private readonly sources = new Map<Tensor, Source>();
  private readonly getitems = new Map<string, Node>();
  private constantCount = 0;

  private register(node: Node, value: unknown): void {
    node.shape = recordedShape(value);
    node.dtype = recordedDtype(value);
    if (isTensor(value)) this.sources.set(value, { node });
    else if (Array.isArray(value)) value.forEach((v, i) => isTensor(v) && this.sources.set(v, { node, key: i }));
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) if (isTensor(v)) this.sources.set(v, { node, key: k });
    }
  }

  /** The graph argument standing for a runtime value. */
  toArg(value: unknown): Argument {
    if (isTensor(value)) {
      const src = this.sources.get(value);
      if (src === undefined) return this.constant(value);
      if (src.key === undefined) return src.node;
      const id = `${src.node.name}[${src.key}]`;
      let item = this.getitems.get(id);
      if (item === undefined) {
        item = this.graph.add(new Node("call_function", this.namer.next("getitem"), "getitem", [src.node, src.key]));
        item.shape = value.shape;
        item.dtype = value.dtype;
        this.getitems.set(id, item);
      }
      return item;
    }
    if (value === null || value === undefined || typeof value === "number" || typeof value === "string" || typeof value === "boolean") {
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => this.toArg(v));
    if (value instanceof Module) return this.paths.get(value) ?? value.constructor.name;
    if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.toArg(v)]));
    }
    // an object of tensors one node returned whole (a Complex pair): that node
    if (typeof value === "object") {
      const entries = Object.entries(value);
      const node = entries.length > 0 && isTensor(entries[0][1]) ? this.sources.get(entries[0][1])?.node : undefined;
      if (node !== undefined && entries.every(([k, v]) => isTensor(v) && this.sources.get(v)?.node === node && this.sources.get(v)?.key === k)) return node;
    }
    return String(value);
  }

  /** A tensor the code made itself: kept in the graph, read by a get_attr node. */
  private constant(value: Tensor): Node {
    const target = `_tensor_constant${this.constantCount++}`;
    this.graph.constants.set(target, opaque(() => tf.keep(value.clone())));
    const node = this.graph.add(new Node("get_attr", target, target));
    this.register(node, value);
    return node;
  }

  protected call(kind: CallKind, target: string, name: string, args: unknown[], run: () => unknown): unknown {
    const argNodes = args.map((a) => this.toArg(a));
    const out = run();
    const node = this.graph.add(new Node(kind, name, target, argNodes));
    this.register(node, out);
    this.onNode?.(node);
    return out;
  }

  protected stateRead(path: string, name: string, value: Tensor): Tensor {
    const node = this.graph.add(new Node("get_attr", name, path));
    this.register(node, value);
    return value;
  }

  protected kernel(kernelName: string, name: string, inputs: KernelInputs, attrs: KernelAttrs, run: () => unknown): unknown {
    const argNodes = this.toArg(inputs) as Argument;
    const kwargs: Record<string, Argument> = {};
    for (const [k, v] of Object.entries(attrs ?? {})) kwargs[k] = this.toArg(v);
    const out = run();
    if (!this.graph.untrackedKernels.includes(kernelName)) this.graph.untrackedKernels.push(kernelName);
    const node = this.graph.add(new Node("call_function", name, `tf.${kernelName}`, [argNodes], kwargs));
    this.register(node, out);
    return out;
  }

  placeholder(param: string, value: unknown): void {
    const node = this.graph.add(new Node("placeholder", this.placeholderName(param), param));
    this.register(node, value);
  }

  output(value: unknown): void {
    this.graph.add(new Node("output", "output", "output", [this.toArg(value)]));
  }
}

export interface TraceResult {
  graph: Graph;
  /** Input names in call order (the method's parameters). */
  inputNames: string[];
  /** The module tree's paths as traced (hooked passes of this method reuse them). */
  index: ModuleIndex;
}

/**
 * Traces `module[fn]` on example inputs (named: `{ x }`, or positional: `[x]`).
 * Raw tfjs kernels the method runs outside tb.F are traced as `tf.<Kernel>` nodes and
 * reported in `graph.untrackedKernels` (and a warning), never silently dropped.
 * `onNode` is told of each call node while its call is still running.
 */
export function trace(module: Module, fn: string, inputs: MethodInputs, onNode: ((node: Node) => void) | null = null): TraceResult {
  const { names, args } = bindInputs(module, fn, inputs);
  const method = resolveMethod(module, fn);
  const tracer = new Tracer(module);
  tracer.onNode = onNode;
  tf.tidy(() => {
    names.forEach((name, i) => tracer.placeholder(name, args[i]));
    const out = withFrozenState(() => withObserver(tracer, () => observeKernels(tracer, () => method.apply(module, args))));
    tracer.output(out);
    return undefined;
  });
  const graph = tracer.graph;
  if (graph.untrackedKernels.length > 0) {
    console.warn(
      `tfbend: ${module.constructor.name}.${fn} runs raw tfjs ops (${graph.untrackedKernels.join(", ")}) outside tb.F; ` +
        `they are traced as tf.* kernel nodes. Use tb.F ops or tensor methods to get readable nodes.`,
    );
  }
  return { graph, inputNames: names, index: tracer.index };
}
