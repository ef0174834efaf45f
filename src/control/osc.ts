// OSC over UDP (TouchDesigner, SuperCollider, Pd): /tfbend/<command> with the atoms as
// arguments; replies /tfbend/ok or /tfbend/error [command, ...values] to the sender (or
// a configured host:port). Numbers go out as OSC floats ('f'), never silently as ints.
// Output blocks go to every client that sent "stream start" (or "subscribe"), as blobs
// chunked under the UDP datagram limit.
import osc from "osc";
import { quoted, type Atom } from "./atoms.js";
import { reportHandlerFailure } from "./guard.js";
import type { Engine } from "./engine.js";
import type { OutputBlock, Reply } from "./session.js";
import { ChunkSequencer, ErrorThrottle, wallClockMs, type AudioChunk } from "./audio-input.js";

interface OscArg {
  type: string;
  value: unknown;
}

interface OscMessage {
  address: string;
  args: OscArg[];
}

interface RemoteInfo {
  address: string;
  port: number;
}

interface UdpPort {
  on(event: "message", fn: (message: OscMessage, timeTag: unknown, info: RemoteInfo) => void): void;
  on(event: "ready", fn: () => void): void;
  on(event: "error", fn: (error: Error) => void): void;
  on(event: "raw", fn: (data: Uint8Array, info: RemoteInfo) => void): void;
  on(event: "osc", fn: () => void): void;
  open(): void;
  close(): void;
  socket?: { address(): { port: number } };
  send(packet: { address: string; args: OscArg[] }, address: string, port: number): void;
}

export interface OscOptions {
  host?: string;
  port?: number;
  /** Send replies here instead of to the sender. */
  replyTo?: { host: string; port: number };
  /** Samples per audio blob (4 bytes each), kept well under the datagram limit. */
  chunk?: number;
}

export const OSC_PREFIX = "/tfbend/";

export function toOscArgs(values: Atom[]): OscArg[] {
  return values.map((v) => (typeof v === "number" ? { type: "f", value: v } : { type: "s", value: v }));
}

/** Atoms from OSC arguments; anything else (blobs, nil, arrays) is refused. */
function fromOscArgs(args: OscArg[]): Atom[] {
  return args.map((a) => {
    if (a.type === "f" || a.type === "i" || a.type === "d") return Number(a.value);
    if (a.type === "h") {
      // osc.js reads 64-bit integers as {high, low} (Long)
      const long = a.value as { high?: unknown; low?: unknown };
      return typeof long.high === "number" && typeof long.low === "number" ? long.high * 2 ** 32 + (long.low >>> 0) : Number(a.value);
    }
    if (a.type === "s" || a.type === "S" || a.type === "c") return String(a.value);
    if (a.type === "T") return 1;
    if (a.type === "F") return 0;
    throw new Error(`OSC argument type '${a.type}' is not an atom`);
  });
}

/** What a sender of an undecodable packet is told. */
const MALFORMED_REPLY =
  "malformed OSC packet: send an OSC message '/tfbend/<command>' whose type tags (,s ,f ,i ,b ...) match its arguments, each complete and 4-byte aligned";

export class OscServer {
  private readonly port: UdpPort;
  private readonly subscribers = new Map<string, RemoteInfo>();
  private readonly disposers: (() => void)[] = [];
  /** /tfbend/audio_in chunks per sender, put back in sequence order. */
  private readonly sequencers = new Map<string, ChunkSequencer<AudioChunk>>();
  private readonly throttle = new ErrorThrottle();
  readonly ready: Promise<void>;

