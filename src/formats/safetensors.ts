// .safetensors, read directly: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, __metadata__}, then raw little-endian data.
// This is how PyTorch weights reach tfbend modules (module.loadStateDict(...)).
import { readFile } from "node:fs/promises";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { halfToFloat } from "../util/half.js";
import { replaceFile } from "./replace-file.js";

export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function decode(entry: HeaderEntry, bytes: Uint8Array, name: string, source: string): Tensor {
  const size = entry.shape.reduce((a, b) => a * b, 1);
  const width = BYTES[entry.dtype];
  if (width === undefined) throw new BendingError(`${source}: tensor '${name}' has unsupported dtype ${entry.dtype}`);
  // Checked against the bytes present before anything is allocated for it.
  if (bytes.byteLength !== size * width) {
    throw new BendingError(`${source}: tensor '${name}' holds ${bytes.byteLength} bytes, but shape [${entry.shape.join(", ")}] of ${entry.dtype} needs ${size * width}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (entry.dtype) {
    case "F32": {
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = view.getFloat32(i * 4, true);
      return tf.tensor(out, entry.shape, "float32");
    }
    case "F64":
    case "F16":
    case "BF16": {
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        if (entry.dtype === "F64") out[i] = view.getFloat64(i * 8, true);
        else if (entry.dtype === "F16") out[i] = halfToFloat(view.getUint16(i * 2, true));
        else out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0];
      }
      return tf.tensor(out, entry.shape, "float32");
    }
    case "BOOL": {
      return tf.tensor(Array.from(bytes, (b) => b !== 0), entry.shape, "bool");
    }
    default: {
      const out = new Int32Array(size);
      for (let i = 0; i < size; i++) {
        if (entry.dtype === "I64") out[i] = Number(view.getBigInt64(i * 8, true));
        else if (entry.dtype === "I32") out[i] = view.getInt32(i * 4, true);
        else if (entry.dtype === "I16") out[i] = view.getInt16(i * 2, true);
        else if (entry.dtype === "I8") out[i] = view.getInt8(i);
        else out[i] = view.getUint8(i);
      }
      return tf.tensor(out, entry.shape, "int32");
    }
  }
}

/** Largest header accepted (the format's own reference reader stops at 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const MAX_DIMS = 8;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** One header entry with its types checked: the user sees what is wrong, not a JavaScript internal. */
function checkEntry(raw: unknown, name: string, source: string): HeaderEntry {
  const where = `${source}: tensor '${name.slice(0, 100)}'`;
  if (!isRecord(raw)) throw new BendingError(`${where} must be an object {dtype, shape, data_offsets}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string" || BYTES[dtype] === undefined) {
    throw new BendingError(`${where} has dtype ${typeof dtype === "string" ? dtype.slice(0, 20) : typeof dtype}; expected one of ${Object.keys(BYTES).join(", ")}`);
  }
  if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new BendingError(`${where}: shape must be a list of at most ${MAX_DIMS} non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new BendingError(`${where}: data_offsets must be two non-negative integers [begin, end]`);
  }
  return { dtype, shape: shape as number[], data_offsets: offsets as [number, number] };
}

function checkMetadata(raw: unknown, source: string): Record<string, string> {
  if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === "string")) {
    throw new BendingError(`${source}: __metadata__ must be an object of strings`);
  }
  return raw as Record<string, string>;
}

/** Parses a .safetensors file's bytes. */
export function parseSafetensors(data: Uint8Array, source = "safetensors data"): Safetensors {
  if (data.byteLength < 8) throw new BendingError(`${source} is too short to be a safetensors file`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > data.byteLength - 8) throw new BendingError(`${source}: header length ${headerLength} exceeds the file`);
  if (headerLength > MAX_HEADER_BYTES) throw new BendingError(`${source}: header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + headerLength)));
  } catch {
    throw new BendingError(`${source}: the safetensors header is not valid JSON`);
  }
  if (!isRecord(header)) throw new BendingError(`${source}: the safetensors header is not a JSON object`);
  const body = data.subarray(8 + headerLength);
  const metadata = checkMetadata(header.__metadata__ ?? {}, source);
  const entries = Object.entries(header).filter(([name]) => name !== "__metadata__").map(([name, raw]) => [name, checkEntry(raw, name, source)] as const);
  const tensors: Record<string, Tensor> = {};
  try {
    for (const [name, entry] of entries) {
      const [begin, end] = entry.data_offsets;
      if (!(begin >= 0 && end >= begin && end <= body.byteLength)) throw new BendingError(`${source}: tensor '${name}' lies outside the file`);
      tensors[name] = decode(entry, body.subarray(begin, end), name, source);
    }
  } catch (e) {
    tf.dispose(Object.values(tensors));
    throw e;
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file; the caller owns the tensors. */
export async function loadSafetensorsFile(path: string): Promise<Safetensors> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new BendingError(`cannot read '${path}': ${(e as Error).message}`);
  }
  return parseSafetensors(data, path);
}

/** Reads the tensors of a .safetensors file (a state dict for module.loadStateDict). */
export async function loadSafetensors(path: string): Promise<Record<string, Tensor>> {
  return (await loadSafetensorsFile(path)).tensors;
}

/** Writes float32/int32 tensors as a .safetensors file (replacing an old one atomically). */
export async function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const values = t.dataSync();
    const dtype = t.dtype === "int32" ? "I32" : "F32";
    const bytes = new Uint8Array(t.dtype === "int32" ? new Int32Array(values).buffer : new Float32Array(values).buffer);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " ";
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  await replaceFile(path, out);
}
