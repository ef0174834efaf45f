// Traced graph + current bendings → one ONNX model. Every node goes through its lowering
// (ops.ts, modules.ts); after a node, its activation bendings are lowered on its value
// (bendings.ts); captures become extra outputs. Weights are initializers (ONNX Runtime
// prepacks them) except those a live control bends, which are inputs fed before each run.
import { tf, type Tensor } from "../tf.js";
import { trace } from "../graph/tracer.js";
import type { Graph, Node, Argument } from "../graph/graph.js";
import { Module } from "../nn/module.js";
import type { BendingPlan, PlannedBending } from "../bended/bended-module.js";
import { OnnxGraphBuilder } from "./onnx-builder.js";
import {
  NotCompilable, floatData, functionLowering, isTensorValue, methodLowering, moduleLowering,
  type LoweredArg, type LoweringContext, type TensorValue, type ViewWriter,
} from "./lowering.js";
import { lowerBending } from "./bendings.js";
import { StateBuffer, TorchScriptModule } from "../torchscript/module.js";
import type { RandomSource } from "../torchscript/context.js";
import "./modules.js";
import "./spectral.js";
import "./recurrent.js";
import "./dtypes.js";
import "./stft.js";
import "./statistics.js";
import "./attention.js";

/** In-place tensor ops as the TorchScript interpreter records them (copy_, zero_, add_, ...). */
const IN_PLACE = /^[a-z][a-z0-9_]*[a-z0-9]_$/;

/** A graph input fed before every run, and where its value comes from. */
export type Feed =
  | { kind: "input"; name: string; index: number; shape: number[] }
  | { kind: "weight"; name: string; path: string; shape: number[] }
  | { kind: "scalar"; name: string; read: () => number }
  | { kind: "state"; name: string; key: string; shape: number[] }
  | { kind: "random"; name: string; draw: () => Float32Array; shape: number[] };

export interface StateSlot {
  key: string;
  input: string;
  output: string;
  shape: number[];
  /** The module's own past when the session starts, or null for zeros. */
  initial: () => Float32Array | null;
  /** What `resetState` puts back, or null for zeros. */
  reset: () => Float32Array | null;
}

export interface CaptureSlot {
  /** Activation name as getActivations takes it (`name` or `name_bended`). */
  activation: string;
  output: string;
  shape: number[];
}

export interface CompiledModel {
  bytes: Uint8Array;
  feeds: Feed[];
  states: StateSlot[];
  /** Output values of the method in order (one for a tensor, several for a list). */
  outputs: { name: string; shape: number[] }[];
  /** Whether the method returns one tensor (not a list). */
  single: boolean;
  captures: CaptureSlot[];
  /** Capture callbacks to hand each block's value to, with the output that carries it. */
  captureCallbacks: { bending: PlannedBending; output: string; shape: number[] }[];
}

export interface CompileSource {
  module: Module;
  graph: Graph;
  plan: BendingPlan;
  /** Where `randn`/`rand` draw from when the module has no source of its own. */
  random?: RandomSource;
  /** The weights a pass uses now (version, interpolation, weight bendings). */
  weights: Record<string, Tensor>;
  inputShapes: number[][];
  capture: readonly string[];
}

function resolvePath(root: Module, path: string): unknown {
  let obj: unknown = root;
  for (const part of path.split(".")) obj = (obj as Record<string, unknown> | undefined)?.[part];
  return obj;
}

