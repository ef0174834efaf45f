// The panel's WebSocket client: commands as JSON {cmd, args, id} with replies matched by
// id, events (state changes from any transport) and binary output blocks.
import { decodeFrame, FrameError, isQuery, type Atom, type EventMessage, type OutputBlock, type ReplyMessage } from "../../src/protocol/index.js";

export type { Atom } from "../../src/protocol/index.js";
export type Reply = ReplyMessage;
/** A change made by any client (ok true), or an error nobody asked for (ok false: the stream stopped). */
export type ChangeEvent = EventMessage;
export type Block = OutputBlock;

/** A binary frame from the plugin as an output block (the protocol's decoder); null for anything else. */
export function decodeBlock(buffer: ArrayBuffer): Block | null {
  try {
    const frame = decodeFrame(buffer);
    return frame.stream === "input" ? null : { ...frame, stream: frame.stream };
  } catch (e) {
    if (e instanceof FrameError) return null;
    throw e;
  }
}

type Listener<T> = (value: T) => void;

export class Client {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly listeners = {
    event: new Set<Listener<ChangeEvent>>(),
    block: new Set<Listener<Block>>(),
    open: new Set<Listener<void>>(),
    close: new Set<Listener<void>>(),
    sent: new Set<Listener<{ atoms: Atom[] }>>(),
    failed: new Set<Listener<{ reply: Reply; quiet: boolean }>>(),
  };
  connected = false;

  constructor(private readonly url: string) {}

  connect(): void {
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.connected = true;
      for (const l of this.listeners.open) l();
    };
    ws.onclose = () => {
      const wasConnected = this.connected;
      this.connected = false;
      for (const resolve of this.pending.values()) resolve({ type: "reply", ok: false, command: "?", values: ["connection closed"] });
      this.pending.clear();
      if (wasConnected) for (const l of this.listeners.close) l();
      window.setTimeout(() => this.connect(), 1000);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (e.data instanceof ArrayBuffer) {
        const block = decodeBlock(e.data);
        if (block) for (const l of this.listeners.block) l(block);
        return;
      }
      let message: Reply | ChangeEvent;
      try {
        message = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (message.type === "event") {
        for (const l of this.listeners.event) l(message);
        return;
      }
      if (message.type === "reply") {
        const id = typeof message.id === "number" ? message.id : undefined;
        const resolve = id === undefined ? undefined : this.pending.get(id);
        if (resolve && id !== undefined) {
          this.pending.delete(id);
          resolve(message);
        }
      }
    };
  }

  on(kind: "event", l: Listener<ChangeEvent>): void;
  on(kind: "block", l: Listener<Block>): void;
  on(kind: "open" | "close", l: Listener<void>): void;
  on(kind: "sent", l: Listener<{ atoms: Atom[] }>): void;
  on(kind: "failed", l: Listener<{ reply: Reply; quiet: boolean }>): void;
  on(kind: keyof Client["listeners"], l: Listener<never>): void {
    (this.listeners[kind] as Set<Listener<never>>).add(l);
  }

  /** Sends a binary frame (live audio input); false when not connected or the socket is backed up. */
  sendBinary(data: ArrayBuffer): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 1 << 20) return false;
    ws.send(data);
    return true;
  }

  /** Sends one command of the table; resolves with its reply (ok or not), never rejects. */
  command(cmd: string, ...args: Atom[]): Promise<Reply> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.resolve({ type: "reply", ok: false, command: cmd, values: ["not connected"] });
    }
    const id = this.nextId++;
    // Queries (the panel's polling among them) are not logged; what changes something is.
    const quiet = isQuery(cmd, args);
    if (!quiet) for (const l of this.listeners.sent) l({ atoms: [cmd, ...args] });
    return new Promise((resolve) => {
      this.pending.set(id, (reply) => {
        if (!reply.ok && reply.values[0] !== "connection closed") for (const l of this.listeners.failed) l({ reply, quiet });
        resolve(reply);
      });
      ws.send(JSON.stringify({ cmd, args, id }));
    });
  }
}
