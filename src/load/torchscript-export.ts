// Bent models back to nn~ (issue 20, part 3): writes a TorchScript file that PyTorch and nn~
// load: the archive the model came from, with the weights the next pass would use (current
// version or interpolation, weight bendings applied) written into the storages of the weights
// that differ, and every other entry byte for byte. Activation bendings that TorchScript can
// express are written into the code (torchscript-activations.ts: a statement after the one
// computing the activation; the edited files lose their .debug_pkl, whose source ranges no
// longer fit); the others are refused by name, with the reason, never dropped.
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import { readTorchScriptArchive } from "../torchscript/archive.js";
import { TorchScriptRoot, StateBuffer } from "../torchscript/module.js";
import { ScriptTuple, type ScriptObject, type ScriptValue, type StoredTensor, type TorchDtype } from "../torchscript/values.js";
import { rewriteZip } from "../formats/zip-writer.js";
import { activationEdits, applyCodeEdits, type CodeEdit } from "./torchscript-activations.js";

export interface ExportReport {
  /** The file written. */
  file: string;
  /** State-dict keys whose values were written (they differ from the source file). */
  written: string[];
  /** Activation bendings written into the code ("Scale(2) on decoder_act"). */
  activations: string[];
}

function isObject(v: ScriptValue | undefined): v is ScriptObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof ScriptTuple) && v.kind === "object";
}

function isTensor(v: ScriptValue | undefined): v is StoredTensor {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof ScriptTuple) && v.kind === "tensor";
}

/** The stored tensor at a state-dict key (`decoder.net.0.weight`) in the archive's module tree. */
function storedAt(root: ScriptObject, key: string): StoredTensor | undefined {
  let node: ScriptValue | undefined = root;
  for (const part of key.split(".")) {
    if (!isObject(node)) return undefined;
    node = node.attributes.get(part);
  }
  return isTensor(node) ? node : undefined;
}

/** Writes `values` (row-major, the tensor's shape) into the storage bytes at the tensor's offset and strides. */
function writeInto(bytes: Uint8Array, dtype: TorchDtype, shape: number[], offset: number, stride: number[], values: ArrayLike<number>, key: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const put: (at: number, v: number) => void = (() => {
    switch (dtype) {
      case "float32": return (at: number, v: number) => view.setFloat32(at * 4, v, true);
      case "float64": return (at: number, v: number) => view.setFloat64(at * 8, v, true);
      case "int64": return (at: number, v: number) => view.setBigInt64(at * 8, BigInt(Math.trunc(v)), true);
      case "int32": return (at: number, v: number) => view.setInt32(at * 4, v, true);
      case "int16": return (at: number, v: number) => view.setInt16(at * 2, v, true);
      case "int8": return (at: number, v: number) => view.setInt8(at, v);
      case "uint8": case "bool": return (at: number, v: number) => view.setUint8(at, v);
      default: throw new BendingError(`weight '${key}' is stored as ${dtype}; tfbend writes float32, float64 and integer weights only`);
    }
  })();
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * stride[d];
    put(at, values[i]);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

/** Whether a tfjs tensor holds the same values as the stored one (float32 as tfjs reads it). */
function sameValues(current: ArrayLike<number>, stored: StoredTensor): boolean {
  const data = stored.data;
  if (current.length !== data.length) return false;
  for (let i = 0; i < current.length; i++) {
    const original = typeof data[i] === "bigint" ? Number(data[i]) : Math.fround(data[i] as number);
    if (current[i] !== original && !(Number.isNaN(current[i]) && Number.isNaN(original))) return false;
  }
  return true;
}

/**
 * Writes `bended` (a model loaded from a TorchScript file) as a TorchScript file at `path`:
 * the source archive with the current weights (version, interpolation and weight bendings
 * baked in) replacing the originals that differ; streaming caches keep the file's values;
 * activation bendings written into the code, controls at their current values. Refuses
 * (writing nothing) when an activation bending cannot be written, naming it and why.
 * Atomic (temp file, fsync, rename).
 */
export async function saveTorchScript(bended: BendedModule, path: string): Promise<ExportReport> {
  const root = bended.module;
  if (!(root instanceof TorchScriptRoot) || root.file === "") {
    throw new BendingError("only a model loaded from a TorchScript file (.ts) can be exported as TorchScript");
  }
  const archive = await readTorchScriptArchive(root.file);
  const { edits, refused } = activationEdits(bended, root, archive.code);
  if (refused.length > 0) {
    throw new BendingError(`cannot export ${path}: these activation bendings cannot be written into the TorchScript code: ${refused.join("; ")}; remove them with unbend() (weight bendings are always written)`);
  }
  const streaming = new Set(root.namedBuffers().filter(([, b]) => b instanceof StateBuffer).map(([k]) => k));
  const changes = new Map<string, { stored: StoredTensor; values: ArrayLike<number>; key: string }[]>();
  const written: string[] = [];
  const current = bended.bendedStateDict();
  for (const [key, tensor] of Object.entries(current)) {
    if (streaming.has(key)) continue;
    const stored = storedAt(archive.root, key);
    if (stored === undefined || stored.source === undefined) throw new BendingError(`${root.file}: weight '${key}' is not a tensor of the archive's module tree`);
    if (tensor.shape.join() !== stored.shape.join()) throw new BendingError(`weight '${key}' has shape [${tensor.shape.join(", ")}], the file's [${stored.shape.join(", ")}]`);
    const values = tensor.dataSync() as ArrayLike<number>;
    if (sameValues(values, stored)) continue;
    const entry = `${archive.rootFolder}/${stored.source.entry}`;
    const list = changes.get(entry) ?? [];
    list.push({ stored, values: Float64Array.from(values), key });
    changes.set(entry, list);
    written.push(key);
  }
  const replace = new Map<string, (old: Uint8Array) => Uint8Array>();
  const drop = new Set<string>();
  const byFile = new Map<string, CodeEdit[]>();
  for (const edit of edits) byFile.set(edit.file, [...(byFile.get(edit.file) ?? []), edit]);
  for (const [file, list] of byFile) {
    const source = archive.code.get(file);
    if (source === undefined) throw new BendingError(`${root.file}: no code file ${file} in the archive`);
    const text = new TextEncoder().encode(applyCodeEdits(source, list, file));
    replace.set(`${archive.rootFolder}/code/${file}`, () => text);
    drop.add(`${archive.rootFolder}/code/${file}.debug_pkl`);
  }
  for (const [entry, list] of changes) {
    replace.set(entry, (old) => {
      const bytes = old.slice();
      for (const { stored, values, key } of list) writeInto(bytes, stored.dtype, stored.shape, stored.source!.offset, stored.source!.stride, values, key);
      return bytes;
    });
  }
  await rewriteZip(root.file, path, replace, drop);
  return { file: path, written, activations: edits.flatMap((e) => e.what) };
}
