// The Jitter network protocol's packets (jit.net.send → jit.net.recv): JMTX matrix
// chunks (an 8-byte chunk header, the 288-byte matrix header, the data) and JMLP
// latency replies, and how tfbend's blocks lay out as matrices. Byte order and the
// sources for each fact: docs/jitter-protocol.md.
import { endianness } from "node:os";
import type { OutputBlock } from "../../protocol/index.js";

/** Chunk header: 4-char id + int32 size of the chunk that follows. */
export const CHUNK_HEADER_BYTES = 8;
/** t_jit_net_packet_matrix: 5 int32, dim[32], dimstride[32], int32 datasize, double time. */
export const MATRIX_HEADER_BYTES = 288;
export const JIT_MATRIX_MAX_DIMCOUNT = 32;
/** Matrix types as numbered in the matrix header. */
export const JIT_TYPE = { char: 0, long: 1, float32: 2, float64: 3 } as const;
const TYPE_BYTES = [1, 4, 4, 8];

// Field offsets inside the 288-byte matrix header.
const H_ID = 0, H_SIZE = 4, H_PLANES = 8, H_TYPE = 12, H_DIMCOUNT = 16, H_DIM = 20, H_DIMSTRIDE = 148, H_DATASIZE = 276, H_TIME = 280;

const HOST_LE = endianness() === "LE";

/** Planes and dims of the matrix a block travels as (planes = channels, interleaved per cell). */
export function matrixShape(block: OutputBlock): { planecount: number; dim: number[] } {
  const whole = (n: number) => Number.isInteger(n) && n > 0;
  let planecount: number;
  let dim: number[];
  if (block.stream === "latent") {
    // Latent frames (encode): a 1-plane float32 matrix of latent × frames.
    planecount = 1;
    dim = [block.channels || 1, block.frames];
  } else if (block.stream === "audio") {
    // jit.release~ takes float matrices with one plane per channel and consumes cells in
    // order; a 1-d matrix of `frames` cells is what jit.catch~ (mode 0) produces for it.
    planecount = block.channels || 1;
    dim = [block.frames];
  } else {
    // Images: dim [width, height], dim 0 fastest, row 0 on top: the same order as the
    // block's interleaved height x width pixels. RGB goes out as Jitter's ARGB (alpha 1),
    // the plane layout jit.pwindow and the jit.gl objects display without a planemap.
    planecount = (block.channels || 3) === 3 ? 4 : block.channels;
    dim = [block.width, block.height];
  }
  if (!whole(planecount) || planecount > 32 || !dim.every(whole)) {
    throw new RangeError(`jitnet: cannot send a ${block.stream} block with planes ${planecount}, dim ${dim.join("x")}`);
  }
  const cells = dim.reduce((a, b) => a * b, 1);
  const sourcePlanes = block.stream === "image" ? block.channels || 3 : block.stream === "latent" ? 1 : planecount;
  if (block.data.length !== cells * sourcePlanes) {
    throw new RangeError(`jitnet: ${block.stream} block has ${block.data.length} floats, expected ${cells * sourcePlanes} (${dim.join("x")} x ${sourcePlanes})`);
  }
  return { planecount, dim };
}

/** Interleaved RGB floats as interleaved ARGB with alpha 1 (Jitter's 4-plane video layout). */
export function rgbToArgb(rgb: Float32Array): Float32Array {
  const pixels = rgb.length / 3;
  const argb = new Float32Array(pixels * 4);
  for (let i = 0; i < pixels; i++) {
    argb[i * 4] = 1;
    argb[i * 4 + 1] = rgb[i * 3];
    argb[i * 4 + 2] = rgb[i * 3 + 1];
    argb[i * 4 + 3] = rgb[i * 3 + 2];
  }
  return argb;
}

/** Channel-after-channel data (channels × frames) as frame after frame (each frame's channels together). */
export function transposePlanar(planar: Float32Array, channels: number, frames: number): Float32Array {
  const out = new Float32Array(channels * frames);
  for (let c = 0; c < channels; c++) for (let f = 0; f < frames; f++) out[f * channels + c] = planar[c * frames + f];
  return out;
}

