// PyTorch storages (the raw bytes of `data/<key>` entries) and the strided tensors that view
// them: dtype from the storage class, sizes, strides, storage offset.
import { endianness } from "node:os";
import { BendingError } from "../errors.js";
import type { StoredTensor, TorchDtype } from "./values.js";
import { halfToFloat } from "../util/half.js";

export type TensorData = StoredTensor["data"];

/** The `torch.*Storage` classes torch pickles, and what one element is. */
export const STORAGE_CLASSES: ReadonlyMap<string, { dtype: TorchDtype; bytes: number }> = new Map([
  ["FloatStorage", { dtype: "float32", bytes: 4 }],
  ["DoubleStorage", { dtype: "float64", bytes: 8 }],
  ["HalfStorage", { dtype: "float16", bytes: 2 }],
  ["BFloat16Storage", { dtype: "bfloat16", bytes: 2 }],
  ["LongStorage", { dtype: "int64", bytes: 8 }],
  ["IntStorage", { dtype: "int32", bytes: 4 }],
  ["ShortStorage", { dtype: "int16", bytes: 2 }],
  ["CharStorage", { dtype: "int8", bytes: 1 }],
  ["ByteStorage", { dtype: "uint8", bytes: 1 }],
  ["BoolStorage", { dtype: "bool", bytes: 1 }],
]);

/** A persistent reference to a storage, as pickled: `('storage', torch.FloatStorage, key, location, numel)`. */
export interface StorageRef {
  kind: "storage";
  dtype: TorchDtype;
  key: string;
  numel: number;
}

/** A tensor whose data waits for its storage to be read. */
export interface PendingTensor {
  tensor: StoredTensor;
  storage: StorageRef;
  offset: number;
  stride: number[];
}

export function elementBytes(dtype: TorchDtype): number {
  for (const info of STORAGE_CLASSES.values()) if (info.dtype === dtype) return info.bytes;
  throw new Error(`unknown dtype ${dtype}`);
}

/** An empty array of the kind `dtype` reads into. */
export function emptyData(dtype: TorchDtype): TensorData {
  return decodeStorage(new Uint8Array(0), dtype);
}


const littleEndianHost = endianness() === "LE";

/**
 * The storage's elements. `bytes` must start at an offset aligned for the dtype (each storage
 * is read into its own buffer); 4- and 8-byte types are views, not copies.
 */
export function decodeStorage(bytes: Uint8Array, dtype: TorchDtype): TensorData {
  // Typed arrays use the host's byte order; archives are little-endian.
  if (!littleEndianHost) throw new BendingError("TorchScript archives can only be read on little-endian hosts");
  const n = bytes.byteLength / elementBytes(dtype);
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, n);
    case "float64":
      return new Float64Array(buffer, byteOffset, n);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, n);
    case "int32":
      return new Int32Array(buffer, byteOffset, n);
    case "int16":
      return new Int16Array(buffer, byteOffset, n);
    case "int8":
      return new Int8Array(buffer, byteOffset, n);
    case "uint8":
      return bytes;
    case "bool":
      return bytes.map((b) => (b === 0 ? 0 : 1));
    case "float16": {
      const halves = new Uint16Array(buffer, byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(halves[i]);
      return out;
    }
    case "bfloat16": {
      // A bfloat16 is the upper half of a float32.
      const halves = new Uint16Array(buffer, byteOffset, n);
      const wide = new Uint32Array(n);
      for (let i = 0; i < n; i++) wide[i] = halves[i] << 16;
      return new Float32Array(wide.buffer);
    }
  }
}

const MAX_EXPANDED_ELEMENTS = 1 << 27;

function sameKind(data: TensorData, length: number): TensorData {
  const Ctor = data.constructor as new (length: number) => TensorData;
  return new Ctor(length);
}

/**
 * The tensor `shape`/`stride`/`offset` views in `storage`, contiguous: a view when the layout
 * already is, a gathered copy otherwise. `where` names the tensor for errors.
 */
export function stridedView(storage: TensorData, offset: number, shape: number[], stride: number[], where: string): TensorData {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel === 0) return sameKind(storage, 0);
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  if (last >= storage.length) {
    throw new BendingError(
      `${where}: tensor of shape [${shape.join(", ")}], strides [${stride.join(", ")}], offset ${offset} reaches element ${last} of a storage of ${storage.length}`,
    );
  }
  let contiguous = true;
  for (let d = shape.length - 1, expected = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) contiguous = false;
    expected *= shape[d];
  }
  if (contiguous) return storage.subarray(offset, offset + numel);
  // A view with zero strides (an expanded tensor) may be larger than its storage; bound the copy.
  if (numel > storage.length && numel > MAX_EXPANDED_ELEMENTS) {
    throw new BendingError(`${where}: a tensor of shape [${shape.join(", ")}] expands a storage of ${storage.length} elements to ${numel}; refusing to allocate that`);
  }
  const out = sameKind(storage, numel);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const inner = rank - 1;
  const innerSize = shape[inner];
  const innerStride = stride[inner];
  // Walk the outer dimensions like an odometer; copy one innermost row per step.
  let source = offset;
  for (let o = 0; o < numel; o += innerSize) {
    if (storage instanceof BigInt64Array) {
      const target = out as BigInt64Array;
      for (let i = 0; i < innerSize; i++) target[o + i] = storage[source + i * innerStride];
    } else {
      const target = out as Exclude<TensorData, BigInt64Array>;
      for (let i = 0; i < innerSize; i++) target[o + i] = storage[source + i * innerStride];
    }
    for (let d = inner - 1; d >= 0; d--) {
      index[d]++;
      source += stride[d];
      if (index[d] < shape[d]) break;
      source -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}
