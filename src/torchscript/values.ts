// What a TorchScript archive holds, as plain values: the module tree (data.pkl), the code's
// tensor constants (constants.pkl) and the tensors they reference.

export type TorchDtype = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

/**
 * A tensor read from the archive, contiguous, in its own dtype (float16/bfloat16 widened to
 * Float32Array; bool as 0/1 bytes). `data` may be a view that shares memory with other
 * StoredTensors of the same storage, as in PyTorch: copy it before writing into it.
 */
export interface StoredTensor {
  kind: "tensor";
  dtype: TorchDtype;
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  requiresGrad: boolean;
  /** Where the archive keeps it: the storage entry (`data/3`, under the root folder), offset and strides in elements. */
  source?: { entry: string; offset: number; stride: number[] };
}

/**
 * A TorchScript object (module or class instance): its qualified class name and pickled
 * attributes in order. A class whose pickled state is not an attribute dict (it defines
 * `__getstate__`/`__setstate__`) keeps that state in `state`, to be passed to its `__setstate__`.
 */
export interface ScriptObject {
  kind: "object";
  className: string;
  attributes: Map<string, ScriptValue>;
  state?: ScriptValue;
}

/** A Python tuple (lists are JS arrays). */
export class ScriptTuple {
  constructor(readonly items: ScriptValue[]) {}
}

export type ScriptValue = null | boolean | number | string | ScriptValue[] | ScriptTuple | Map<ScriptValue, ScriptValue> | ScriptObject | StoredTensor;

export interface TorchScriptArchive {
  /** The path given. */
  file: string;
  /** The zip's single root folder (need not match the file name). */
  rootFolder: string;
  /** From `version` (or `.data/version`). */
  version: number;
  /** data.pkl: the scripted module. */
  root: ScriptObject;
  /** constants.pkl (a tuple; tensors referenced by the code as CONSTANTS.c<i>). */
  constants: ScriptValue[];
  /** "__torch__/model.py" -> source text, for every code/**\/*.py. */
  code: Map<string, string>;
}