/**
 * One JMTX chunk: chunk header, 288-byte matrix header, float32 data.
 *
 * Byte order follows what jit.net.send puts on the wire (as read by public receivers),
 * not the SDK page's one-line "little endian" remark: the chunk header is the id's ASCII
 * bytes "JMTX" plus a little-endian size; inside the matrix header the id is the int
 * 'JMTX' stored little-endian (bytes "XTMJ"), every other int32, the time double and the
 * matrix data are big-endian.
 */
export function encodeMatrixPacket(block: OutputBlock, timeMs: number): Buffer {
  const { planecount, dim } = matrixShape(block);
  // dimstride is in bytes: one cell (all planes), then one row, ... Rows are sent
  // unpadded; receivers must honour the strides, so none are needed.
  const dimstride = [4 * planecount];
  for (let i = 1; i < dim.length; i++) dimstride.push(dimstride[i - 1] * dim[i - 1]);
  const datasize = dimstride[dim.length - 1] * dim[dim.length - 1];

  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + MATRIX_HEADER_BYTES + datasize);
  out.write("JMTX", 0, "latin1");
  out.writeInt32LE(MATRIX_HEADER_BYTES, 4);
  const h = CHUNK_HEADER_BYTES;
  out.write("XTMJ", h + H_ID, "latin1");
  out.writeInt32BE(MATRIX_HEADER_BYTES, h + H_SIZE);
  out.writeInt32BE(planecount, h + H_PLANES);
  out.writeInt32BE(JIT_TYPE.float32, h + H_TYPE);
  out.writeInt32BE(dim.length, h + H_DIMCOUNT);
  for (let i = 0; i < JIT_MATRIX_MAX_DIMCOUNT; i++) {
    // unused dims are 1 (an empty extent of 0 would zero any product over all 32)
    out.writeInt32BE(i < dim.length ? dim[i] : 1, h + H_DIM + 4 * i);
    out.writeInt32BE(i < dim.length ? dimstride[i] : 0, h + H_DIMSTRIDE + 4 * i);
  }
  out.writeInt32BE(datasize, h + H_DATASIZE);
  out.writeDoubleBE(timeMs, h + H_TIME);

  const d = h + MATRIX_HEADER_BYTES;
  const data = block.stream === "image" && planecount === 4 && (block.channels || 3) === 3
    ? rgbToArgb(block.data)
    : block.stream === "latent"
      ? transposePlanar(block.data, block.channels || 1, block.frames) // dim 0 (latent) fastest
      : block.stream === "audio" && planecount > 1 ? transposePlanar(block.data, planecount, block.frames) : block.data;
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, d);
  if (HOST_LE) out.subarray(d).swap32(); // host floats -> big-endian in place
  return out;
}

export interface DecodedMatrix {
  planecount: number;
  /** 0 char, 1 long, 2 float32, 3 float64 */
  type: number;
  dim: number[];
  /** Bytes per step along each dim. */
  dimstride: number[];
  datasize: number;
  /** Sender's clock in ms when sent. */
  time: number;
  /** Cells in order (dim 0 fastest), planes interleaved, read through the dimstrides. */
  data: Float32Array;
  /** Bytes this packet took (chunk header + matrix header + data). */
  packetBytes: number;
}

