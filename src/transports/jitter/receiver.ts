// tfbend as jit.net.recv: live audio from a patch's [adc~] → [jit.catch~] →
// [jit.net.send @port 7476]. Each connection's bytes go through a JitterChunkParser;
// each matrix is answered with a JMLP latency packet, checked, and handed to the engine.
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Transport, type AudioSink } from "../transport.js";
import { decodeMatrixPacket, encodeLatencyPacket, JIT_TYPE, planarFromInterleaved, type DecodedMatrix } from "./matrix.js";
import { JitterChunkParser } from "./parser.js";
import { limitValue } from "../limits.js";

export interface JitterReceiverOptions {
  host?: string;
  /** jit.net.recv's port for the patch's [jit.net.send]; default 7476. */
  port?: number;
  /** Matrices with more data than this are skipped and counted (default 1 MiB: 262,144 float32 samples). */
  maxMatrixBytes?: number;
  /** Connections at once (default CLIENT_LIMITS.jitter_connections); one more is closed. */
  maxConnections?: number;
  /** A connection that sends nothing for this long is closed (ms; default CLIENT_LIMITS.jitter_idle_ms). */
  idleTimeoutMs?: number;
}

export interface JitterReceiverStats {
  connections: number;
  matrices: number;
  /** Matrices refused: not float32, not 1-d, wrong plane count, oversized, or refused by the session. */
  refused: number;
  /** Connections closed for bytes that are not the Jitter protocol. */
  protocolErrors: number;
  /** Connections closed over the connection limit or for sending nothing for the idle timeout. */
  closedByLimits: number;
  lastError: string | null;
}

const DEFAULT_PORT = 7476;
const TYPE_NAMES = ["char", "long", "float32", "float64"];

/**
 * Matrices are float32, one plane per channel, 1-d (or N × 1), any length (the session
 * cuts them into the method's blocks). Bad matrices are skipped and counted; bytes that
 * are not the protocol close that connection; the server keeps listening.
 */
export class JitterReceiver extends Transport {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly maxMatrixBytes: number;
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private counts: JitterReceiverStats = { connections: 0, matrices: 0, refused: 0, protocolErrors: 0, closedByLimits: 0, lastError: null };

  constructor(sink: AudioSink, options: JitterReceiverOptions = {}) {
    super("jitter-in", options.port ?? DEFAULT_PORT, sink);
    this.maxMatrixBytes = options.maxMatrixBytes ?? 1 << 20;
    this.maxConnections = limitValue("jitter_connections", options.maxConnections);
    this.idleTimeoutMs = limitValue("jitter_idle_ms", options.idleTimeoutMs);
    this.declareLimits({ jitter_connections: this.maxConnections, jitter_idle_ms: this.idleTimeoutMs });
    this.server = createServer((socket) => this.connect(socket));
    this.listening(new Promise((resolveReady, rejectReady) => {
      this.server.once("error", rejectReady);
      this.server.listen(options.port ?? DEFAULT_PORT, options.host ?? "127.0.0.1", () => resolveReady());
    }));
  }

  stats(): JitterReceiverStats {
    return { ...this.counts };
  }

  protected localPort(): number | null {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : null;
  }

  protected async shutdown(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private refuse(source: string, message: string): void {
    this.counts.refused++;
    this.counts.lastError = message;
    this.log(source, `${source}: ${message}`);
  }

  private closedByLimits(source: string, message: string): void {
    this.counts.closedByLimits++;
    this.counts.lastError = message;
    this.log("limits", `${source}: ${message}`);
  }

  private connect(socket: Socket): void {
    const source = `jitter ${socket.remoteAddress}:${socket.remotePort}`;
    if (this.sockets.size >= this.maxConnections) {
      this.closedByLimits(source, `at most ${this.maxConnections} Jitter connections; closing this one`);
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    if (this.idleTimeoutMs !== Infinity) {
      socket.setTimeout(this.idleTimeoutMs, () => {
        this.closedByLimits(source, `sent nothing for ${this.idleTimeoutMs} ms; closing the connection`);
        socket.destroy();
      });
    }
    this.counts.connections++;
    socket.setNoDelay(true);
    const parser = new JitterChunkParser({
      matrix: (packet, arrived) => this.matrix(socket, source, packet, arrived),
      oversized: (datasize) => this.refuse(source, `matrix of ${datasize} bytes is larger than ${this.maxMatrixBytes}; skipped`),
      protocolError: (message) => {
        this.counts.protocolErrors++;
        this.counts.lastError = message;
        this.log(source, `${source}: ${message}; closing the connection`);
        socket.destroy();
      },
    }, this.maxMatrixBytes);
    socket.on("data", (data: Buffer) => parser.write(data));
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
    if (m.type !== JIT_TYPE.float32) return this.refuse(source, `matrices are float32 (jit.catch~'s or jit.buffer~'s output), got ${TYPE_NAMES[m.type]}`);
    const frames = m.dim[0];
    if (!m.dim.slice(1).every((d) => d === 1)) return this.refuse(source, `audio matrices are 1-d (frames), got dim ${m.dim.join("x")}`);
    const channels = m.planecount;
    const data = channels === 1 ? m.data : planarFromInterleaved(m.data, channels, frames);
    const refuse = (message: string) => {
      this.refuse(source, message);
      // The session refuses a second sender: say so by closing its connection.
      if (/in use by/.test(message)) socket.destroy();
    };
    const chunk = this.audioChunk(source, { sampleRate: null, channels, data }, refuse);
    // the session's `matrix` route may send it to a buffer or tensor attribute instead of live audio
    if (chunk) this.pushAudio({ ...chunk, matrix: true }, refuse);
  }
}
