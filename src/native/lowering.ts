// The lowering registry: one function per traced op (call_function / call_method targets) and
// per leaf module class, each turning one graph node into ONNX ops. Registering a name twice is
// refused, so two lowerings can never silently disagree about what an op means.
import { BendingError } from "../errors.js";
import type { Tensor } from "../tf.js";
import type { Module } from "../nn/module.js";
import type { Node } from "../graph/graph.js";
import type { OnnxGraphBuilder } from "./onnx-builder.js";

/** An ONNX value and its static shape (sessions are compiled per input shape). */
export interface TensorValue {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * A complex value as two float32 ONNX tensors, as the wasm ops hold it (spectral.ts's
 * Complex): FFT lowerings make and take these pairs.
 */
export interface ComplexValue {
  readonly kind: "complex";
  readonly re: TensorValue;
  readonly im: TensorValue;
}

export function isComplexValue(a: unknown): a is ComplexValue {
  return typeof a === "object" && a !== null && (a as ComplexValue).kind === "complex" && isTensorValue((a as ComplexValue).re) && isTensorValue((a as ComplexValue).im);
}

/** What a node argument becomes: tensors as TensorValues, complex values as pairs, the rest as traced. */
export type LoweredArg =
  | TensorValue
  | ComplexValue
  | number
  | string
  | boolean
  | null
  | undefined
  | LoweredArg[]
  | { [key: string]: LoweredArg };

export function isTensorValue(a: unknown): a is TensorValue {
  return typeof a === "object" && a !== null && typeof (a as TensorValue).name === "string" && Array.isArray((a as TensorValue).shape);
}

/** What a lowering may ask of the compiler. */
export interface LoweringContext {
  readonly builder: OnnxGraphBuilder;
  /** The node being lowered (its name and recorded shape). */
  readonly node: Node;
  /** A parameter or buffer by dotted path: an initializer, or an input when a live control bends it. */
  weight(path: string): TensorValue;
  /**
   * A streamed state tensor (a causal conv's past): read as a graph input, written back with
   * `writeState` (the last write of a pass is the next pass's value). It starts from
   * `initial()` (the module's own past, so a stream moving from wasm to native continues) or
   * zeros, is carried from block to block by the runner, and `resetState` gives it `reset()`
   * (a file's own cache values) or zeros.
   */
  readState(key: string, shape: readonly number[], initial?: () => Float32Array | null, reset?: () => Float32Array | null): TensorValue;
  writeState(key: string, value: TensorValue): void;
  /** A float scalar input recomputed before every run (a live control's current value). */
  liveScalar(base: string, read: () => number): TensorValue;
  /**
   * Random numbers drawn before every run from the module's own source (TorchScript's seeded
   * one), in the order the wasm pass would draw them, so `{ seed }` and replays still match.
   */
  random(kind: "normal" | "uniform", shape: readonly number[]): TensorValue;
  /**
   * Records that `view` views `base` (slice, select, reshape, permute): an in-place write to the
   * view then rewrites the base with `write` (the interpreter's slice_scatter), up to a buffer.
   */
  markView(view: TensorValue, base: TensorValue, write: ViewWriter): void;
  /** A tensor for an operand that may be a plain number. */
  operand(a: LoweredArg): TensorValue;
}

/** Puts a new value of a view back into (a new value of) the tensor it views. */
export type ViewWriter = (b: OnnxGraphBuilder, base: TensorValue, view: TensorValue) => TensorValue;

export type FunctionLowering = (ctx: LoweringContext, args: LoweredArg[], kwargs: Record<string, LoweredArg>) => LoweredArg;
export type ModuleLowering<M extends Module = Module> = (ctx: LoweringContext, module: M, args: LoweredArg[]) => LoweredArg;

/** A leaf module class the compiler knows (matched by exact class: a subclass may compute something else). */
type ModuleClass<M extends Module> = abstract new (...args: never[]) => M;

const functions = new Map<string, FunctionLowering>();
const methods = new Map<string, FunctionLowering>();
const modules = new Map<ModuleClass<Module>, ModuleLowering>();

export function registerFunctionLowering(target: string, lowering: FunctionLowering): void {
  if (functions.has(target)) throw new BendingError(`a native lowering for function '${target}' is already registered`);
  functions.set(target, lowering);
}

export function registerMethodLowering(target: string, lowering: FunctionLowering): void {
  if (methods.has(target)) throw new BendingError(`a native lowering for tensor method '${target}' is already registered`);
  methods.set(target, lowering);
}

/** Teaches the compiler a leaf module class (yours too: `registerModuleLowering(MyConv, (ctx, m, [x]) => ...)`). */
export function registerModuleLowering<M extends Module>(cls: ModuleClass<M>, lowering: ModuleLowering<M>): void {
  if (modules.has(cls)) throw new BendingError(`a native lowering for module class ${cls.name} is already registered`);
  modules.set(cls, lowering as ModuleLowering);
}

export function functionLowering(target: string): FunctionLowering | undefined {
  return functions.get(target);
}

export function methodLowering(target: string): FunctionLowering | undefined {
  return methods.get(target);
}

export function moduleLowering(module: Module): ModuleLowering | undefined {
  return modules.get(module.constructor as ModuleClass<Module>);
}

/** Why a node cannot be compiled; names the node so the report can say where. */
export class NotCompilable extends BendingError {
  constructor(readonly nodeName: string, reason: string) {
    super(`node '${nodeName}': ${reason}`);
    this.name = "NotCompilable";
  }
}

/** The tensor argument at `i` of a node, or a clear refusal. */
export function tensorArg(ctx: LoweringContext, args: LoweredArg[], i: number): TensorValue {
  const a = args[i];
  if (!isTensorValue(a)) throw new NotCompilable(ctx.node.name, `argument ${i} of ${ctx.node.target} is not a tensor`);
  return a;
}

/** A non-negative axis. */
export function axis(dim: number, rank: number): number {
  return dim < 0 ? dim + rank : dim;
}

/** A tensor's values as float32 (dataSync already copies; other dtypes are converted). */
export function floatData(t: Tensor): Float32Array {
  const data = t.dataSync();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}
