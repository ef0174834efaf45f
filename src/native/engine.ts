// The native engine's public face: compile a BendedModule's method for one input shape into an
// ONNX Runtime session and run it block by block. Controls and weights bent by live controls
// are read before every run; streamed state (causal conv pasts) is carried between runs.
// Anything that cannot be compiled (a Lambda, an op without a lowering) is refused with the
// node and the reason, so the caller keeps that method on wasm and says why.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { stateGeneration, type StateTensor } from "../nn/module.js";
import { trace } from "../graph/tracer.js";
import type { Graph } from "../graph/graph.js";
import type { BendedModule } from "../bended/bended-module.js";
import type { RandomSource } from "../torchscript/context.js";
import { compileGraph, type CompiledModel } from "./compiler.js";
import { floatData } from "./lowering.js";
import { nativeUnavailableReason, ortRuntime, type BindingSession, type OrtRuntime, type OrtTensor } from "./ort.js";

export interface CompileOptions {
  /** Activations to return with each run (`name` before its bendings, `name_bended` after). */
  capture?: string[];
  /** ONNX Runtime's intra-op threads (default 1: a patcher shares the host's cores). */
  threads?: number;
  /** Where `randn`/`rand` draw from in modules without a source of their own (TorchScript modules use theirs). */
  random?: RandomSource;
}

export interface RunResult {
  outputs: Float32Array[];
  /** Captured activations of this run by name. */
  captured: Record<string, Float32Array>;
}

/** What the engine says about one method (for `status` and the log). */
export interface EngineReport {
  engine: "native" | "wasm";
  /** Why the method is not on the native engine. */
  reason?: string;
  /** Milliseconds the last compile took (trace + ONNX + session). */
  compileMs?: number;
  onnxruntime?: string;
}

/** The key under which a compiled method stays valid: method, shapes, bendings, version, weights, streaming, channel clusters. */
export function structureKey(bended: BendedModule, fn: string, inputShapes: number[][], options: CompileOptions = {}): string {
  const plan = bended.bendingPlan(fn);
  const streaming = bended.module.namedModules().map(([, m]) => ((m as unknown as { streaming?: unknown }).streaming === true ? 1 : 0)).join("");
  // a bending's `cluster` selection is compiled in: storing new clusters makes a new structure
  const clusters = bended.clusters().map((c) => `${c.name}=${c.channels.join(",")}`).join(";");
  return [fn, JSON.stringify(inputShapes), plan.epoch, stateGeneration(), streaming, (options.capture ?? []).join(","), options.threads ?? 1, clusters].join("|");
}

export class CompiledMethod {
  private state = new Map<string, OrtTensor>();
  private readonly weightFeeds = new Map<string, { source: Tensor; tensor: OrtTensor }>();
  /** The module's own tensor behind each weight fed per block (in feed order), found once. */
  private readonly liveWeights: { path: string; state: StateTensor }[];
  private disposed = false;

  constructor(
    private readonly runtime: OrtRuntime,
    private readonly session: BindingSession,
    /** What the runs need of the compiled model; its ONNX bytes are not kept (ONNX Runtime parsed them). */
    private readonly model: Omit<CompiledModel, "bytes">,
    private readonly bended: BendedModule,
    readonly fn: string,
    readonly inputShapes: number[][],
    readonly key: string,
    readonly compileMs: number,
    readonly modelBytes: number,
    /** Milliseconds of the compile spent on the calling thread (trace and lowering; ONNX Runtime loads the session off it). */
    readonly buildMs: number = compileMs,
  ) {
    this.state = new Map(this.model.states.map((s) => [s.key, this.stateTensor(s.shape, s.initial())]));
    const paths = this.model.feeds.flatMap((f) => (f.kind === "weight" ? [f.path] : []));
    const states = paths.length ? new Map(bended.module.namedStateTensors()) : new Map<string, StateTensor>();
    this.liveWeights = paths.map((path) => {
      const state = states.get(path);
      if (state === undefined) throw new BendingError(`${fn}: the compiled graph feeds weight '${path}', which the module does not have`);
      return { path, state };
    });
  }

  /** Forgets the streamed past: the next block starts from silence, as `resetState` does on wasm. */
  resetState(): void {
    this.state = new Map(this.model.states.map((s) => [s.key, this.stateTensor(s.shape, s.reset())]));
  }