  constructor(private readonly engine: Engine, private readonly options: OscOptions = {}) {
    const udp = new osc.UDPPort({
      localAddress: options.host ?? "127.0.0.1",
      localPort: options.port ?? 7400,
      metadata: true,
    }) as unknown as UdpPort;
    this.port = udp;
    this.ready = new Promise((resolveReady) => udp.on("ready", () => resolveReady()));
    udp.on("message", (message, _time, info) => {
      this.handle(message, info).catch((e) => this.reply({ command: "?", ok: false, values: [reportHandlerFailure("osc", e)] }, info));
    });
    // osc.js announces every datagram ("raw", with its sender) before decoding it, then
    // either "osc" (decoded) or "error" (malformed): the error goes back to that sender.
    let undecodedFrom: RemoteInfo | null = null;
    udp.on("raw", (_data, info) => (undecodedFrom = info));
    udp.on("osc", () => (undecodedFrom = null));
    // Malformed or truncated packets: the server keeps serving; the log says so at most
    // once a second, so a flood of garbage cannot flood the log.
    let lastLog = 0;
    let suppressed = 0;
    udp.on("error", (error) => {
      const from = undecodedFrom;
      undecodedFrom = null;
      // The reply never quotes the packet or the decoder's internals (they may echo the bytes).
      if (from) this.reply({ command: "?", ok: false, values: [MALFORMED_REPLY] }, from);
      const now = Date.now();
      if (now - lastLog < 1000) {
        suppressed++;
        return;
      }
      const more = suppressed ? ` (+${suppressed} more)` : "";
      console.error(`tfbend osc: ${from ? "ignored a malformed packet" : "socket error"}: ${error.message.slice(0, 120)}${more}`);
      lastLog = now;
      suppressed = 0;
    });
    udp.open();
    this.disposers.push(engine.onBlock((block) => this.broadcast(block)));
    this.disposers.push(engine.onChange((reply) => this.announce(reply)));
  }

  /** The UDP port actually bound (useful with port 0). */
  get boundPort(): number {
    return this.port.socket?.address().port ?? this.options.port ?? 7400;
  }

  private target(info: RemoteInfo): RemoteInfo {
    return this.options.replyTo ? { address: this.options.replyTo.host, port: this.options.replyTo.port } : info;
  }

  private send(address: string, values: Atom[] | OscArg[], to: RemoteInfo): void {
    const args = values.length > 0 && typeof values[0] === "object" ? (values as OscArg[]) : toOscArgs(values as Atom[]);
    try {
      this.port.send({ address, args }, to.address, to.port);
    } catch (e) {
      console.error(`tfbend osc: cannot send to ${to.address}:${to.port}: ${(e as Error).message}`);
    }
  }

  private reply(reply: Reply, to: RemoteInfo): void {
    this.send(`${OSC_PREFIX}${reply.ok ? "ok" : "error"}`, [reply.command, ...reply.values], this.target(to));
  }

  private async handle(message: OscMessage, info: RemoteInfo): Promise<void> {
    const command = message.address.startsWith(OSC_PREFIX) ? message.address.slice(OSC_PREFIX.length) : "";
    if (!command || command.includes("/")) {
      this.reply({ command: quoted(message.address, 40), ok: false, values: [`OSC addresses are ${OSC_PREFIX}<command>`] }, info);
      return;
    }
    if (command === "audio_in") return this.audioIn(message.args ?? [], info);
    let atoms: Atom[];
    try {
      atoms = fromOscArgs(message.args ?? []);
    } catch (e) {
      this.reply({ command, ok: false, values: [(e as Error).message] }, info);
      return;
    }
    const key = `${info.address}:${info.port}`;
    if (command === "subscribe" || command === "unsubscribe") {
      if (command === "subscribe") this.subscribers.set(key, this.target(info));
      else this.subscribers.delete(key);
      this.reply({ command, ok: true, values: [] }, info);
      return;
    }
    const reply = await this.engine.execute([command, ...atoms]);
    if (reply.ok && (command === "stream" || command === "enable")) {
      if (atoms[0] === "start" || atoms[0] === 1) this.subscribers.set(key, this.target(info));
    }
    this.reply(reply, info);
  }

