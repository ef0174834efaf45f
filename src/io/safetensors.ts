// .safetensors, read directly: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, __metadata__}, then raw little-endian data.
// This is how PyTorch weights reach tfbend modules (module.loadStateDict(...)).
import { readFile, writeFile } from "node:fs/promises";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";

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

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function decode(entry: HeaderEntry, bytes: Uint8Array, name: string): Tensor {
  const size = entry.shape.reduce((a, b) => a * b, 1);
  const width = BYTES[entry.dtype];
  if (width === undefined) throw new BendingError(`tensor '${name}' has unsupported dtype ${entry.dtype}`);
  if (bytes.byteLength !== size * width) {
    throw new BendingError(`tensor '${name}': ${bytes.byteLength} bytes for shape [${entry.shape.join(", ")}] of ${entry.dtype}`);
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

/** Parses a .safetensors file's bytes. */
export function parseSafetensors(data: Uint8Array, source = "safetensors data"): Safetensors {
  if (data.byteLength < 8) throw new BendingError(`${source} is too short to be a safetensors file`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > data.byteLength - 8) throw new BendingError(`${source}: header length ${headerLength} exceeds the file`);
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + headerLength)));
  } catch {
    throw new BendingError(`${source}: the safetensors header is not valid JSON`);
  }
  const body = data.subarray(8 + headerLength);
  const tensors: Record<string, Tensor> = {};
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  try {
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const entry = raw as HeaderEntry;
      const [begin, end] = entry.data_offsets;
      if (!(begin >= 0 && end >= begin && end <= body.byteLength)) throw new BendingError(`${source}: tensor '${name}' lies outside the file`);
      tensors[name] = decode(entry, body.subarray(begin, end), name);
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

/** Writes float32/int32 tensors as a .safetensors file. */
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
  await writeFile(path, out);
}
