// tfbend as jit.net.send: streams output blocks as float32 matrices to a Max patch's
// [jit.net.recv @port 7474] (audio → [jit.release~], images → [jit.pwindow]).
// jit.net.recv listens; like jit.net.send we are the TCP client and keep reconnecting
// until it is there. Protocol notes and sources: docs/jitter-protocol.md.
import { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { OutputBlock } from "../../protocol/index.js";
import { CHUNK_HEADER_BYTES, encodeMatrixPacket, MATRIX_HEADER_BYTES, matrixShape } from "./matrix.js";

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
