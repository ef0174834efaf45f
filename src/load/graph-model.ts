// A TF.js GraphModel (tfjs-converter output: a frozen TensorFlow graph) as a tfbend module.
// Every float Const node the outputs depend on becomes a Parameter (weight bending feeds
// the bent tensor to model.execute under the Const's name, which overrides it), and every
// computed graph node becomes a leaf child module, so tracing records one call_module node
// per graph node and activation bending can replace any node's value. Unobserved passes
// run the graph in one model.execute call; observed passes (trace, hooked bended passes)
// compute every node in one call, report each node in topological order, and recompute
// the downstream nodes from a replaced value.
//
// Names: a node "a/b/c" lives at module path "a.b.c" (weights: `a.b.c`; activations, as
// the tracer names call_module nodes: `a_b_c`). By default ("short" names) the SavedModel
// call wrappers (StatefulPartitionedCall, PartitionedCall) are dropped and the scope shared
// by every weight and node is stripped; `{ names: "full" }` keeps the whole node name.
import * as tfc from "@tensorflow/tfjs-converter";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { currentObserver, opaque } from "../nn/hooks.js";
import { Module, Parameter } from "../nn/module.js";
import { fileHandler } from "../formats/tfjs-files.js";

/** The parts of tfjs-converter's graph a GraphModelModule reads (internal API of 4.x). */
interface ConverterNode {
  name: string;
  op: string;
  category?: string;
  inputNames: string[];
  inputs: ConverterNode[];
  attrParams: Record<string, { value?: unknown } | undefined>;
  defaultOutput?: number;
}

interface ConverterGraph {
  nodes: Record<string, ConverterNode>;
  inputs: ConverterNode[];
  outputs: ConverterNode[];
}

interface ConverterExecutor {
  graph: ConverterGraph;
  weightMap: Record<string, Tensor[]>;
}

interface GraphModelInternals {
  executor: ConverterExecutor;
  artifacts?: { modelTopology?: { node?: { name: string; input?: string[] }[] } };
  signature?: { inputs?: Record<string, { name: string; resourceId?: unknown }> };
}

function internals(model: tfc.GraphModel): GraphModelInternals {
  return model as unknown as GraphModelInternals;
}

/** Where a node input comes from: a model input, a computed node, or a graph constant. */
type Source =
  | { kind: "input"; position: number }
  | { kind: "node"; node: NodeInfo; index: number }
  | { kind: "const"; name: string; index: number };

interface NodeInfo {
  tfName: string;
  op: string;
  module: GraphNodeModule;
  /** Data inputs that are model inputs or computed nodes (the call's arguments). */
  args: Source[];
  /** Number of outputs read (outputs 0..count-1 are computed); > 1 makes the value a list. */
  outputCount: number;
  path: string;
}

interface WeightInfo {
  tfName: string;
  param: GraphWeightParameter;
  path: string;
}