  private stateTensor(shape: number[], data: Float32Array | null): OrtTensor {
    return data === null ? this.zeros(shape) : new this.runtime.Tensor("float32", Float32Array.from(data), shape);
  }

  /** A copy of the streamed past (to render one block twice from the same past: a crossfade). */
  snapshotState(): Map<string, OrtTensor> {
    return new Map(this.state);
  }

  /** Puts a snapshotState() copy back (state tensors are never written in place: runs return new ones). */
  restoreState(snapshot: Map<string, OrtTensor>): void {
    this.state = new Map(snapshot);
  }

  /** Takes over another session's streamed past where the states match (a rebuilt session continues the stream). */
  adoptState(other: CompiledMethod): void {
    for (const s of this.model.states) {
      const theirs = other.state.get(s.key);
      if (theirs !== undefined && theirs.dims.join() === s.shape.join()) this.state.set(s.key, theirs);
    }
  }

  private zeros(shape: number[]): OrtTensor {
    return new this.runtime.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  }

  private weightFeed(path: string, source: Tensor): OrtTensor {
    const cached = this.weightFeeds.get(path);
    if (cached && cached.source === source) return cached.tensor;
    const tensor = new this.runtime.Tensor("float32", floatData(source), source.shape);
    this.weightFeeds.set(path, { source, tensor });
    return tensor;
  }

  /** Runs one block on raw data (inputs in the method's order, each of its compiled shape). */
  runData(inputs: Float32Array[]): RunResult {
    if (this.disposed) throw new BendingError(`the compiled ${this.fn} was disposed`);
    const feeds: Record<string, OrtTensor> = {};
    // one lookup of the bent weights per block, not a walk of every state tensor per weight
    const weights = this.liveWeights.length ? this.bended.bendedStates(this.liveWeights.map((w) => w.state)) : [];
    let weightIndex = 0;
    for (const f of this.model.feeds) {
      switch (f.kind) {
        case "input": {
          const data = inputs[f.index];
          const size = f.shape.reduce((a, b) => a * b, 1);
          if (data === undefined || data.length !== size) {
            throw new BendingError(`${this.fn} was compiled for inputs of shape [${f.shape.join(", ")}]; input ${f.index} has ${data?.length ?? 0} values`);
          }
          feeds[f.name] = new this.runtime.Tensor("float32", data, f.shape);
          break;
        }
        case "weight":
          feeds[f.name] = this.weightFeed(f.path, weights[weightIndex++]);
          break;
        case "scalar":
          feeds[f.name] = new this.runtime.Tensor("float32", Float32Array.of(f.read()), []);
          break;
        case "state":
          feeds[f.name] = this.state.get(f.key)!;
          break;
        case "random":
          feeds[f.name] = new this.runtime.Tensor("float32", f.draw(), f.shape);
          break;
      }
    }
    const fetches: Record<string, null> = {};
    for (const o of this.model.outputs) fetches[o.name] = null;
    for (const s of this.model.states) fetches[s.output] = null;
    for (const c of this.model.captures) fetches[c.output] = null;
    for (const c of this.model.captureCallbacks) fetches[c.output] = null;
    const out = this.session.run(feeds, fetches, {});
    for (const s of this.model.states) this.state.set(s.key, out[s.output]);
    const captured: Record<string, Float32Array> = {};
    for (const c of this.model.captures) captured[c.activation] = out[c.output].data as Float32Array;
    for (const c of this.model.captureCallbacks) {
      const { callback, state, target } = c.bending;
      tf.tidy(() => {
        callback.apply(tf.tensor(out[c.output].data as Float32Array, c.shape), state, target);
      });
    }
    return { outputs: this.model.outputs.map((o) => out[o.name].data as Float32Array), captured };
  }

  /** Runs one block on tfjs tensors; returns tfjs tensors the caller owns (one, or a list). */
  run(...inputs: Tensor[]): Tensor | Tensor[] {
    const { outputs } = this.runData(inputs.map((t) => t.dataSync() as Float32Array));
    const tensors = outputs.map((data, i) => tf.tensor(data, this.model.outputs[i].shape));
    return this.model.single ? tensors[0] : tensors;
  }

  /** Output shapes in order. */
  get outputShapes(): number[][] {
    return this.model.outputs.map((o) => o.shape);
  }

  /** Streamed state tensors (key and shape), e.g. one per causal conv in streaming mode. */
  get stateShapes(): { key: string; shape: number[] }[] {
    return this.model.states.map((s) => ({ key: s.key, shape: s.shape }));
  }

