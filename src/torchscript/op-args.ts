// How ops read their arguments: tensors, complex tensors, numbers, int lists and optional
// dims out of interpreter values, and PyTorch's dtype codes to and from tfjs dtypes.
// Shared by every op family file, so apart from any of them.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";

type Value = unknown;

function isT(v: Value): v is Tensor {
  return v instanceof tf.Tensor;
}

function T(v: Value, name = "argument"): Tensor {
  if (v instanceof tf.Tensor) return v;
  throw new BendingError(`expected a tensor for ${name}, got ${v === null ? "None" : typeof v}`);
}

function C(v: Value): F.Complex {
  if (v instanceof F.Complex) return v;
  throw new BendingError(`expected a complex tensor, got ${v instanceof tf.Tensor ? "a real tensor" : typeof v}`);
}

function num(v: Value, name = "argument"): number {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof tf.Tensor && v.size === 1) return v.dataSync()[0];
  throw new BendingError(`expected a number for ${name}, got ${v === null ? "None" : typeof v}`);
}

function ints(v: Value): number[] {
  if (typeof v === "number") return [v];
  if (Array.isArray(v)) return v.map((x) => num(x));
  throw new BendingError(`expected a list of ints, got ${v === null ? "None" : typeof v}`);
}

function optDims(v: Value): number | number[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.length === 0 ? null : v.map((x) => num(x));
  return num(v);
}

/** PyTorch ScalarType codes → tfjs dtypes (int64 and float64 run as int32 and float32). */
export function tfDtype(code: Value, fallback: tf.DataType = "float32"): tf.DataType {
  if (code === null || code === undefined) return fallback;
  switch (code) {
    case 0: case 1: case 2: case 3: case 4: return "int32";
    case 5: case 6: case 7: case 15: return "float32";
    case 8: case 9: case 10: return "complex64";
    case 11: return "bool";
    default: throw new BendingError(`unsupported dtype code ${String(code)}`);
  }
}

function dtypeCode(t: Tensor): number {
  switch (t.dtype) {
    case "float32": return 6;
    case "int32": return 4;
    case "bool": return 11;
    case "complex64": return 9;
    default: return 6;
  }
}

function floatOf(x: Tensor): Tensor {
  return x.dtype === "float32" || x.dtype === "complex64" ? x : tf.cast(x, "float32");
}

// For the op family files (ops-*.ts, ops-torch2.ts).
export { isT as isTensor, T as tensorArg, C as complexArg, num as numberArg, ints as intsArg, optDims as optionalDims, dtypeCode, floatOf };