/** Ops model.execute cannot run synchronously (control flow, dynamic shapes, hash tables). */
const ASYNC_CATEGORIES = new Set(["control", "dynamic", "hash_table"]);
const ASYNC_OPS = new Set(["Switch", "Merge", "Enter", "Exit", "NextIteration", "StatelessIf", "StatelessWhile", "If", "While",
  "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "Where"]);
/** Scopes SavedModel export adds around a Keras model's graph. */
const WRAPPER_SCOPE = /^(Stateful)?PartitionedCall(_\d+)?$/;

/** A Const node of the graph as a parameter; loading writes into the model's weight map. */
export class GraphWeightParameter extends Parameter {
  constructor(private readonly executor: ConverterExecutor, readonly nodeName: string) {
    super(executor.weightMap[nodeName][0]);
  }
  protected override replace(value: Tensor): void {
    if (value === this._data) return;
    const old = this._data;
    this._data = tf.keep(value);
    // through the setter, so that the executor's list of weight ids follows
    this.executor.weightMap = { ...this.executor.weightMap, [this.nodeName]: [this._data] };
    old.dispose();
  }
}

/** A scope of the graph (a '/'-separated name prefix): a plain container. */
export class GraphScope extends Module {}

/**
 * One computed node of the graph as a leaf module (one call_module node when traced).
 * Its GraphModelModule computes the value; forward returns it.
 */
export class GraphNodeModule extends Module {
  override isLeaf = true;
  readonly #nodeName: string;
  readonly #op: string;
  #value: Tensor | Tensor[] | null = null;

  constructor(nodeName: string, op: string) {
    super();
    this.#nodeName = nodeName;
    this.#op = op;
  }

  /** The TensorFlow node name. */
  get nodeName(): string {
    return this.#nodeName;
  }

  /** The TensorFlow op (after the converter's fusions: _FusedConv2D, FusedDepthwiseConv2dNative, ...). */
  get op(): string {
    return this.#op;
  }

  /** @internal Set by the owning GraphModelModule around the call. */
  setValue(value: Tensor | Tensor[] | null): void {
    this.#value = value;
  }

  override forward(..._inputs: Tensor[]): Tensor | Tensor[] {
    if (this.#value === null) {
      throw new BendingError(`graph node '${this.#nodeName}' is computed by its GraphModelModule; call the GraphModelModule`);
    }
    return this.#value;
  }

  override extraRepr(): string {
    return this.#op;
  }
}

let reservedKeys: Set<string> | null = null;

/** Property names a graph scope cannot take (module fields and methods). */
function reserved(): Set<string> {
  if (reservedKeys) return reservedKeys;
  const names = new Set<string>(["model", "constructor", "__proto__"]);
  for (const instance of [new Module(), new GraphScope(), new GraphNodeModule("", "")]) {
    for (const k of Object.getOwnPropertyNames(instance)) names.add(k);
  }
  for (const proto of [GraphModelModule.prototype, GraphNodeModule.prototype, GraphScope.prototype, Module.prototype, Object.prototype]) {
    for (const k of Object.getOwnPropertyNames(proto)) names.add(k);
  }
  reservedKeys = names;
  return names;
}

function cleanSegment(segment: string): string {
  let key = segment.replace(/[^A-Za-z0-9_]/g, "_") || "_";
  while (reserved().has(key)) key = `_${key}`;
  return key;
}

/** "a:1" → ["a", 1]; "a" → ["a", 0]. */
function parseRef(ref: string): [string, number] {
  const parts = ref.split(":");
  if (parts.length === 1) return [ref, 0];
  const index = Number(parts[parts.length - 1]);
  return [parts[0], Number.isInteger(index) ? index : 0];
}

function outputName(name: string, index: number, count: number): string {
  return count > 1 || index > 0 ? `${name}:${index}` : name;
}

function asList(value: Tensor | Tensor[] | tf.NamedTensorMap): Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (Array.isArray(value)) return value;
  return Object.values(value);
}

interface TrieNode {
  children: Map<string, TrieNode>;
  entry?: { kind: "weight" | "node"; tfName: string };
}

export interface GraphModelModuleOptions {
  /**
   * "short" (default): drop StatefulPartitionedCall/PartitionedCall scopes and the scope
   * shared by every weight and node; "full": the whole node name ('/' → '.').
   */
  names?: "short" | "full";
}

/** A tfjs-converter GraphModel as a module: Const nodes are parameters, computed nodes leaf modules. */
export class GraphModelModule extends Module {
  readonly #nodes: NodeInfo[] = [];
  readonly #weights: WeightInfo[] = [];
  readonly #byName = new Map<string, { op: string; tfName: string }>();
  readonly #inputs: ConverterNode[];
  readonly #outputs: Source[];
  readonly #allNames: string[];

  constructor(readonly model: tfc.GraphModel, options: GraphModelModuleOptions = {}) {
    super();
    const executor = internals(model).executor;
    if (!executor?.graph) throw new BendingError("GraphModelModule needs a loaded tfjs-converter GraphModel");
    const graph = executor.graph;
    const weightMap = executor.weightMap;

    // Data inputs only: control dependencies ("^name") are not values.
    const control = new Map<string, Set<string>>();
    for (const n of internals(model).artifacts?.modelTopology?.node ?? []) {
      const deps = (n.input ?? []).filter((i) => i.startsWith("^")).map((i) => i.slice(1));
      if (deps.length) control.set(n.name, new Set(deps));
    }
    const resourceInputs = new Set(
      Object.values(internals(model).signature?.inputs ?? {}).filter((t) => t.resourceId != null).map((t) => parseRef(t.name)[0]),
    );
    this.#inputs = graph.inputs.filter((n) => !resourceInputs.has(n.name));
    const inputPosition = new Map(this.#inputs.map((n, i) => [n.name, i]));
    const isLeafSource = (name: string) => weightMap[name] !== undefined || graph.inputs.some((n) => n.name === name);
    const dataInputs = (node: ConverterNode) => node.inputNames.filter((ref) => !control.get(node.name)?.has(ref));

    // Computed nodes the outputs depend on, in topological order (depth-first, inputs in order).
    const order: ConverterNode[] = [];
    const state = new Map<string, "open" | "done">();
    for (const out of graph.outputs) {
      if (isLeafSource(out.name) || state.has(out.name)) continue;
      const stack: [ConverterNode, number][] = [[out, 0]];
      state.set(out.name, "open");
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        const [node, i] = top;
        if (i < node.inputs.length) {
          top[1]++;
          const input = node.inputs[i];
          if (isLeafSource(input.name)) continue;
          const seen = state.get(input.name);
          if (seen === "open") throw new BendingError(`the graph has a cycle through '${input.name}' (control flow is not supported)`);
          if (seen === undefined) {
            state.set(input.name, "open");
            stack.push([input, 0]);
          }
          continue;
        }
        stack.pop();
        state.set(node.name, "done");
        order.push(node);
      }
    }
    const unsupported = order.filter((n) => ASYNC_OPS.has(n.op) || ASYNC_CATEGORIES.has(n.category ?? ""));
    if (unsupported.length > 0) {
      throw new BendingError(
        `this GraphModel has ops that need model.executeAsync (${[...new Set(unsupported.map((n) => n.op))].join(", ")}); ` +
          "tfbend runs graphs synchronously and supports graphs without control flow or dynamic-shape ops",
      );
    }

    // Outputs read from each node (a node read at index > 0 gives a list).
    const counts = new Map<string, number>();
    const read = (ref: string) => {
      const [name, index] = parseRef(ref);
      counts.set(name, Math.max(counts.get(name) ?? 1, index + 1));
    };
    for (const node of order) dataInputs(node).forEach(read);
    for (const out of graph.outputs) read(outputName(out.name, out.defaultOutput ?? 0, 1));

    // Entries of the module tree: each node after the weights it reads; float Consts only
    // (int32 shapes and axes stay constants of the graph).
    const entries: { kind: "weight" | "node"; tfName: string }[] = [];
    const weightSeen = new Set<string>();
    const isParameter = (name: string) => weightMap[name]?.length === 1 && weightMap[name][0].dtype === "float32";
    for (const node of order) {
      for (const ref of dataInputs(node)) {
        const [name] = parseRef(ref);
        if (isParameter(name) && !weightSeen.has(name)) {
          weightSeen.add(name);
          entries.push({ kind: "weight", tfName: name });
        }
      }
      entries.push({ kind: "node", tfName: node.name });
    }
    const short = (options.names ?? "short") === "short";
    const segments = entries.map(({ tfName }) => {
      let parts = tfName.split("/");
      if (short) {
        const kept = parts.filter((p) => !WRAPPER_SCOPE.test(p));
        if (kept.length > 0) parts = kept;
      }
      return parts.map(cleanSegment);
    });
    if (short && segments.length > 1) {
      let shared = 0;
      const first = segments[0];
      while (shared < first.length - 1 && segments.every((s) => s.length - 1 > shared && s[shared] === first[shared])) shared++;
      if (shared > 0) segments.forEach((s, i) => (segments[i] = s.slice(shared)));
    }

    const root: TrieNode = { children: new Map() };
    entries.forEach((entry, i) => {
      let at = root;
      const parts = segments[i];
      for (const part of parts.slice(0, -1)) {
        let next = at.children.get(part);
        if (!next) at.children.set(part, (next = { children: new Map() }));
        at = next;
      }
      const last = parts[parts.length - 1];
      let key = last;
      for (let k = 1; at.children.get(key)?.entry; k++) key = `${last}_${k}`;
      const leaf: TrieNode = at.children.get(key) ?? { children: new Map() };
      leaf.entry = entry;
      at.children.set(key, leaf);
    });

    const nodeModules = new Map<string, { module: GraphNodeModule; path: string }>();
    const weightPaths = new Map<string, { param: GraphWeightParameter; path: string }>();
    const build = (trie: TrieNode, container: Module, prefix: string) => {
      const slots = container as unknown as Record<string, unknown>;
      const taken = new Set(trie.children.keys());
      for (const [key, child] of trie.children) {
        const path = prefix === "" ? key : `${prefix}.${key}`;
        if (child.entry?.kind === "node") {
          const node = graph.nodes[child.entry.tfName];
          const module = new GraphNodeModule(node.name, node.op);
          slots[key] = module;
          nodeModules.set(node.name, { module, path });
          build(child, module, path);
        } else if (child.entry?.kind === "weight") {
          const param = new GraphWeightParameter(executor, child.entry.tfName);
          slots[key] = param;
          weightPaths.set(child.entry.tfName, { param, path });
          if (child.children.size > 0) {
            let scopeKey = `${key}_scope`;
            for (let k = 1; taken.has(scopeKey); k++) scopeKey = `${key}_scope_${k}`;
            taken.add(scopeKey);
            const scope = new GraphScope();
            slots[scopeKey] = scope;
            build(child, scope, prefix === "" ? scopeKey : `${prefix}.${scopeKey}`);
          }
        } else {
          const scope = new GraphScope();
          slots[key] = scope;
          build(child, scope, path);
        }
      }
    };
    build(root, this, "");

    for (const entry of entries) {
      if (entry.kind === "weight") {
        const w = weightPaths.get(entry.tfName)!;
        this.#weights.push({ tfName: entry.tfName, ...w });
        this.#byName.set(w.path, { op: "Const", tfName: entry.tfName });
      }
    }
    const infos = new Map<string, NodeInfo>();
    const source = (ref: string): Source => {
      const [name, index] = parseRef(ref);
      const position = inputPosition.get(name);
      if (position !== undefined) return { kind: "input", position };
      const info = infos.get(name);
      if (info) return { kind: "node", node: info, index };
      return { kind: "const", name, index };
    };
    for (const node of order) {
      const { module, path } = nodeModules.get(node.name)!;
      const args = dataInputs(node).map(source).filter((s) => s.kind !== "const");
      const info: NodeInfo = { tfName: node.name, op: node.op, module, args, outputCount: counts.get(node.name) ?? 1, path };
      infos.set(node.name, info);
      this.#nodes.push(info);
      this.#byName.set(path, { op: node.op, tfName: node.name });
    }
    for (const n of Object.values(graph.nodes)) if (!this.#byName.has(n.name)) this.#byName.set(n.name, { op: n.op, tfName: n.name });
    this.#outputs = graph.outputs.map((out) => source(outputName(out.name, out.defaultOutput ?? 0, 1)));
    this.#allNames = this.#nodes.flatMap((n) => this.namesOf(n));
  }

  private namesOf(node: NodeInfo): string[] {
    return Array.from({ length: node.outputCount }, (_, k) => outputName(node.tfName, k, node.outputCount));
  }

  /** The model's input node names, in the order forward takes them. */
  get inputNames(): string[] {
    return this.#inputs.map((n) => n.name);
  }

  override argumentNames(fn: string): string[] | null {
    if (fn !== "forward") return null;
    return this.#inputs.map((n) => n.name.replace(/[^A-Za-z0-9_]/g, "_"));
  }

  /** The op of a node, by TensorFlow name, module path (`a.b.c`) or activation name (`a_b_c`). */
  opOf(name: string): string {
    return this.lookup(name).op;
  }

  /** The TensorFlow node name behind a weight name, module path or activation name. */
  graphNodeName(name: string): string {
    return this.lookup(name).tfName;
  }

  private lookup(name: string): { op: string; tfName: string } {
    const found = this.#byName.get(name);
    if (found) return found;
    const node = this.#nodes.find((n) => n.path.replace(/\./g, "_") === name) ?? this.#weights.find((w) => w.path.replace(/\./g, "_") === name);
    if (node) return this.#byName.get(node.path)!;
    throw new BendingError(`no graph node '${name}' in this GraphModel`);
  }

  /** Declared input shapes, unknown dimensions (batch) as 1; null when an input's shape is not declared. */
  exampleInputShapes(): number[][] | null {
    const shapes = this.#inputs.map((n) => n.attrParams.shape?.value as number[] | undefined);
    if (shapes.some((s) => !Array.isArray(s) || s.length === 0)) return null;
    return shapes.map((s) => s!.map((d) => (d < 0 ? 1 : d)));
  }

  /** Zeros of the declared input shapes and dtypes (batch 1, unknown dims 1). */
  exampleInputs(): Tensor[] {
    const shapes = this.exampleInputShapes();
    if (shapes === null) throw new BendingError(`the GraphModel does not declare the shapes of its inputs (${this.inputNames.join(", ")}); pass example inputs`);
    return shapes.map((shape, i) => tf.zeros(shape, (this.#inputs[i].attrParams.dtype?.value as tf.DataType | undefined) ?? "float32"));
  }

  override forward(...args: (Tensor | Tensor[])[]): Tensor | Tensor[] {
    const inputs = args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as Tensor[]);
    if (inputs.length !== this.#inputs.length || !inputs.every((t) => t instanceof tf.Tensor)) {
      throw new BendingError(`the GraphModel takes ${this.#inputs.length} tensor input(s) (${this.inputNames.join(", ")}), got ${inputs.length}`);
    }
    const feeds: tf.NamedTensorMap = {};
    this.#inputs.forEach((n, i) => (feeds[n.name] = inputs[i]));
    const observed = currentObserver() !== null;
    // Bent or versioned weights are fed under their Const name; read without a get_attr node.
    const readWeights = () => {
      for (const w of this.#weights) {
        const value = w.param.value;
        if (value !== w.param.data) feeds[w.tfName] = value;
      }
    };
    if (observed) opaque(readWeights);
    else readWeights();
    if (!observed) {
      const names = this.#outputs.map((s) => this.sourceName(s));
      const out = asList(this.model.execute(feeds, names));
      return out.length === 1 ? out[0] : out;
    }
    return this.observedForward(feeds, inputs);
  }

  private sourceName(s: Source): string {
    if (s.kind === "input") return this.#inputs[s.position].name;
    if (s.kind === "node") return outputName(s.node.tfName, s.index, s.node.outputCount);
    return outputName(s.name, s.index, 1);
  }

  /** Runs model.execute for `nodes`, never handing out one tensor object twice. */
  private compute(feeds: tf.NamedTensorMap, nodes: NodeInfo[], names: string[], taken: Set<Tensor>): Map<NodeInfo, Tensor | Tensor[]> {
    const values = opaque(() => {
      const out = asList(this.model.execute(feeds, names));
      return out.map((t) => {
        if (!taken.has(t)) {
          taken.add(t);
          return t;
        }
        const copy = t.clone();
        taken.add(copy);
        return copy;
      });
    });
    const result = new Map<NodeInfo, Tensor | Tensor[]>();
    let at = 0;
    for (const node of nodes) {
      result.set(node, node.outputCount === 1 ? values[at] : values.slice(at, at + node.outputCount));
      at += node.outputCount;
    }
    return result;
  }

  private observedForward(feeds: tf.NamedTensorMap, inputs: Tensor[]): Tensor | Tensor[] {
    const nodes = this.#nodes;
    const taken = new Set<Tensor>(Object.values(feeds));
    for (const list of Object.values(this.model.weights)) for (const t of list) taken.add(t);
    let pending = this.compute(feeds, nodes, this.#allNames, taken);
    const current = new Map<NodeInfo, Tensor | Tensor[]>();
    const replaced = new Set<NodeInfo>();
    const valueOf = (s: Source): Tensor => {
      if (s.kind === "input") return inputs[s.position];
      if (s.kind === "const") return this.model.weights[s.name][s.index];
      const v = current.get(s.node)!;
      return Array.isArray(v) ? v[s.index] : v;
    };
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      const expected = pending.get(node)!;
      node.module.setValue(expected);
      let out: Tensor | Tensor[];
      try {
        out = node.module.call(...node.args.map(valueOf));
      } finally {
        node.module.setValue(null);
      }
      checkValue(node, out);
      current.set(node, out);
      if (sameValue(out, expected) || i === nodes.length - 1) continue;
      replaced.add(node);
      pending = this.recompute(i, feeds, current, replaced, pending, taken);
    }
    const outputs = this.#outputs.map(valueOf);
    return outputs.length === 1 ? outputs[0] : outputs;
  }

  /** Recomputes the nodes after position `i` from the values so far (a node's value was replaced). */
  private recompute(
    i: number,
    base: tf.NamedTensorMap,
    current: Map<NodeInfo, Tensor | Tensor[]>,
    replaced: Set<NodeInfo>,
    pending: Map<NodeInfo, Tensor | Tensor[]>,
    taken: Set<Tensor>,
  ): Map<NodeInfo, Tensor | Tensor[]> {
    const remaining = this.#nodes.slice(i + 1);
    const later = new Set(remaining);
    const feeds: tf.NamedTensorMap = { ...base };
    // Feed every earlier value a later node reads. A node with several outputs cannot be
    // fed (model.execute keeps one output per fed node): it is recomputed from its inputs.
    const stack = [...remaining];
    const visited = new Set<NodeInfo>();
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (const s of node.args) {
        if (s.kind !== "node" || later.has(s.node) || visited.has(s.node)) continue;
        visited.add(s.node);
        const value = current.get(s.node)!;
        if (!Array.isArray(value)) feeds[s.node.tfName] = value;
        else if (replaced.has(s.node)) {
          throw new BendingError(`the outputs of graph node '${s.node.tfName}' (${s.node.op}, ${s.node.outputCount} outputs) were replaced; tfbend cannot feed them back`);
        } else stack.push(s.node);
      }
    }
    const names = remaining.flatMap((n) => this.namesOf(n));
    const next = this.compute(feeds, remaining, names, taken);
    // The superseded values were never handed out: free them now.
    for (const node of remaining) {
      const old = pending.get(node)!;
      for (const t of Array.isArray(old) ? old : [old]) t.dispose();
    }
    return next;
  }

  override dispose(): void {
    this.model.dispose();
  }
}

function checkValue(node: NodeInfo, value: unknown): asserts value is Tensor | Tensor[] {
  const ok = node.outputCount === 1
    ? value instanceof tf.Tensor
    : Array.isArray(value) && value.length === node.outputCount && value.every((v) => v instanceof tf.Tensor);
  if (!ok) throw new BendingError(`graph node '${node.tfName}' (${node.op}) must give ${node.outputCount === 1 ? "a tensor" : `${node.outputCount} tensors`}`);
}

function sameValue(a: Tensor | Tensor[], b: Tensor | Tensor[]): boolean {
  if (!Array.isArray(a) || !Array.isArray(b)) return a === b;
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** Loads a TF.js GraphModel (model.json with format "graph-model") from disk as a module. */
export async function loadGraphModule(path: string, options: GraphModelModuleOptions = {}): Promise<GraphModelModule> {
  const model = await tfc.loadGraphModel(fileHandler(path));
  return new GraphModelModule(model, options);
}