  report(): EngineReport {
    return { engine: "native", compileMs: this.compileMs, onnxruntime: this.runtime.version };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.dispose();
    this.state.clear();
    this.weightFeeds.clear();
  }
}

/** Waits for room on the calling thread between two steps of a compile (see compileMethod); resolves at once by default. */
export type BetweenSteps = () => Promise<void>;

const NO_WAIT: BetweenSteps = () => Promise.resolve();

/** A method traced on zeros of its input shapes: the graph and the zeros, freed by `lowerMethod` or `release`. */
interface TracedMethod {
  graph: Graph;
  zeros: Tensor[];
}

function traceMethod(bended: BendedModule, fn: string, inputShapes: number[][]): TracedMethod {
  const zeros = inputShapes.map((s) => tf.zeros(s));
  try {
    return { graph: trace(bended.module, fn, zeros).graph, zeros };
  } catch (e) {
    tf.dispose(zeros);
    throw e;
  }
}

function release({ graph, zeros }: TracedMethod): void {
  for (const c of graph.constants.values()) c.dispose();
  tf.dispose(zeros);
}

/** Lowers a traced method with the bendings in effect now, and frees what the trace held. */
function lowerMethod(bended: BendedModule, fn: string, traced: TracedMethod, inputShapes: number[][], options: CompileOptions): CompiledModel {
  try {
    return compileGraph({
      module: bended.module, graph: traced.graph, plan: bended.bendingPlan(fn), weights: bended.bendedStateDict(), inputShapes,
      capture: options.capture ?? [], random: options.random,
    });
  } finally {
    release(traced);
  }
}

/** Runs `between` and says how long it waited. */
async function waited(between: BetweenSteps): Promise<number> {
  const t = performance.now();
  await between();
  return performance.now() - t;
}

/**
 * Compiles `bended[fn]` for inputs of `inputShapes` with the bendings, version and streaming
 * mode in effect now. Rejects with NotCompilable (naming the node) when part of the method
 * cannot be lowered, and with a BendingError when ONNX Runtime is not available here.
 * Its three steps (trace, lowering, ONNX Runtime's load of the session) are each synchronous
 * work on this thread: `between` runs between them, so that a compile off the audio path (a
 * model on its way in) leaves the stream its room after each (and the times leave the waits out).
 */
export async function compileMethod(bended: BendedModule, fn: string, inputShapes: number[][], options: CompileOptions = {}, between: BetweenSteps = NO_WAIT): Promise<CompiledMethod> {
  const runtime = ortRuntime();
  if (runtime === null) throw new BendingError(`the native engine is not available: ${nativeUnavailableReason()}`);
  const started = performance.now();
  const key = structureKey(bended, fn, inputShapes, options);
  const traced = traceMethod(bended, fn, inputShapes);
  let waitedMs: number;
  try {
    waitedMs = await waited(between);
  } catch (e) {
    release(traced);
    throw e;
  }
  const model = lowerMethod(bended, fn, traced, inputShapes, options);
  const buildMs = performance.now() - started - waitedMs;
  waitedMs += await waited(between);
  const session = runtime.createSession();
  const threads = options.threads ?? 1;
  // the encoded model is as large as the weights: it lives only until ONNX Runtime has read it
  const { bytes, ...compiled } = model;
  await session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all",
    // Errors only: an optimiser's note (an unused initializer) on every recompile would flood the log.
    logSeverityLevel: 3,
  });
  return new CompiledMethod(runtime, session, compiled, bended, fn, inputShapes, key, performance.now() - started - waitedMs, bytes.byteLength, buildMs);
}

/**
 * Which engine `bended[fn]` would run on with the bendings in effect now, and why not native
 * (ONNX Runtime missing, a Lambda, an op without a lowering): lowers the method, runs nothing.
 */
export function engineFor(bended: BendedModule, fn: string, inputShapes: number[][], options: CompileOptions = {}): EngineReport {
  try {
    lowerMethod(bended, fn, traceMethod(bended, fn, inputShapes), inputShapes, options);
  } catch (error) {
    return { engine: "wasm", reason: error instanceof Error ? error.message : String(error) };
  }
  const runtime = ortRuntime();
  if (runtime === null) return { engine: "wasm", reason: nativeUnavailableReason() ?? "ONNX Runtime is not available" };
  return { engine: "native", onnxruntime: runtime.version };
}
