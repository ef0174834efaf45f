// Faster kernels where tfjs's wasm backend is slow, registered for wasm on import:
// - Tanh is a scalar loop (93× slower than Relu on 524k elements) while Sigmoid is
//   vectorised: tanh(x) = 2·sigmoid(2x) − 1 (max error ~2e-7).
// - Slice first copies its whole input out of wasm memory (readSync), and Slice and Concat
//   make one typed-array view per row: cutting the next past off a streamed block along
//   PyTorch's last axis allocates the block again plus one view per channel. tfbend's read
//   wasm memory in place and copy short rows value by value. Measured in bench/copies.js.
import { tf } from "./tf.js";

type TensorInfo = tf.TensorInfo;
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): TensorInfo;
  disposeData(dataId: TensorInfo["dataId"]): boolean;
}
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type KernelFunc = (args: KernelArgs) => TensorInfo | TensorInfo[];

function kernel(name: string): KernelFunc {
  const config = tf.getKernel(name, "wasm");
  if (!config) throw new Error(`kernel ${name} is not registered for wasm`);
  return config.kernelFunc as KernelFunc;
}

/** tfjs's own kernels that tfbend replaced, by name, so that they can be put back. */
const originals = new Map<string, tf.KernelConfig>();

/** Replaces a wasm kernel; `make` receives tfjs's own kernel function. False if a kernel it needs is missing. */
function replace(name: string, needs: string[], make: (own: KernelFunc) => KernelFunc): boolean {
  if (originals.has(name)) return true;
  const existing = tf.getKernel(name, "wasm");
  if (!existing || needs.some((n) => !tf.getKernel(n, "wasm"))) return false;
  const kernelFunc = make(existing.kernelFunc as KernelFunc);
  originals.set(name, existing);
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: kernelFunc as tf.KernelFunc });
  return true;
}

function restore(name: string): void {
  const own = originals.get(name);
  if (own === undefined) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel(own);
  originals.delete(name);
}

/** Registers tanh as 2·sigmoid(2x) − 1 on wasm (idempotent). Returns false if wasm lacks a piece. */
export function registerFastTanh(): boolean {
  return replace("Tanh", ["Sigmoid", "Multiply", "Sub"], () => {
    const mul = kernel("Multiply");
    const sigmoid = kernel("Sigmoid");
    const sub = kernel("Sub");
    return ({ inputs, backend }) => {
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
    };
  });
}

/** Puts tfjs's own wasm Tanh back (for benchmarks). */
export function unregisterFastTanh(): void {
  restore("Tanh");
}

interface HeapBackend extends WasmBackend {
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Rows shorter than this are copied value by value: a native copy costs more to start. */
const NATIVE_COPY_MIN_LENGTH = 32;

/**
 * The whole wasm memory as 32-bit words. Every tensor shares that memory, so rows move with
 * one monomorphic word loop (bit-exact for float32 and int32 alike) or copyWithin, and
 * nothing is allocated per row. Taken after the output is made (making it may grow memory).
 */
function heapWords(wasm: HeapBackend, t: TensorInfo): Int32Array {
  return new Int32Array(wasm.typedArrayFromHeap(t).buffer);
}

/** Where tensor `t` starts in `heapWords`. */
function wordOffset(wasm: HeapBackend, t: TensorInfo): number {
  // unsigned: wasm memory reaches 4 GiB, and offsets past 2^31 would turn negative with >>
  return wasm.typedArrayFromHeap(t).byteOffset >>> 2;
}

function copyRow(heap: Int32Array, from: number, length: number, to: number): void {
  if (length >= NATIVE_COPY_MIN_LENGTH) {
    heap.copyWithin(to, from, from + length);
    return;
  }
  for (let k = 0; k < length; k++) heap[to + k] = heap[from + k];
}

const WORD_TYPES = new Set<tf.DataType>(["float32", "int32"]);

function fastSlice(own: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (!WORD_TYPES.has(x.dtype) || x.shape.length === 0) return own(args);
    const attrs = args.attrs as { begin: number | number[]; size?: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
    // tfjs's op checks these; the kernel checks again because in place, out of range reads other tensors
    tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
    if (begin.some((b) => b < 0)) throw new Error(`slice begin [${begin}] must not be negative`);
    const wasm = args.backend as HeapBackend;
    // the output first: making it may grow wasm memory, which detaches earlier views
    const out = wasm.makeOutput(size, x.dtype);
    if (size.some((s) => s === 0)) return out;
    const heap = heapWords(wasm, out);
    const from = wordOffset(wasm, x);
    const to = wordOffset(wasm, out);
    const strides = tf.util.computeStrides(x.shape);
    if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
      const offset = from + tf.slice_util.computeFlatOffset(begin, strides);
      heap.copyWithin(to, offset, offset + tf.util.sizeFromShape(size));
      return out;
    }
    const rank = size.length;
    const rowLength = size[rank - 1];
    const rows = tf.util.sizeFromShape(size.slice(0, -1));
    const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
    for (let row = 0; row < rows; row++) {
      let start = from + begin[rank - 1];
      for (let d = 0; d < rank - 1; d++) start += (begin[d] + index[d]) * strides[d];
      copyRow(heap, start, rowLength, to + row * rowLength);
      for (let d = rank - 2; d >= 0; d--) {
        if (++index[d] < size[d]) break;
        index[d] = 0;
      }
    }
    return out;
  };
}

function fastConcat(own: KernelFunc): KernelFunc {
  return (args) => {
    // tfjs's Concat receives its inputs as an array; like it, check them all before dropping empty ones
    const all = args.inputs as unknown as TensorInfo[];
    if (all.some((t) => !WORD_TYPES.has(t.dtype) || t.dtype !== all[0].dtype)) return own(args);
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number | number[] }).axis, all[0].shape)[0];
    tf.backend_util.assertParamsConsistent(all.map((t) => t.shape), axis);
    const outShape = tf.backend_util.computeOutShape(all.map((t) => t.shape), axis);
    const inputs = all.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (inputs.length < 2) return own(args);
    const wasm = args.backend as HeapBackend;
    const out = wasm.makeOutput(outShape, inputs[0].dtype);
    const heap = heapWords(wasm, out);
    const to = wordOffset(wasm, out);
    const froms = inputs.map((t) => wordOffset(wasm, t));
    const rows = tf.util.sizeFromShape(outShape.slice(0, axis));
    const lengths = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    let at = to;
    for (let row = 0; row < rows; row++) {
      for (let i = 0; i < froms.length; i++) {
        copyRow(heap, froms[i] + row * lengths[i], lengths[i], at);
        at += lengths[i];
      }
    }
    return out;
  };
}

/** Registers Concat and Slice that copy from wasm memory in place, row by row (idempotent). */
export function registerFastCopies(): boolean {
  return replace("Slice", [], fastSlice) && replace("Concat", [], fastConcat);
}

/** Puts tfjs's own wasm Concat and Slice back (for benchmarks). */
export function unregisterFastCopies(): void {
  restore("Slice");
  restore("Concat");
}
