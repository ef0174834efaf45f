// The panel's WebSocket client: commands as JSON {cmd, args, id} with replies matched by
// id, events (state changes from any transport) and binary output blocks.
export type Atom = string | number;

export interface Reply {
  type: "reply";
  id?: number;
  ok: boolean;
  command: string;
  values: Atom[];
  dict?: unknown;
}

export interface ChangeEvent {
  type: "event";
  /** false: an error nobody asked for (the stream stopped); absent or true: a change. */
  ok?: boolean;
  command: string;
  values: Atom[];
}

export interface Block {
  stream: "audio" | "image";
  seq: number;
  sampleRate: number;
  frames: number;
  channels: number;
  width: number;
  height: number;
  data: Float32Array;
}

const HEADER = 32;

/** A binary frame: "TFB1", stream u8, 3 reserved, then seq, rate, frames, channels, width, height (u32 LE), float32 LE data. */
export function decodeFrame(buffer: ArrayBuffer): Block | null {
  if (buffer.byteLength < HEADER) return null;
  const view = new DataView(buffer);
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== "TFB1") return null;
  const count = (buffer.byteLength - HEADER) >> 2;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(HEADER + i * 4, true);
  return {
    stream: view.getUint8(4) === 0 ? "audio" : "image",
    seq: view.getUint32(8, true), sampleRate: view.getUint32(12, true), frames: view.getUint32(16, true),
    channels: view.getUint32(20, true), width: view.getUint32(24, true), height: view.getUint32(28, true), data,
  };
}

type Listener<T> = (value: T) => void;

/** Commands the panel sends on its own (polling); not logged. */
const QUIET = new Set(["status", "peek", "state", "graph", "weights", "weightstats", "histogram", "bendings", "controls", "versions", "callbacks", "models", "get"]);

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
        const block = decodeFrame(e.data);
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
        const resolve = message.id === undefined ? undefined : this.pending.get(message.id);
        if (resolve && message.id !== undefined) {
          this.pending.delete(message.id);
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
    if (!QUIET.has(cmd)) for (const l of this.listeners.sent) l({ atoms: [cmd, ...args] });
    return new Promise((resolve) => {
      this.pending.set(id, (reply) => {
        if (!reply.ok && reply.values[0] !== "connection closed") for (const l of this.listeners.failed) l({ reply, quiet: QUIET.has(cmd) });
        resolve(reply);
      });
      ws.send(JSON.stringify({ cmd, args, id }));
    });
  }
}