  /**
   * /tfbend/audio_in <seq> <sample_rate> <blob of float32 LE> [channels]: live audio for the
   * running method, in numbered chunks (channel after channel when there are several); or
   * <seq> <sample_rate> <sample> <sample>...: mono samples as numbers.
   * Errors go back as /tfbend/error audio_in <message>, at most one a second.
   */
  private audioIn(args: OscArg[], info: RemoteInfo): void {
    const key = `${info.address}:${info.port}`;
    const error = (message: string) => {
      if (this.throttle.allow(key)) this.reply({ command: "audio_in", ok: false, values: [message] }, info);
    };
    const [seqArg, rateArg, blobArg, channelsArg] = args;
    const numeric = (a: OscArg | undefined) => (a && ["i", "f", "d", "h"].includes(a.type) ? Number(a.value) : NaN);
    const seq = numeric(seqArg);
    const sampleRate = numeric(rateArg);
    // Pd's [oscformat] and sclang send no float blobs easily: mono samples as plain floats also work.
    const floats = blobArg !== undefined && blobArg.type !== "b";
    const channels = channelsArg === undefined || floats ? 1 : numeric(channelsArg);
    if (!Number.isInteger(seq) || seq < 0) return error("usage: /tfbend/audio_in <seq> <sample_rate> <blob of float32 LE> [channels]; seq is a whole number");
    if (!(sampleRate > 0)) return error("audio_in: sample rate must be a positive number");
    if (!Number.isInteger(channels) || channels < 1 || channels > 64) return error("audio_in: channels must be 1..64");
    let data: Float32Array;
    if (floats) {
      const samples = args.slice(2).map(numeric);
      if (samples.some((v) => Number.isNaN(v))) return error("audio_in: after <seq> <sample_rate> come a blob or numbers (mono samples)");
      data = Float32Array.from(samples);
    } else {
      if (!blobArg || !(blobArg.value instanceof Uint8Array)) return error("audio_in: the third argument is a blob of float32 little-endian samples (or the samples as numbers)");
      const bytes = blobArg.value;
      if (bytes.byteLength % (4 * channels) !== 0) return error(`audio_in: blob of ${bytes.byteLength} bytes is not whole float32 frames of ${channels} channels`);
      data = new Float32Array(bytes.byteLength / 4);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
    }
    const source = `osc ${key}`;
    let sequencer = this.sequencers.get(key);
    if (!sequencer) {
      if (this.sequencers.size > 64) this.sequencers.clear();
      this.sequencers.set(key, (sequencer = new ChunkSequencer<AudioChunk>()));
    }
    const arrival = wallClockMs();
    const chunk: AudioChunk = { source, sampleRate, channels, data, arrival };
    const silence = (length: number): AudioChunk => ({ source, sampleRate, channels, data: new Float32Array(length), arrival });
    for (const ready of sequencer.accept(seq, chunk, silence)) {
      void this.engine.pushAudio(ready).then((reply) => {
        if (!reply.ok) error(String(reply.values[0]));
      });
    }
  }

  /** Chunks lost or out of order on OSC audio input, over every sender. */
  audioInStats(): { missing: number; late: number } {
    let missing = 0;
    let late = 0;
    for (const s of this.sequencers.values()) {
      missing += s.missing;
      late += s.late;
    }
    return { missing, late };
  }

  private announce(reply: Reply): void {
    const address = `${OSC_PREFIX}${reply.ok ? "event" : "error"}`;
    for (const to of this.subscribers.values()) this.send(address, [reply.command, ...reply.values], to);
  }

  /** Audio: /tfbend/audio [seq, sampleRate, offset, total, blob]; latent: /tfbend/latent [seq, channels, frames, floats (channel after channel)...]; image: /tfbend/image [seq, w, h, row, blob of one row]. */
  private broadcast(block: OutputBlock): void {
    if (this.subscribers.size === 0) return;
    const bytes = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
    // Float32Array memory is little-endian on every platform Node runs on: blobs are LE float32.
    for (const to of this.subscribers.values()) {
      if (block.stream === "audio") {
        const chunk = this.options.chunk ?? 1024;
        for (let offset = 0; offset < block.frames; offset += chunk) {
          const n = Math.min(chunk, block.frames - offset);
          this.send(`${OSC_PREFIX}audio`, [
            { type: "i", value: block.seq }, { type: "i", value: block.sampleRate }, { type: "i", value: offset },
            { type: "i", value: block.frames }, { type: "b", value: bytes.subarray(offset * 4, (offset + n) * 4) },
          ], to);
        }
      } else if (block.stream === "latent") {
        // Latent frames (encode) as control data: one message per block, plain OSC floats.
        this.send(`${OSC_PREFIX}latent`, [
          { type: "i", value: block.seq }, { type: "i", value: block.channels }, { type: "i", value: block.frames },
          ...Array.from(block.data, (v) => ({ type: "f", value: v })),
        ], to);
      } else {
        const rowBytes = block.width * 3 * 4;
        for (let row = 0; row < block.height; row++) {
          this.send(`${OSC_PREFIX}image`, [
            { type: "i", value: block.seq }, { type: "i", value: block.width }, { type: "i", value: block.height },
            { type: "i", value: row }, { type: "b", value: bytes.subarray(row * rowBytes, (row + 1) * rowBytes) },
          ], to);
        }
      }
    }
  }

  close(): void {
    for (const d of this.disposers) d();
    this.port.close();
  }
}
