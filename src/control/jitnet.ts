// Jitter networking (jit.net.send's wire format) so that a Max patch with
// [jit.net.recv @port 7474] receives tfbend's output blocks as float32 matrices:
// audio -> [jit.release~], images -> [jit.pwindow]. jit.net.recv listens; like
// jit.net.send we are the TCP client and keep reconnecting until it is there.
// Protocol notes and sources: docs/jitter-protocol.md.
import { endianness } from "node:os";
import { createServer, Socket, type Server } from "node:net";
import { performance } from "node:perf_hooks";
import type { OutputBlock, Reply } from "./session.js";
import { ErrorThrottle, wallClockMs, type AudioChunk } from "./audio-input.js";

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
function matrixShape(block: OutputBlock): { planecount: number; dim: number[] } {
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

/**
 * One JMTX chunk: chunk header, 288-byte matrix header, float32 data.
 *
 * Byte order follows what jit.net.send puts on the wire (as read by public receivers),
 * not the SDK page's one-line "little endian" remark: the chunk header is the id's ASCII
 * bytes "JMTX" plus a little-endian size; inside the matrix header the id is the int
 * 'JMTX' stored little-endian (bytes "XTMJ"), every other int32, the time double and the
 * matrix data are big-endian.
 */
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

export interface JitterSenderOptions {
  host?: string;
  port?: number;
  /** First reconnect delay; doubles per failed try up to maxReconnectMs. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** A block is dropped rather than queued once this many bytes wait in the socket. */
  maxBufferedBytes?: number;
  connectTimeoutMs?: number;
}

export interface JitterSenderStats {
  connected: boolean;
  /** Blocks handed to the socket. */
  sent: number;
  /** Blocks not sent: no connection, or the receiver not keeping up. */
  dropped: number;
  /** Latest estimate from jit.net.recv's JMLP replies (half the round trip plus half its processing time); null before the first. */
  latencyMs: number | null;
  /** Bytes written but still waiting in the socket. */
  bufferedBytes: number;
}

const LATENCY_MARKERS = [Buffer.from("JMLP", "latin1"), Buffer.from("PLMJ", "latin1")];
/** Where the echoed time may sit after a marker: packed or padded struct, with or without a chunk header. */
const ECHO_OFFSETS = [4, 8, 12, 16];
const MAX_PENDING = 256;
const MAX_RX = 1 << 16;

/**
 * Streams OutputBlocks to jit.net.recv. Network trouble never throws: the sender
 * reconnects with backoff and counts blocks it could not send.
 */
export class JitterSender {
  readonly host: string;
  readonly port: number;
  private readonly reconnectMs: number;
  private readonly maxReconnectMs: number;
  private readonly maxBufferedBytes: number;
  private readonly connectTimeoutMs: number;
  private socket: Socket | null = null;
  private connected = false;
  private started = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private sent = 0;
  private dropped = 0;
  private latencyMs: number | null = null;
  /** Times of matrices sent on this connection, awaiting their JMLP echo. */
  private pending: number[] = [];
  private rx: Buffer = Buffer.alloc(0);
  private lastTime = -Infinity;
  /** Last socket error (ECONNREFUSED while Max is not listening, ...), for diagnostics. */
  lastError: Error | null = null;

  constructor({ host = "127.0.0.1", port = 7474, reconnectMs = 1000, maxReconnectMs = 10_000, maxBufferedBytes = 4 << 20, connectTimeoutMs = 3000 }: JitterSenderOptions = {}) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`jitnet: port must be 1..65535, got ${port}`);
    if (!(reconnectMs > 0)) throw new RangeError(`jitnet: reconnectMs must be > 0, got ${reconnectMs}`);
    this.host = host;
    this.port = port;
    this.reconnectMs = reconnectMs;
    this.maxReconnectMs = Math.max(reconnectMs, maxReconnectMs);
    this.maxBufferedBytes = maxBufferedBytes;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  /** Connects (now, and again whenever the connection fails or drops) until close(). */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    this.connect();
    return this;
  }

  /** Sends one block as a matrix; false (and counted) if it had to be dropped. Throws only for a malformed block. */
  send(block: OutputBlock): boolean {
    const { planecount, dim } = matrixShape(block); // malformed blocks are the caller's bug: say so
    const socket = this.socket;
    if (!this.connected || !socket || socket.destroyed || !socket.writable) {
      this.dropped++;
      return false;
    }
    // Live media: a stale block is worth less than a fresh one, so when the receiver
    // falls behind we skip blocks instead of letting latency (and memory) grow.
    const bytes = CHUNK_HEADER_BYTES + MATRIX_HEADER_BYTES + 4 * planecount * dim.reduce((a, b) => a * b, 1);
    if (socket.writableLength > 0 && socket.writableLength + bytes > this.maxBufferedBytes) {
      this.dropped++;
      return false;
    }
    const time = this.nextTime();
    this.pending.push(time);
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    socket.write(encodeMatrixPacket(block, time)); // one write per packet: a reconnect never starts mid-packet
    this.sent++;
    return true;
  }

  stats(): JitterSenderStats {
    return { connected: this.connected, sent: this.sent, dropped: this.dropped, latencyMs: this.latencyMs, bufferedBytes: this.socket?.writableLength ?? 0 };
  }

  /** Stops reconnecting and closes the connection. */
  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    this.connected = false;
    if (!socket || socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once("close", () => resolve());
      socket.destroy();
    });
  }

  /** Milliseconds on a monotonic clock, strictly increasing so every echo names one packet. */
  private nextTime(): number {
    let t = performance.now();
    if (t <= this.lastTime) t = this.lastTime + 1e-3;
    this.lastTime = t;
    return t;
  }

  private connect(): void {
    this.timer = null;
    if (this.closed) return;
    const socket = new Socket();
    this.socket = socket;
    socket.setNoDelay(true); // small audio blocks should not wait for Nagle
    socket.setTimeout(this.connectTimeoutMs);
    socket.on("timeout", () => {
      if (!this.connected) socket.destroy(new Error(`jitnet: connect to ${this.host}:${this.port} timed out`));
    });
    socket.on("connect", () => {
      if (this.socket !== socket) return;
      socket.setTimeout(0);
      this.connected = true;
      this.attempt = 0;
      this.pending = [];
      this.rx = Buffer.alloc(0);
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (e) {
        this.lastError = e as Error; // a confusing reply must never take the stream down
      }
    });
    socket.on("error", (e) => {
      this.lastError = e; // 'close' follows and schedules the retry
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connected = false;
      this.scheduleReconnect();
    });
    try {
      socket.connect(this.port, this.host);
    } catch (e) {
      this.lastError = e as Error;
      socket.destroy();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = Math.min(this.reconnectMs * 2 ** this.attempt, this.maxReconnectMs);
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref(); // waiting for Max must not keep the process alive by itself
  }

  /**
   * jit.net.recv answers each matrix with a JMLP packet: the time we sent, its time when
   * the header arrived and when the matrix was in use. The SDK shows the C struct but not
   * its padding or byte order, so we look for the marker and then for the exact echo of a
   * time we sent (big- or little-endian) a few bytes after it; anything else is ignored.
   */
  private onData(chunk: Buffer): void {
    this.rx = this.rx.length ? Buffer.concat([this.rx, chunk]) : chunk;
    if (this.rx.length > MAX_RX) this.rx = this.rx.subarray(this.rx.length - 4096);
    let from = 0;
    for (;;) {
      const p = Math.min(...LATENCY_MARKERS.map((m) => this.rx.indexOf(m, from)).map((i) => (i < 0 ? Infinity : i)));
      if (p === Infinity) {
        from = Math.max(from, this.rx.length - 3); // keep a marker split across reads
        break;
      }
      const end = this.matchEcho(p);
      if (end > 0) {
        from = end;
      } else if (this.rx.length >= p + ECHO_OFFSETS[ECHO_OFFSETS.length - 1] + 24) {
        from = p + 1; // complete but not an echo of ours: skip it
      } else {
        from = p; // wait for the rest
        break;
      }
    }
    this.rx = this.rx.subarray(from);
  }

  /** End offset of the ack at marker p if it echoes one of our times, else 0. */
  private matchEcho(p: number): number {
    const rx = this.rx;
    for (const o of ECHO_OFFSETS) {
      if (rx.length < p + o + 24) break;
      for (const be of [true, false]) {
        const read = (at: number) => (be ? rx.readDoubleBE(at) : rx.readDoubleLE(at));
        const i = this.pending.indexOf(read(p + o));
        if (i < 0) continue;
        const rtt = performance.now() - this.pending[i];
        const processing = read(p + o + 16) - read(p + o + 8); // both on the receiver's clock
        const sane = Number.isFinite(processing) && processing >= 0 && processing < 60_000;
        this.latencyMs = rtt / 2 + (sane ? processing / 2 : 0);
        this.pending.splice(0, i + 1); // older ones will not be answered any more
        return p + o + 24;
      }
    }
    return 0;
  }
}

