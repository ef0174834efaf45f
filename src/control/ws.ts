// WebSocket control and output (browsers, TouchDesigner's WebSocket DAT), default port
// 7401 on 127.0.0.1. Text frames carry a command line ("bend nnlin mask prob 0.4") or
// JSON {"cmd": "bend", "args": [...], "id": 1}; replies are JSON. Output blocks go out
// as binary frames: a 32-byte little-endian header, then float32 samples or pixels.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { atomsProblem, LIMITS, parseLine, type Atom } from "./atoms.js";
import { reportHandlerFailure } from "./guard.js";
import type { Engine } from "./engine.js";
import type { OutputBlock, Reply } from "./session.js";
import { ErrorThrottle, wallClockMs } from "./audio-input.js";

export const FRAME_MAGIC = "TFB1";
export const FRAME_HEADER_BYTES = 32;
/** A client further behind than this skips blocks instead of buffering them. */
const MAX_BUFFERED = 1 << 20;

/** Stream ids of the frame header. "input" is audio sent to tfbend (the method's input). */
export const STREAM_IDS = { audio: 0, image: 1, latent: 2, input: 3 } as const;

/** magic "TFB1" | stream u8 (0 audio, 1 image, 2 latent, 3 input) | 3 reserved | seq | sampleRate | frames | channels | width | height (u32 LE) | float32 LE data */
export function encodeFrame(block: OutputBlock): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + block.data.byteLength);
  out.write(FRAME_MAGIC, 0, "ascii");
  out.writeUInt8(STREAM_IDS[block.stream], 4);
  out.writeUInt32LE(block.seq >>> 0, 8);
  out.writeUInt32LE(block.sampleRate, 12);
  out.writeUInt32LE(block.frames, 16);
  out.writeUInt32LE(block.channels, 20);
  out.writeUInt32LE(block.width, 24);
  out.writeUInt32LE(block.height, 28);
  Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength).copy(out, FRAME_HEADER_BYTES);
  return out;
}

export function decodeFrame(frame: Buffer): OutputBlock {
  if (frame.length < FRAME_HEADER_BYTES || frame.toString("ascii", 0, 4) !== FRAME_MAGIC) throw new Error("not a tfbend frame");
  const bytes = frame.subarray(FRAME_HEADER_BYTES);
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return {
    stream: (["audio", "image", "latent"] as const)[frame.readUInt8(4)] ?? "image",
    seq: frame.readUInt32LE(8), sampleRate: frame.readUInt32LE(12), frames: frame.readUInt32LE(16),
    channels: frame.readUInt32LE(20), width: frame.readUInt32LE(24), height: frame.readUInt32LE(28), data,
  };
}

interface ParsedRequest {
  atoms: Atom[];
  id?: string | number;
  json: boolean;
}

