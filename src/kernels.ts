// Faster kernels where tfjs's wasm backend is slow: its Tanh is a scalar loop (93× slower
// than Relu on 524k elements), while Sigmoid is vectorised. tanh(x) = 2·sigmoid(2x) − 1
// (max error ~2e-7) is measured faster in bench/ and registered for wasm on import.
import { tf } from "./tf.js";

type TensorInfo = tf.TensorInfo;
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): TensorInfo;
  disposeData(dataId: object): boolean;
}
type KernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => TensorInfo | TensorInfo[];

function kernel(name: string, backend: string): KernelFunc {
  const config = tf.getKernel(name, backend);
  if (!config) throw new Error(`kernel ${name} is not registered for ${backend}`);
  return config.kernelFunc as KernelFunc;
}

let original: tf.KernelConfig | undefined;

/** Registers tanh as 2·sigmoid(2x) − 1 on wasm (idempotent). Returns false if wasm lacks a piece. */
export function registerFastTanh(): boolean {
  if (original !== undefined) return true;
  const existing = tf.getKernel("Tanh", "wasm");
  if (!existing || !tf.getKernel("Sigmoid", "wasm") || !tf.getKernel("Multiply", "wasm") || !tf.getKernel("Sub", "wasm")) return false;
  original = existing;
  const mul = kernel("Multiply", "wasm");
  const sigmoid = kernel("Sigmoid", "wasm");
  const sub = kernel("Sub", "wasm");
  tf.unregisterKernel("Tanh", "wasm");
  tf.registerKernel({
    kernelName: "Tanh",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const wasm = backend as WasmBackend;
      const x = inputs.x as TensorInfo;
      const two = wasm.makeOutput([], "float32", undefined, new Float32Array([2]));
      const one = wasm.makeOutput([], "float32", undefined, new Float32Array([1]));
      const x2 = mul({ inputs: { a: x, b: two }, backend }) as TensorInfo;
      const s = sigmoid({ inputs: { x: x2 }, backend }) as TensorInfo;
      const s2 = mul({ inputs: { a: s, b: two }, backend }) as TensorInfo;
      const out = sub({ inputs: { a: s2, b: one }, backend }) as TensorInfo;
      for (const t of [two, one, x2, s, s2]) wasm.disposeData(t.dataId);
      return out;
    },
  });
  return true;
}

/** Puts tfjs's own wasm Tanh back (for benchmarks). */
export function unregisterFastTanh(): void {
  if (original === undefined) return;
  tf.unregisterKernel("Tanh", "wasm");
  tf.registerKernel(original);
  original = undefined;
}
