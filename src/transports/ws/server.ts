// WebSocket control and output (browsers, TouchDesigner's WebSocket DAT), default port
// 7401 on 127.0.0.1, on an HTTP server that also serves the browser panel. Text frames
// carry a command line ("bend nnlin mask prob 0.4") or JSON {"cmd": "bend", "args": [...],
// "id": 1}; replies are JSON. Every connection is subscribed to output blocks (binary
// frames, see frame.ts) and change events until it sends "unsubscribe" (and again after
// "subscribe"); binary frames it sends are live audio input.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import type { OutputBlock, Reply } from "../../protocol/index.js";
import { reportHandlerFailure } from "../guard.js";
import { Transport, type CommandEngine } from "../transport.js";
import { encodeFrame } from "../../protocol/index.js";
import { parseInputFrame } from "./frame.js";
import { originAllowed, parseTextFrame, type ParsedRequest } from "./requests.js";

/** A client further behind than this skips blocks instead of buffering them. */
const MAX_BUFFERED = 1 << 20;
const DEFAULT_PORT = 7401;

export interface WsOptions {
  /** Browser origins allowed besides localhost pages (e.g. "https://my-show.example"). */
  allowOrigins?: string[];
  host?: string;
  port?: number;
  /** Extra HTTP routes (the browser panel). */
  http?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export class WsServer extends Transport<WebSocket> {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  /** Blocks not sent to a client that was too far behind. */
  dropped = 0;
  private nextClient = 1;

  constructor(private readonly engine: CommandEngine, options: WsOptions = {}) {
    // Every connection is a subscriber until it closes: no timeout, no limit but the OS's.
    super("ws", options.port ?? DEFAULT_PORT, engine, { max: Number.POSITIVE_INFINITY });
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
    this.listening(new Promise((resolveReady, rejectReady) => {
      this.http.once("error", rejectReady);
      this.http.listen(options.port ?? DEFAULT_PORT, options.host ?? "127.0.0.1", () => resolveReady());
    }));
    this.follow(engine, {
      block: (block, to) => this.broadcast(block, to),
      event: (reply, to) => {
        for (const socket of to) this.send(socket, { type: "event", ok: reply.ok, command: reply.command, values: reply.values });
      },
    });
  }

  protected localPort(): number | null {
    const address = this.http.address();
    return typeof address === "object" && address ? address.port : null;
  }

  protected async shutdown(): Promise<void> {
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private connect(socket: WebSocket): void {
    const source = `ws ${this.nextClient++}`;
    this.subscribers.add(source, socket);
    socket.on("error", (e) => this.log(source, e.message));
    socket.on("close", () => this.subscribers.remove(source));
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
    const [command] = request.atoms;
    if (command === "subscribe" || command === "unsubscribe") {
      if (command === "subscribe") this.subscribers.add(source, socket);
      else this.subscribers.remove(source);
      this.send(socket, { type: "reply", id: request.id, command, ok: true, values: [] });
      return;
    }
    const reply: Reply = await this.engine.execute(request.atoms);
    this.send(socket, { type: "reply", id: request.id, ...reply });
  }

  /** Live audio (see parseInputFrame). Errors: a JSON reply for command "audio_in", at most one a second. */
  private audioIn(socket: WebSocket, source: string, frame: Buffer): void {
    const refuse = (message: string) => this.throttled(source, () => this.send(socket, { type: "reply", ok: false, command: "audio_in", values: [message] }));
    const audio = parseInputFrame(frame);
    if ("problem" in audio) return refuse(audio.problem);
    const chunk = this.audioChunk(source, audio, refuse);
    if (chunk) this.pushAudio(chunk, refuse);
  }

  private send(socket: WebSocket, message: object): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  private broadcast(block: OutputBlock, to: WebSocket[]): void {
    const frame = encodeFrame(block);
    for (const socket of to) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (socket.bufferedAmount > MAX_BUFFERED) {
        this.dropped++;
        continue;
      }
      socket.send(frame, { binary: true });
    }
  }
}
