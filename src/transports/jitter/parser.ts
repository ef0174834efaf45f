// The byte stream a [jit.net.send] writes, cut into chunks: a state machine fed whatever
// TCP delivers (a chunk split anywhere, several in one read), as ws's Receiver reads
// WebSocket frames. Matrices come out whole; latency and message chunks, and matrices
// over the size limit, are skipped without being buffered; anything else is not the
// protocol and stops the parser (the connection should close).
import { performance } from "node:perf_hooks";
import { CHUNK_HEADER_BYTES, MATRIX_HEADER_BYTES, matrixDataSize } from "./matrix.js";

/** What the parser found, in stream order. */
export interface JitterChunkHandler {
  /** A whole JMTX packet (chunk header, matrix header, data: what decodeMatrixPacket reads) and when its last byte arrived (performance.now()). */
  matrix(packet: Buffer, arrived: number): void;
  /** A matrix with more data than the limit: skipped. */
  oversized(datasize: number): void;
  /** Bytes that are not the protocol; nothing more is parsed. */
  protocolError(message: string): void;
}

/** Chunks other than matrices are skipped when no larger than this; bigger ones are garbage. */
export const MAX_OTHER_CHUNK = 1 << 16;
/** Beyond this a declared matrix size is garbage, not an oversized matrix worth skipping. */
export const MAX_SKIPPABLE = 64 << 20;

/**
 * chunk-header: the 8-byte id and size of the next chunk;
 * matrix-header: the 288-byte header of a JMTX chunk;
 * matrix-data: the data it announced;
 * skip: bytes of a chunk that is not kept (JMLP, JMMP, an oversized matrix);
 * failed: not the protocol; everything after is ignored.
 */
export type JitterParserState = "chunk-header" | "matrix-header" | "matrix-data" | "skip" | "failed";

export class JitterChunkParser {
  private current: JitterParserState = "chunk-header";
  /** Bytes received and not yet consumed, in order. */
  private buffers: Buffer[] = [];
  private buffered = 0;
  /** The chunk header and matrix header of the matrix being read. */
  private header: Buffer[] = [];
  /** Bytes the current state still needs (matrix-data) or drops (skip). */
  private remaining = 0;

  constructor(
    private readonly handler: JitterChunkHandler,
    /** Matrices with more data than this are skipped (and reported as oversized). */
    private readonly maxMatrixBytes = 1 << 20,
  ) {}

  get state(): JitterParserState {
    return this.current;
  }

  /** Bytes received and held until their chunk is complete. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds the bytes of one read; complete chunks are handled before this returns. */
  write(data: Buffer): void {
    if (this.current === "failed" || data.length === 0) return;
    this.buffers.push(data);
    this.buffered += data.length;
    for (let progress = true; progress; ) {
      switch (this.current) {
        case "chunk-header":
          progress = this.chunkHeader();
          break;
        case "matrix-header":
          progress = this.matrixHeader();
          break;
        case "matrix-data":
          progress = this.matrixData();
          break;
        case "skip":
          progress = this.skip();
          break;
        default: // failed
          progress = false;
      }
    }
  }

  private chunkHeader(): boolean {
    if (this.buffered < CHUNK_HEADER_BYTES) return false;
    const head = this.consume(CHUNK_HEADER_BYTES);
    const id = head.toString("latin1", 0, 4);
    const size = head.readInt32LE(4);
    if (id === "JMTX") {
      // Other encoders write the size big-endian: 288 is unambiguous either way.
      if (size !== MATRIX_HEADER_BYTES && head.readInt32BE(4) !== MATRIX_HEADER_BYTES) return this.fail(`matrix chunk size ${size}, expected ${MATRIX_HEADER_BYTES}`);
      this.header = [head];
      this.current = "matrix-header";
      return true;
    }
    if (id === "JMMP" || id === "JMLP") {
      // messages and latency packets: not for us
      if (size < 0 || size > MAX_OTHER_CHUNK) return this.fail(`${id} chunk of ${size} bytes`);
      return this.skipNext(size);
    }
    return this.fail(`${JSON.stringify(id)} is not a Jitter chunk id`);
  }

  private matrixHeader(): boolean {
    if (this.buffered < MATRIX_HEADER_BYTES) return false;
    const header = this.consume(MATRIX_HEADER_BYTES);
    const datasize = matrixDataSize(header);
    if (datasize < 0 || datasize > MAX_SKIPPABLE) return this.fail(`matrix data size ${datasize} is not plausible`);
    if (datasize > this.maxMatrixBytes) {
      this.header = [];
      this.handler.oversized(datasize);
      return this.skipNext(datasize);
    }
    this.header.push(header);
    this.remaining = datasize;
    this.current = "matrix-data";
    return true;
  }

  private matrixData(): boolean {
    if (this.buffered < this.remaining) return false;
    const packet = Buffer.concat([...this.header, this.consume(this.remaining)]);
    this.header = [];
    this.current = "chunk-header";
    this.handler.matrix(packet, performance.now());
    return true;
  }

  private skipNext(bytes: number): boolean {
    this.remaining = bytes;
    this.current = "skip";
    return true;
  }

  private skip(): boolean {
    this.remaining -= this.drop(this.remaining);
    if (this.remaining > 0) return false;
    this.current = "chunk-header";
    return true;
  }

  private fail(message: string): boolean {
    this.current = "failed";
    this.buffers = [];
    this.buffered = 0;
    this.header = [];
    this.handler.protocolError(message);
    return false;
  }

  /** The next `n` buffered bytes (n ≤ buffered), one copy only when they span reads. */
  private consume(n: number): Buffer {
    this.buffered -= n;
    const first = this.buffers[0];
    if (n === 0) return Buffer.alloc(0);
    if (n === first.length) return this.buffers.shift()!;
    if (n < first.length) {
      this.buffers[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.buffers[0];
      const take = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, take);
      filled += take;
      if (take === head.length) this.buffers.shift();
      else this.buffers[0] = head.subarray(take);
    }
    return out;
  }

  /** Drops up to `n` buffered bytes without copying them; returns how many. */
  private drop(n: number): number {
    let dropped = 0;
    while (dropped < n && this.buffers.length > 0) {
      const head = this.buffers[0];
      const take = Math.min(head.length, n - dropped);
      dropped += take;
      if (take === head.length) this.buffers.shift();
      else this.buffers[0] = head.subarray(take);
    }
    this.buffered -= dropped;
    return dropped;
  }
}
