// WebSocket control and output (browsers, TouchDesigner's WebSocket DAT), default port
// 7401 on 127.0.0.1, on an HTTP server that also serves the browser panel. Text frames
// carry a command line ("bend nnlin mask prob 0.4") or JSON {"cmd": "bend", "args": [...],
// "id": 1}; replies are JSON. Every connection is subscribed to output blocks (binary
// frames, see frame.ts) and change events until it sends "unsubscribe" (and again after
// "subscribe"); binary frames it sends are live audio input.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import type { OutputBlock, Reply } from "../../protocol/index.js";
import { reportHandlerFailure } from "../guard.js";
import { Transport, type CommandEngine } from "../transport.js";
import { encodeFrame } from "../../protocol/index.js";
import { parseInputFrame } from "./frame.js";
import { originAllowed, parseTextFrame, type ParsedRequest } from "./requests.js";
import { limitValue } from "../limits.js";
import { ReplyRate } from "../reply-rate.js";

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
  /** Open WebSocket connections (default CLIENT_LIMITS.ws_clients); one more is refused with HTTP 503. */
  maxClients?: number;
  /** Connections still sending their HTTP request or handshake (default CLIENT_LIMITS.ws_pending_handshakes). */
  maxPendingHandshakes?: number;
  /** A connection that has not sent its whole request or handshake by then is closed (ms; default CLIENT_LIMITS.ws_handshake_ms). */
  handshakeTimeoutMs?: number;
  /** Replies per second per connection (default CLIENT_LIMITS.replies_per_second); the excess is dropped and counted. */
  repliesPerSecond?: number;
}

export class WsServer extends Transport<WebSocket> {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  /** Blocks not sent to a client that was too far behind. */
  dropped = 0;
  private nextClient = 1;
  /** Connections that have not finished their request or handshake, each with its timer. */
  private readonly pending = new Map<Duplex, NodeJS.Timeout>();
  /** Connections closed for a slow handshake, or refused over the pending or client limit. */
  refusedConnections = 0;
  private readonly replyRate: ReplyRate;

  constructor(private readonly engine: CommandEngine, options: WsOptions = {}) {
    // Every connection is a subscriber until it closes: no timeout; at most maxClients of them.
    super("ws", options.port ?? DEFAULT_PORT, engine, { max: Number.POSITIVE_INFINITY });
    const maxClients = limitValue("ws_clients", options.maxClients);
    const maxPending = limitValue("ws_pending_handshakes", options.maxPendingHandshakes);
    const handshakeMs = limitValue("ws_handshake_ms", options.handshakeTimeoutMs);
    this.replyRate = new ReplyRate(limitValue("replies_per_second", options.repliesPerSecond));
    this.declareLimits({ ws_clients: maxClients, ws_pending_handshakes: maxPending, ws_handshake_ms: handshakeMs, replies_per_second: this.replyRate.perSecond });
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
      verifyClient: ({ origin }: { origin?: string }, done: (ok: boolean, code?: number, message?: string) => void) => {
        if (!originAllowed(origin, options.allowOrigins ?? [])) return done(false, 401);
        if (this.wss.clients.size >= maxClients) {
          this.refusedConnections++;
          this.log("clients", `refused a connection: at most ${maxClients} WebSocket clients`);
          return done(false, 503, `tfbend: at most ${maxClients} WebSocket clients`);
        }
        done(true);
      },
    });
    // A connection must finish its request or handshake in time (one byte a second is not a client).
    this.http.on("connection", (socket: Duplex) => {
      if (this.pending.size >= maxPending) {
        this.refusedConnections++;
        this.log("pending", `closed a connection: ${maxPending} handshakes already pending`);
        socket.destroy();
        return;
      }
      this.pending.set(socket, setTimeout(() => {
        this.refusedConnections++;
        this.log("handshake", `closed a connection that sent no complete request in ${handshakeMs} ms`);
        socket.destroy();
      }, handshakeMs));
      socket.once("close", () => this.handshakeDone(socket));
    });
    this.http.on("request", (req: IncomingMessage) => this.handshakeDone(req.socket));
    this.http.on("upgrade", (req: IncomingMessage) => this.handshakeDone(req.socket));
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

  /** Connections still sending their request or handshake. */
  get pendingHandshakes(): number {
    return this.pending.size;
  }

  /** Replies not sent because their connection was over its replies per second. */
  get repliesDropped(): number {
    return this.replyRate.dropped;
  }

  private handshakeDone(socket: Duplex): void {
    const timer = this.pending.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.pending.delete(socket);
  }

  protected localPort(): number | null {
    const address = this.http.address();
    return typeof address === "object" && address ? address.port : null;
  }

  protected async shutdown(): Promise<void> {
    for (const socket of [...this.pending.keys()]) socket.destroy();
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private connect(socket: WebSocket): void {
    const source = `ws ${this.nextClient++}`;
    this.subscribers.add(source, socket);
    socket.on("error", (e) => this.log(source, e.message));
    socket.on("close", () => {
      this.subscribers.remove(source);
      this.replyRate.forget(source);
    });
    socket.on("message", (data: RawData, isBinary: boolean) => {
      this.handle(socket, source, data, isBinary).catch((e) => {
        this.reply(socket, source, { type: "reply", ok: false, command: "?", values: [reportHandlerFailure("ws", e)] });
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
      this.reply(socket, source, { type: "reply", ok: false, command: "?", values: [(e as Error).message] });
      return;
    }
    const [command] = request.atoms;
    if (command === "subscribe" || command === "unsubscribe") {
      if (command === "subscribe") this.subscribers.add(source, socket);
      else this.subscribers.remove(source);
      this.reply(socket, source, { type: "reply", id: request.id, command, ok: true, values: [] });
      return;
    }
    const reply: Reply = await this.engine.execute(request.atoms);
    this.reply(socket, source, { type: "reply", id: request.id, ...reply });
  }

  /** Live audio (see parseInputFrame). Errors: a JSON reply for command "audio_in", at most one a second. */
  private audioIn(socket: WebSocket, source: string, frame: Buffer): void {
    const refuse = (message: string) => this.throttled(source, () => this.send(socket, { type: "reply", ok: false, command: "audio_in", values: [message] }));
    const audio = parseInputFrame(frame);
    if ("problem" in audio) return refuse(audio.problem);
    const chunk = this.audioChunk(source, audio, refuse);
    if (chunk) this.pushAudio(chunk, refuse);
  }

  /** A reply, unless its connection is over its replies per second or not reading them (then dropped and counted). */
  private reply(socket: WebSocket, source: string, message: object): void {
    if (socket.bufferedAmount > MAX_BUFFERED) {
      // A client that does not read its replies: they are not queued for it without bound.
      this.replyRate.dropped++;
      this.log(`rate ${source}`, `${source}: not reading its replies; replies dropped (${this.replyRate.dropped} in all)`);
    } else if (this.replyRate.take(source)) this.send(socket, message);
    else this.log(`rate ${source}`, `${source}: over ${this.replyRate.perSecond} replies a second; replies dropped (${this.replyRate.dropped} in all)`);
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