export function compileGraph(source: CompileSource): CompiledModel {
  const b = new OnnxGraphBuilder();
  const feeds: Feed[] = [];
  const states = new Map<string, { input: string; value?: TensorValue; shape: number[]; initial: () => Float32Array | null; reset: () => Float32Array | null }>();
  const weightValues = new Map<string, TensorValue>();
  const live = new Set(source.plan.liveWeights);
  const captures: CaptureSlot[] = [];
  const captureCallbacks: CompiledModel["captureCallbacks"] = [];
  const wanted = new Set(source.capture);
  let current: Node | null = null;
  let currentRoot: Module = source.module;

  const ctx: LoweringContext = {
    builder: b,
    get node(): Node {
      return current!;
    },
    weight(path) {
      const known = weightValues.get(path);
      if (known) return known;
      const t = source.weights[path];
      if (t === undefined) throw new NotCompilable(current?.name ?? path, `no parameter or buffer '${path}'`);
      let v: TensorValue;
      if (live.has(path)) {
        v = { name: b.input(`w_${path}`, t.shape), shape: t.shape };
        feeds.push({ kind: "weight", name: v.name, path, shape: t.shape });
      } else {
        v = { name: b.floatConstant(path, floatData(t), t.shape), shape: t.shape };
      }
      weightValues.set(path, v);
      return v;
    },
    readState(key, shape, initial = () => null, reset = () => null) {
      const name = b.input(`state_${key}`, shape);
      states.set(key, { input: name, shape: [...shape], initial, reset });
      feeds.push({ kind: "state", name, key, shape: [...shape] });
      return { name, shape };
    },
    writeState(key, value) {
      const slot = states.get(key);
      if (!slot) throw new NotCompilable(current?.name ?? key, `state '${key}' written before it was read`);
      if (value.shape.join() !== slot.shape.join()) throw new NotCompilable(current?.name ?? key, `state '${key}' would change shape`);
      slot.value = value;
    },
    liveScalar(base, read) {
      const name = b.input(base, []);
      feeds.push({ kind: "scalar", name, read });
      return { name, shape: [] };
    },
    random(kind, shape) {
      const from = currentRoot instanceof TorchScriptModule ? TorchScriptModule.randomSource(currentRoot) : source.random;
      if (from === undefined) throw new NotCompilable(current?.name ?? "random", "draws random numbers but the module has no random source");
      const name = b.input(kind === "normal" ? "randn" : "rand", shape);
      const dims = [...shape];
      feeds.push({ kind: "random", name, shape: dims, draw: () => from(kind, dims) });
      return { name, shape };
    },
    markView(view, base, write) {
      views.set(view.name, { base: base.name, write });
    },
    operand(a) {
      if (isTensorValue(a)) return a;
      if (typeof a === "number") return { name: b.scalar(a), shape: [] };
      if (typeof a === "boolean") return { name: b.scalar(a ? 1 : 0), shape: [] };
      throw new NotCompilable(current?.name ?? "?", `an operand of ${current?.target} is neither a tensor nor a number`);
    },
  };

  const addCapture = (activation: string, v: TensorValue): void => {
    if (!wanted.has(activation)) return;
    captures.push({ activation, output: b.output(`capture_${activation}`, v.name, v.shape), shape: [...v.shape] });
  };

  /**
   * Lowers `graph` (the method's, or a leaf module's forward traced on its own) with `inputs`
   * for its placeholders. `prefix` makes a leaf's weight paths the root's; bendings and
   * captures apply to the method's own nodes only (a leaf's inside has no activation names).
   */
  const lowerGraph = (graph: Graph, root: Module, inputs: (index: number, node: Node) => TensorValue | null, prefix: string, outer: boolean): LoweredArg => {
    const env = new Map<Node, LoweredArg>();
    const load = (a: Argument): LoweredArg => {
      if (a !== null && typeof a === "object" && "op" in a && "users" in a) return env.get(a as Node);
      if (Array.isArray(a)) return a.map(load);
      if (a !== null && typeof a === "object") return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, load(v)]));
      return a;
    };
    let placeholder = 0;
    let result: LoweredArg;
    const saved = current;
    const savedRoot = currentRoot;
    currentRoot = root;
    try {
      for (const node of graph.nodes) {
        current = node;
        const args = node.args.map(load);
        const kwargs = Object.fromEntries(Object.entries(node.kwargs).map(([k, v]) => [k, load(v)]));
        let value: LoweredArg;
        switch (node.op) {
          case "placeholder":
            value = inputs(placeholder++, node);
            break;
          case "get_attr": {
            const constant = graph.constants.get(node.target);
            if (constant !== undefined) {
              value = { name: b.floatConstant(node.target, floatData(constant), constant.shape), shape: constant.shape };
            } else value = readBuffer(prefix + node.target) ?? ctx.weight(prefix + node.target);
            break;
          }
          case "call_module": {
            const mod = resolvePath(root, node.target);
            if (!(mod instanceof Module)) throw new NotCompilable(node.name, `'${node.target}' is not a module`);
            const lowering = moduleLowering(mod);
            value = lowering ? lowering(ctx, mod, args) : inline(mod, node, args, prefix + node.target + ".");
            break;
          }
          case "call_function": {
            if (node.target === "slice_scatter") {
              value = sliceScatter(node, args);
              break;
            }
            if (IN_PLACE.test(node.target)) {
              value = writeInPlace(node, args, kwargs);
              break;
            }
            if (node.target.startsWith("tf.")) throw new NotCompilable(node.name, `raw tfjs kernel ${node.target.slice(3)} (outside tb.F) has no native lowering`);
            const lowering = functionLowering(node.target);
            if (!lowering) throw new NotCompilable(node.name, `function '${node.target}' has no native lowering`);
            value = lowering(ctx, args, kwargs);
            break;
          }
          case "call_method": {
            const lowering = methodLowering(node.target);
            if (!lowering) throw new NotCompilable(node.name, `tensor method '${node.target}' has no native lowering`);
            value = lowering(ctx, args, kwargs);
            break;
          }
          case "output":
            result = args[0];
            continue;
        }
        if (outer && isTensorValue(value)) value = bend(node, value);
        env.set(node, value);
      }
    } finally {
      current = saved;
      currentRoot = savedRoot;
    }
    return result;
  };

  // Buffers interpreted code writes while it runs (TorchScript streaming caches) are state:
  // read as an input, each in-place write gives the buffer a new value, the last one is output.
  const stateTensors = new Map(source.module.namedStateTensors());
  const bufferOf = new Map<string, string>(); // value name → buffer path
  const views = new Map<string, { base: string; write: ViewWriter }>(); // value name → what it views
  const previous = new Map<string, string>(); // value name → the value it replaced by an in-place write
  const readBuffer = (path: string): TensorValue | undefined => {
    const state = stateTensors.get(path);
    if (!(state instanceof StateBuffer)) return undefined;
    const known = states.get(path);
    let value: TensorValue;
    if (known) value = known.value ?? { name: known.input, shape: known.shape };
    else {
      // Copied now: a session may outlive its module's tensors (a model being replaced).
      const initial = floatData(state.initial);
      value = ctx.readState(path, state.shape, () => floatData(state.data), () => initial);
    }
    bufferOf.set(value.name, path);
    return value;
  };
  const writeInPlace = (node: Node, args: LoweredArg[], kwargs: Record<string, LoweredArg>): TensorValue => {
    const dst = args[0];
    if (!isTensorValue(dst)) throw new NotCompilable(node.name, `in-place ${node.target} on something that is not a tensor`);
    let result: LoweredArg;
    if (node.target === "copy_" || node.target === "fill_") {
      const src = ctx.operand(args[1]);
      result = { name: b.op1("Expand", [src.name, b.int64s(dst.shape)]), shape: dst.shape };
    } else if (node.target === "zero_") {
      result = { name: b.floatConstant("zeros", new Float32Array(dst.shape.reduce((a, c) => a * c, 1)), dst.shape), shape: dst.shape };
    } else {
      const base = functionLowering(node.target.slice(0, -1));
      if (!base) throw new NotCompilable(node.name, `in-place '${node.target}' has no native lowering`);
      result = base(ctx, args, kwargs);
    }
    if (!isTensorValue(result)) throw new NotCompilable(node.name, `in-place ${node.target} did not give a tensor`);
    rebind(dst, result);
    return result;
  };
  /** `next` is the new value of `old`: it keeps old's buffer and view (a write to a buffer is state). */
  const rebind = (old: TensorValue, next: TensorValue): void => {
    previous.set(next.name, old.name);
    const view = views.get(old.name);
    if (view !== undefined) views.set(next.name, view);
    const path = bufferOf.get(old.name);
    if (path !== undefined) {
      ctx.writeState(path, next);
      bufferOf.set(next.name, path);
    }
  };
  /** The interpreter's write of a view's new value into the tensor it views. */
  const sliceScatter = (node: Node, args: LoweredArg[]): TensorValue => {
    const [base, view] = args;
    if (!isTensorValue(base) || !isTensorValue(view)) throw new NotCompilable(node.name, "slice_scatter of something that is not a tensor");
    const info = views.get(view.name);
    if (info === undefined || info.base !== base.name && !sameTensor(info.base, base.name)) {
      throw new NotCompilable(node.name, "a write into a view the native engine did not see made");
    }
    const result = info.write(b, base, view);
    rebind(base, result);
    return result;
  };
  /** Whether value `a` became `b` through in-place writes. */
  const sameTensor = (a: string, bName: string): boolean => {
    for (let v: string | undefined = bName, i = 0; v !== undefined && i < 1000; v = previous.get(v), i++) if (v === a) return true;
    return false;
  };

  /** A leaf module without a lowering of its own: its forward traced alone and lowered in place. */
  const inline = (mod: Module, node: Node, args: LoweredArg[], prefix: string): LoweredArg => {
    // tensors, or None for an optional input (hx of an RNN cell, a skipped conditioning)
    if (!args.every((a) => isTensorValue(a) || a === null)) throw new NotCompilable(node.name, `module class ${mod.constructor.name} ('${node.target}') has no native lowering`);
    const tensors = args as (TensorValue | null)[];
    const zeros = tensors.map((t) => (t === null ? null : tf.zeros([...t.shape])));
    let inner: Graph;
    try {
      inner = trace(mod, "forward", zeros).graph;
    } catch (e) {
      throw new NotCompilable(node.name, `module ${mod.constructor.name} ('${node.target}') could not be traced alone: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      tf.dispose(zeros.filter((z) => z !== null));
    }
    try {
      return lowerGraph(inner, mod, (i) => tensors[i], prefix, false);
    } catch (e) {
      if (e instanceof NotCompilable) throw new NotCompilable(node.name, `inside ${mod.constructor.name} '${node.target}': ${e.message}`);
      throw e;
    } finally {
      for (const c of inner.constants.values()) c.dispose();
    }
  };

  /** The node's activation bendings and captures. */
  const bend = (node: Node, input: TensorValue): TensorValue => {
    let value = input;
    addCapture(node.name, value);
    for (const bending of source.plan.activations.get(node.name) ?? []) {
      value = lowerBending({ ctx, x: value, callback: bending.callback, state: bending.state, target: bending.target });
      if (bending.callback.type === "Capture") captureCallbacks.push({ bending, output: b.output(`captured_${node.name}`, value.name, value.shape), shape: [...value.shape] });
    }
    addCapture(`${node.name}_bended`, value);
    return value;
  };

  const result = lowerGraph(source.graph, source.module, (index, node) => {
    const shape = source.inputShapes[index];
    if (shape === undefined) throw new NotCompilable(node.name, "the method takes more inputs than shapes were given");
    const name = b.input(node.name, shape);
    feeds.push({ kind: "input", name, index, shape });
    return { name, shape };
  }, "", true);

  const results = isTensorValue(result) ? [result] : Array.isArray(result) ? result : [];
  if (results.length === 0 || !results.every(isTensorValue)) {
    throw new NotCompilable("output", "the method does not return a tensor or a list of tensors");
  }
  const outputs = (results as TensorValue[]).map((r, i) => ({ name: b.output(`output_${i}`, r.name, r.shape), shape: [...r.shape] }));
  const stateSlots: StateSlot[] = [];
  for (const [key, s] of states) {
    // a state read but never written in this pass keeps its value
    const output = s.value === undefined ? b.output(`keep_${key}`, s.input, s.shape) : b.output(`next_${key}`, s.value.name, s.shape);
    stateSlots.push({ key, input: s.input, output, shape: s.shape, initial: s.initial, reset: s.reset });
  }
  for (const w of wanted) {
    if (!captures.some((c) => c.activation === w)) throw new NotCompilable(w, "is not an activation of this method");
  }
  return { bytes: b.encode(), feeds, states: stateSlots, outputs, single: isTensorValue(result), captures, captureCallbacks };
}