export interface JitterOutputOptions {
  host?: string;
  /** jit.net.recv port for audio blocks (→ jit.release~). */
  audioPort?: number;
  /** jit.net.recv port for image frames (→ jit.pwindow). */
  imagePort?: number;
}

/** Sends every output block of `source` to Jitter: audio and images to their own receivers. */
export function attachJitter(
  source: { onBlock(listener: (block: OutputBlock) => void): () => void },
  options: JitterOutputOptions = {},
): { senders: JitterSender[]; close(): Promise<void> } {
  const host = options.host ?? "127.0.0.1";
  const audio = new JitterSender({ host, port: options.audioPort ?? 7474 }).start();
  const image = new JitterSender({ host, port: options.imagePort ?? 7475 }).start();
  const off = source.onBlock((block) => void (block.stream === "image" ? image : audio).send(block));
  return {
    senders: [audio, image],
    close: async () => {
      off();
      await Promise.all([audio.close(), image.close()]);
    },
  };
}

// --- input: tfbend as jit.net.recv ----------------------------------------------------------

/** Where received audio goes (the Engine). */
export interface AudioSink {
  pushAudio(chunk: AudioChunk): Promise<Reply>;
}

export interface JitterReceiverOptions {
  host?: string;
  /** jit.net.recv's port for the patch's [jit.net.send]; default 7476. */
  port?: number;
  /** Matrices with more data than this are skipped and counted (default 1 MiB: 262,144 float32 samples). */
  maxMatrixBytes?: number;
}