/** Inverse of encodeMatrixPacket, for tests and for looking at captured traffic. */
export function decodeMatrixPacket(buf: Buffer): DecodedMatrix {
  if (buf.length < CHUNK_HEADER_BYTES + MATRIX_HEADER_BYTES) throw new RangeError(`jitnet: ${buf.length} bytes is shorter than a matrix packet`);
  const chunkId = buf.toString("latin1", 0, 4);
  if (chunkId !== "JMTX") throw new Error(`jitnet: chunk id is ${JSON.stringify(chunkId)}, not "JMTX"`);
  // Tolerate a big-endian chunk size from other encoders: 288 is unambiguous.
  const chunkSize = buf.readInt32LE(4) === MATRIX_HEADER_BYTES ? MATRIX_HEADER_BYTES : buf.readInt32BE(4);
  if (chunkSize !== MATRIX_HEADER_BYTES) throw new Error(`jitnet: matrix chunk size ${chunkSize}, expected ${MATRIX_HEADER_BYTES}`);
  const h = CHUNK_HEADER_BYTES;
  const headerId = buf.toString("latin1", h, h + 4);
  if (headerId !== "XTMJ" && headerId !== "JMTX") throw new Error(`jitnet: matrix header id is ${JSON.stringify(headerId)}`);
  const size = buf.readInt32BE(h + H_SIZE);
  if (size !== MATRIX_HEADER_BYTES) throw new Error(`jitnet: matrix header size ${size}, expected ${MATRIX_HEADER_BYTES}`);
  const planecount = buf.readInt32BE(h + H_PLANES);
  const type = buf.readInt32BE(h + H_TYPE);
  const dimcount = buf.readInt32BE(h + H_DIMCOUNT);
  if (!(type >= 0 && type <= 3)) throw new Error(`jitnet: unknown matrix type ${type}`);
  if (!(dimcount >= 1 && dimcount <= JIT_MATRIX_MAX_DIMCOUNT) || !(planecount >= 1 && planecount <= 32)) {
    throw new Error(`jitnet: bad matrix header (planecount ${planecount}, dimcount ${dimcount})`);
  }
  const dim: number[] = [];
  const dimstride: number[] = [];
  for (let i = 0; i < dimcount; i++) {
    dim.push(buf.readInt32BE(h + H_DIM + 4 * i));
    dimstride.push(buf.readInt32BE(h + H_DIMSTRIDE + 4 * i));
  }
  const datasize = buf.readInt32BE(h + H_DATASIZE);
  const time = buf.readDoubleBE(h + H_TIME);
  const d = h + MATRIX_HEADER_BYTES;
  if (buf.length < d + datasize) throw new RangeError(`jitnet: packet holds ${buf.length - d} data bytes, header says ${datasize}`);

  const cells = dim.reduce((a, b) => a * b, 1);
  const data = new Float32Array(cells * planecount);
  const elem = TYPE_BYTES[type];
  const read = [(o: number) => buf.readUInt8(o), (o: number) => buf.readInt32BE(o), (o: number) => buf.readFloatBE(o), (o: number) => buf.readDoubleBE(o)][type];
  const index = new Array<number>(dimcount).fill(0);
  for (let cell = 0; cell < cells; cell++) {
    let offset = d;
    for (let k = 0; k < dimcount; k++) offset += index[k] * dimstride[k];
    if (offset + planecount * elem > d + datasize) throw new RangeError(`jitnet: dimstrides point past the ${datasize} data bytes`);
    for (let p = 0; p < planecount; p++) data[cell * planecount + p] = read(offset + p * elem);
    for (let k = 0; k < dimcount && ++index[k] === dim[k]; k++) index[k] = 0;
  }
  return { planecount, type, dim, dimstride, datasize, time, data, packetBytes: d + datasize };
}

/** The data size a matrix header (the 288 bytes after the chunk header) announces. */
export function matrixDataSize(matrixHeader: Buffer): number {
  return matrixHeader.readInt32BE(H_DATASIZE);
}

/** One JMLP latency reply: chunk header, then the matrix's time, when it arrived and when it was used (big-endian doubles). */
export function encodeLatencyPacket(sentTime: number, arrived: number, processed: number): Buffer {
  const out = Buffer.alloc(CHUNK_HEADER_BYTES + 24);
  out.write("JMLP", 0, "latin1");
  out.writeInt32LE(24, 4);
  out.writeDoubleBE(sentTime, 8);
  out.writeDoubleBE(arrived, 16);
  out.writeDoubleBE(processed, 24);
  return out;
}

/** Frame after frame (each frame's channels together) as channel after channel. */
export function planarFromInterleaved(interleaved: Float32Array, channels: number, frames: number): Float32Array {
  const out = new Float32Array(channels * frames);
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) out[c * frames + f] = interleaved[f * channels + c];
  return out;
}