/** Throws when JSON text nests arrays/objects deeper than `max` (checked before parsing). */
function checkJsonDepth(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new Error(`JSON nests deeper than ${max} levels; send {"cmd": "...", "args": [words and numbers], "id": number or string}`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** A request id echoed in the reply: only a short string or a finite number, never a structure. */
function requestId(id: unknown): string | number | undefined {
  if (id === undefined || id === null) return undefined;
  if (typeof id === "number" && Number.isFinite(id)) return id;
  if (typeof id === "string" && id.length <= LIMITS.idChars) return id;
  throw new Error(`"id" must be a number or a string of at most ${LIMITS.idChars} characters`);
}

/** A text frame as atoms: JSON {"cmd", "args", "id"} or a command line. */
export function parseTextFrame(text: string): ParsedRequest {
  if (Buffer.byteLength(text) > LIMITS.frameBytes) throw new Error(`a text frame holds at most ${LIMITS.frameBytes} bytes`);
  const trimmed = text.trim();
  if (trimmed === "") throw new Error("empty frame; send a command line or JSON {\"cmd\": \"help\"}");
  if (trimmed.startsWith("{")) {
    checkJsonDepth(trimmed, LIMITS.jsonDepth);
    let message: unknown;
    try {
      message = JSON.parse(trimmed);
    } catch (e) {
      throw new Error(`malformed JSON: ${(e as Error).message.slice(0, 120)}`);
    }
    if (message === null || typeof message !== "object" || Array.isArray(message)) throw new Error(`JSON commands look like {"cmd": "bend", "args": [...]}`);
    const { cmd, args = [], id } = message as { cmd?: unknown; args?: unknown; id?: unknown };
    if (typeof cmd !== "string") throw new Error(`JSON commands look like {"cmd": "bend", "args": [...]}`);
    const checkedId = requestId(id);
    if (!Array.isArray(args)) throw new Error("args must be a list of strings and numbers");
    const problem = atomsProblem([cmd, ...args]);
    if (problem) throw new Error(problem);
    return { atoms: [cmd, ...(args as Atom[])], id: checkedId, json: true };
  }
  const atoms = parseLine(trimmed);
  const problem = atomsProblem(atoms);
  if (problem) throw new Error(problem);
  return { atoms, json: false };
}

/** No Origin (not a browser), a page served from this machine, or one listed with --allow-origin. */
export function originAllowed(origin: string | undefined, allowed: string[]): boolean {
  if (origin === undefined || origin === "" || origin === "null") return origin !== "null";
  if (allowed.includes(origin)) return true;
  try {
    const host = new URL(origin).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
}

export interface WsOptions {
  /** Browser origins allowed besides localhost pages (e.g. "https://my-show.example"). */
  allowOrigins?: string[];
  host?: string;
  port?: number;
  /** Extra HTTP routes (the browser panel). */
  http?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export class WsServer {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly disposers: (() => void)[] = [];
  readonly ready: Promise<void>;
  dropped = 0;
  private readonly throttle = new ErrorThrottle();
  private nextClient = 1;

  constructor(private readonly engine: Engine, private readonly options: WsOptions = {}) {
    this.http = createServer((req, res) => {
      try {
        if (options.http?.(req, res)) return;
        res.writeHead(404, { "content-type": "text/plain" }).end("tfbend: WebSocket endpoint; see the README\n");
      } catch (e) {
        const message = reportHandlerFailure("http", e);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`tfbend: ${message}\n`);
      }
    });
    this.wss = new WebSocketServer({
      server: this.http,
      maxPayload: 1 << 20,
      // A web page from elsewhere must not drive the plugin through the user's browser:
      // browsers send Origin; patch clients (TouchDesigner, scripts) send none.
      verifyClient: ({ origin }: { origin?: string }) => originAllowed(origin, options.allowOrigins ?? []),
    });
    this.wss.on("connection", (socket) => this.connect(socket));
    this.ready = new Promise((resolveReady, rejectReady) => {
      this.http.once("error", rejectReady);
      this.http.listen(options.port ?? 7401, options.host ?? "127.0.0.1", () => resolveReady());
    });
    this.disposers.push(engine.onBlock((block) => this.broadcast(block)));
    this.disposers.push(engine.onChange((reply) => this.sendAll({ type: "event", ok: reply.ok, command: reply.command, values: reply.values })));
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === "object" && address ? address.port : (this.options.port ?? 7401);
  }

  private connect(socket: WebSocket): void {
    const source = `ws ${this.nextClient++}`;
    socket.on("error", (e) => console.error(`tfbend ws: ${e.message}`));
    socket.on("message", (data: RawData, isBinary: boolean) => {
      this.handle(socket, source, data, isBinary).catch((e) => {
        this.send(socket, { type: "reply", ok: false, command: "?", values: [reportHandlerFailure("ws", e)] });
      });
    });
  }

  /** One frame: a reply for every text frame, errors included (an empty one too); binary frames are audio input. */
  private async handle(socket: WebSocket, source: string, data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) {
      // Binary frames are live audio input; only refused ones are answered (at most once a second).
      this.audioIn(socket, source, Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]));
      return;
    }
    let request: ParsedRequest;
    try {
      request = parseTextFrame(data.toString());
    } catch (e) {
      this.send(socket, { type: "reply", ok: false, command: "?", values: [(e as Error).message] });
      return;
    }
    const reply: Reply = await this.engine.execute(request.atoms);
    this.send(socket, { type: "reply", id: request.id, ...reply });
  }

  /**
   * A binary frame with the output's 32-byte header and stream id 3 ("input"): live audio
   * for the running method, float32 LE, channel after channel. Errors: a JSON reply for
   * command "audio_in", at most one a second.
   */
  private audioIn(socket: WebSocket, source: string, frame: Buffer): void {
    const error = (message: string) => {
      if (this.throttle.allow(source)) this.send(socket, { type: "reply", ok: false, command: "audio_in", values: [message] });
    };
    if (frame.length < FRAME_HEADER_BYTES || frame.toString("ascii", 0, 4) !== FRAME_MAGIC) return error(`binary frames are audio input: the ${FRAME_HEADER_BYTES}-byte "${FRAME_MAGIC}" header, then float32 data`);
    if (frame.readUInt8(4) !== STREAM_IDS.input) return error(`binary frames sent to tfbend are audio input: stream id ${STREAM_IDS.input} ("input")`);
    const sampleRate = frame.readUInt32LE(12);
    const frames = frame.readUInt32LE(16);
    const channels = frame.readUInt32LE(20);
    if (channels < 1 || channels > 64) return error("audio_in: channels must be 1..64");
    if (frame.length - FRAME_HEADER_BYTES !== frames * channels * 4) return error(`audio_in: header says ${frames} frames × ${channels} channels, the frame holds ${frame.length - FRAME_HEADER_BYTES} data bytes`);
    const data = new Float32Array(frames * channels);
    for (let i = 0; i < data.length; i++) data[i] = frame.readFloatLE(FRAME_HEADER_BYTES + i * 4);
    void this.engine.pushAudio({ source, sampleRate, channels, data, arrival: wallClockMs() }).then((reply) => {
      if (!reply.ok) error(String(reply.values[0]));
    });
  }

  private send(socket: WebSocket, message: object): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  private sendAll(message: object): void {
    for (const socket of this.wss.clients) this.send(socket, message);
  }

  private broadcast(block: OutputBlock): void {
    if (this.wss.clients.size === 0) return;
    const frame = encodeFrame(block);
    for (const socket of this.wss.clients) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (socket.bufferedAmount > MAX_BUFFERED) {
        this.dropped++;
        continue;
      }
      socket.send(frame, { binary: true });
    }
  }

  async close(): Promise<void> {
    for (const d of this.disposers) d();
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}