export interface JitterReceiverStats {
  connections: number;
  matrices: number;
  /** Matrices refused: not float32, not 1-d, wrong plane count, oversized, or refused by the session. */
  refused: number;
  /** Connections closed for bytes that are not the Jitter protocol. */
  protocolErrors: number;
  lastError: string | null;
}

/** Chunks other than matrices are skipped when no larger than this; bigger ones are garbage. */
const MAX_OTHER_CHUNK = 1 << 16;
/** Beyond this a declared matrix size is garbage, not an oversized matrix worth skipping. */
const MAX_SKIPPABLE = 64 << 20;

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

/**
 * Listens as jit.net.recv for a patch's [adc~] → [jit.catch~] → [jit.net.send @port 7476]:
 * float32 matrices, one plane per channel, 1-d (or N × 1), any length (the session cuts
 * them into the method's blocks). Each matrix is answered with a JMLP latency packet.
 * Bad matrices are skipped and counted; bytes that are not the protocol close that
 * connection; the server keeps listening.
 */
export class JitterReceiver {
  readonly server: Server;
  readonly ready: Promise<void>;
  private readonly sockets = new Set<Socket>();
  private readonly throttle = new ErrorThrottle();
  private readonly maxMatrixBytes: number;
  private counts: JitterReceiverStats = { connections: 0, matrices: 0, refused: 0, protocolErrors: 0, lastError: null };

  constructor(private readonly sink: AudioSink, private readonly options: JitterReceiverOptions = {}) {
    this.maxMatrixBytes = options.maxMatrixBytes ?? 1 << 20;
    this.server = createServer((socket) => this.connect(socket));
    this.ready = new Promise((resolveReady, rejectReady) => {
      this.server.once("error", rejectReady);
      this.server.listen(options.port ?? 7476, options.host ?? "127.0.0.1", () => resolveReady());
    });
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : (this.options.port ?? 7476);
  }

  stats(): JitterReceiverStats {
    return { ...this.counts };
  }

  private refuse(source: string, message: string): void {
    this.counts.refused++;
    this.counts.lastError = message;
    if (this.throttle.allow(source)) console.error(`tfbend jitter-in: ${source}: ${message}`);
  }

