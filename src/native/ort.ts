// ONNX Runtime's CPU kernels, loaded from the optional `onnxruntime-node` package when it is
// installed and its binding loads on this platform; otherwise tfbend runs on wasm as before.
// Sessions are created through the package's binding so that `run` is synchronous: a block is
// computed on the inference thread without a trip through the event loop.
import { createRequire } from "node:module";

/** The tensor class of onnxruntime-common (what the binding takes and returns). */
export interface OrtTensor {
  readonly data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
  readonly type: string;
  dispose(): void;
}
export type OrtTensorConstructor = new (type: "float32" | "int64", data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;

export interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  executionMode?: "sequential" | "parallel";
  executionProviders?: string[];
  /** 0 verbose … 3 error, 4 fatal. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** The binding's session: `loadModel` is asynchronous, `run` synchronous. */
export interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: OrtSessionOptions): Promise<void>;
  readonly inputMetadata: { name: string }[];
  readonly outputMetadata: { name: string }[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, never>): Record<string, OrtTensor>;
  dispose(): void;
}

export interface OrtRuntime {
  Tensor: OrtTensorConstructor;
  createSession(): BindingSession;
  version: string;
}

let loaded: { runtime: OrtRuntime } | { error: string } | undefined;

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown error";
}

function load(): { runtime: OrtRuntime } | { error: string } {
  if (process.env.TFBEND_ENGINE === "wasm") return { error: "TFBEND_ENGINE=wasm" };
  try {
    const own = createRequire(import.meta.url);
    const pkg = own("onnxruntime-node/package.json") as { version: string };
    // onnxruntime-common as onnxruntime-node itself resolves it (its own dependency)
    const require = createRequire(own.resolve("onnxruntime-node"));
    const common = require("onnxruntime-common") as { Tensor: OrtTensorConstructor };
    const binding = own("onnxruntime-node/dist/binding.js") as {
      binding: { InferenceSession: new () => BindingSession };
      initOrt(): void;
    };
    binding.initOrt();
    return {
      runtime: { Tensor: common.Tensor, createSession: () => new binding.binding.InferenceSession(), version: pkg.version },
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { error: code === "MODULE_NOT_FOUND" ? "onnxruntime-node is not installed" : `onnxruntime-node did not load: ${firstLine(error)}` };
  }
}

/** ONNX Runtime, or null when it cannot be used here (see `nativeUnavailableReason`). */
export function ortRuntime(): OrtRuntime | null {
  loaded ??= load();
  return "runtime" in loaded ? loaded.runtime : null;
}

/** Whether the native engine can run here. */
export function nativeAvailable(): boolean {
  return ortRuntime() !== null;
}

/** Why the native engine cannot run here, or null when it can. */
export function nativeUnavailableReason(): string | null {
  loaded ??= load();
  return "error" in loaded ? loaded.error : null;
}

/** For `status` and the log: whether the native engine runs here, on what, or why not. */
export function nativeInfo(): { available: boolean; onnxruntime?: string; executionProvider?: string; reason?: string } {
  const runtime = ortRuntime();
  if (runtime === null) return { available: false, reason: nativeUnavailableReason() ?? "unknown" };
  return { available: true, onnxruntime: runtime.version, executionProvider: "cpu" };
}