  private connect(socket: Socket): void {
    const source = `jitter ${socket.remoteAddress}:${socket.remotePort}`;
    this.sockets.add(socket);
    this.counts.connections++;
    socket.setNoDelay(true);
    let rx: Buffer = Buffer.alloc(0);
    let skip = 0;
    const fail = (message: string) => {
      this.counts.protocolErrors++;
      this.counts.lastError = message;
      if (this.throttle.allow(source)) console.error(`tfbend jitter-in: ${source}: ${message}; closing the connection`);
      socket.destroy();
    };
    socket.on("data", (data: Buffer) => {
      if (skip > 0) {
        const n = Math.min(skip, data.length);
        skip -= n;
        data = data.subarray(n);
      }
      rx = rx.length ? Buffer.concat([rx, data]) : data;
      while (!socket.destroyed && skip === 0 && rx.length >= CHUNK_HEADER_BYTES) {
        const id = rx.toString("latin1", 0, 4);
        const size = rx.readInt32LE(4);
        if (id === "JMTX") {
          if (size !== MATRIX_HEADER_BYTES && rx.readInt32BE(4) !== MATRIX_HEADER_BYTES) return fail(`matrix chunk size ${size}, expected ${MATRIX_HEADER_BYTES}`);
          if (rx.length < CHUNK_HEADER_BYTES + MATRIX_HEADER_BYTES) break;
          const datasize = rx.readInt32BE(CHUNK_HEADER_BYTES + H_DATASIZE);
          if (datasize < 0 || datasize > MAX_SKIPPABLE) return fail(`matrix data size ${datasize} is not plausible`);
          const total = CHUNK_HEADER_BYTES + MATRIX_HEADER_BYTES + datasize;
          if (datasize > this.maxMatrixBytes) {
            this.refuse(source, `matrix of ${datasize} bytes is larger than ${this.maxMatrixBytes}; skipped`);
            const have = Math.min(rx.length, total);
            skip = total - have;
            rx = rx.subarray(have);
            continue;
          }
          if (rx.length < total) break;
          const arrived = performance.now();
          const packet = rx.subarray(0, total);
          rx = rx.subarray(total);
          this.matrix(socket, source, packet, arrived);
        } else if (id === "JMMP" || id === "JMLP") {
          if (size < 0 || size > MAX_OTHER_CHUNK) return fail(`${id} chunk of ${size} bytes`);
          if (rx.length < CHUNK_HEADER_BYTES + size) break;
          rx = rx.subarray(CHUNK_HEADER_BYTES + size); // messages and latency packets: not for us
        } else {
          return fail(`${JSON.stringify(id)} is not a Jitter chunk id`);
        }
      }
      if (rx.length > 0) rx = Buffer.from(rx); // do not keep the whole read buffer alive
    });
    socket.on("error", () => {}); // 'close' follows
    socket.on("close", () => this.sockets.delete(socket));
  }

  private matrix(socket: Socket, source: string, packet: Buffer, arrived: number): void {
    let m: DecodedMatrix;
    try {
      m = decodeMatrixPacket(packet);
    } catch (e) {
      this.refuse(source, (e as Error).message);
      return;
    }
    this.counts.matrices++;
    // Answer as jit.net.recv does, so the sender's latency figure and flow work.
    if (!socket.destroyed) socket.write(encodeLatencyPacket(m.time, arrived, performance.now()));
    if (m.type !== JIT_TYPE.float32) return this.refuse(source, `audio matrices are float32 (jit.catch~'s output), got ${["char", "long", "float32", "float64"][m.type]}`);
    const frames = m.dim[0];
    if (!m.dim.slice(1).every((d) => d === 1)) return this.refuse(source, `audio matrices are 1-d (frames), got dim ${m.dim.join("x")}`);
    const channels = m.planecount;
    const data = channels === 1 ? m.data : planarFromInterleaved(m.data, channels, frames);
    void this.sink.pushAudio({ source, sampleRate: null, channels, data, arrival: wallClockMs() }).then((reply) => {
      if (reply.ok) return;
      this.refuse(source, String(reply.values[0]));
      // The session refuses a second sender: say so by closing its connection.
      if (/in use by/.test(String(reply.values[0]))) socket.destroy();
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Frame after frame (each frame's channels together) as channel after channel. */
function planarFromInterleaved(interleaved: Float32Array, channels: number, frames: number): Float32Array {
  const out = new Float32Array(channels * frames);
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) out[c * frames + f] = interleaved[f * channels + c];
  return out;
}
