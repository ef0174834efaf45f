// OSC over UDP (TouchDesigner, SuperCollider, Pd): /tfbend/<command> with the atoms as
// arguments; replies /tfbend/ok or /tfbend/error [command, ...values] to the sender (or
// to a configured host:port). Output blocks and change events go to the subscribers:
// one per reply destination, added by "stream start" / "enable 1" / "subscribe", removed
// by "stream stop" / "enable 0" / "unsubscribe" from that destination, or once it has
// been silent for the timeout. Audio goes out as blobs under the UDP datagram limit.
import osc from "osc";
import { quoted, type Atom } from "../../protocol/index.js";
import type { OutputBlock, Reply } from "../../protocol/index.js";
import { reportHandlerFailure } from "../guard.js";
import { Transport, type CommandEngine } from "../transport.js";
import { fromOscArgs, OSC_PREFIX, toOscArgs, type OscArg, type OscMessage } from "./args.js";
import { parseOscAudioIn } from "./audio-in.js";
import { DATA_COMMANDS, parseOscData } from "./data-in.js";
import { ChunkSequencer } from "./sequencer.js";
import type { AudioChunk } from "../../control/audio-input.js";
import { limitValue } from "../limits.js";
import { ReplyRate } from "../reply-rate.js";

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
  /** Send replies (and blocks, and events) here instead of to the sender. */
  replyTo?: { host: string; port: number };
  /** Samples per audio blob (4 bytes each), kept well under the datagram limit. */
  chunk?: number;
  /**
   * A subscriber not heard from for this long (no message from its reply destination) is
   * dropped. Long by default: a patch may only listen for a whole set.
   */
  subscriberTimeoutMs?: number;
  /** Milliseconds for the subscribers' timeout (default Date.now). */
  clock?: () => number;
  /** Reply destinations following blocks (default CLIENT_LIMITS.osc_subscribers); one more drops the one silent longest. */
  maxSubscribers?: number;
  /** Commands one datagram (a bundle) may carry (default CLIENT_LIMITS.osc_commands_per_datagram); the rest are refused with one error. */
  maxCommandsPerDatagram?: number;
  /** Replies per second per reply address (default CLIENT_LIMITS.replies_per_second); the excess is dropped and counted. */
  repliesPerSecond?: number;
  /** The largest blob /tfbend/buffer and /tfbend/tensor take (bytes; default 1 MiB, as the Jitter receiver's largest matrix). */
  maxDataBytes?: number;
}

/** An hour: longer than a patch that only listens stays silent in a set, short enough to forget clients that left. */
export const DEFAULT_SUBSCRIBER_TIMEOUT_MS = 60 * 60 * 1000;

/** What a sender of an undecodable packet is told. */
const MALFORMED_REPLY =
  "malformed OSC packet: send an OSC message '/tfbend/<command>' whose type tags (,s ,f ,i ,b ...) match its arguments, each complete and 4-byte aligned";

const DEFAULT_PORT = 7400;

/** Whether a command started (true) or stopped (false) the stream, or neither (null): read from its reply, which says which it did ("stream start", "enable 1"). */
function streamSwitch(reply: Reply): boolean | null {
  if (!reply.ok || (reply.command !== "stream" && reply.command !== "enable")) return null;
  const [done] = reply.values;
  return done === "start" || done === 1 ? true : done === "stop" || done === 0 ? false : null;
}

const key = (to: RemoteInfo) => `${to.address}:${to.port}`;

export class OscServer extends Transport<RemoteInfo> {
  private readonly udp: UdpPort;
  /** /tfbend/audio_in chunks per sender, put back in sequence order. */
  private readonly sequencers = new Map<string, ChunkSequencer<AudioChunk>>();
  private readonly replyRate: ReplyRate;
  /** Commands refused for coming in a datagram past the limit. */
  commandsRefused = 0;

  constructor(private readonly engine: CommandEngine, private readonly options: OscOptions = {}) {
    const maxSubscribers = limitValue("osc_subscribers", options.maxSubscribers);
    super("osc", options.port ?? DEFAULT_PORT, engine, { timeoutMs: options.subscriberTimeoutMs ?? DEFAULT_SUBSCRIBER_TIMEOUT_MS, clock: options.clock, max: maxSubscribers });
    const maxCommands = limitValue("osc_commands_per_datagram", options.maxCommandsPerDatagram);
    this.replyRate = new ReplyRate(limitValue("replies_per_second", options.repliesPerSecond));
    this.declareLimits({ osc_subscribers: maxSubscribers, osc_commands_per_datagram: maxCommands, replies_per_second: this.replyRate.perSecond });
    const udp = new osc.UDPPort({
      localAddress: options.host ?? "127.0.0.1",
      localPort: options.port ?? DEFAULT_PORT,
      metadata: true,
    }) as unknown as UdpPort;
    this.udp = udp;
    this.listening(new Promise((resolveReady) => udp.on("ready", () => resolveReady())));
    // osc.js announces every datagram ("raw", with its sender) before decoding it, then
    // either "osc" (decoded) or "error" (malformed): the error goes back to that sender.
    // A bundle's messages follow its "raw" one by one: past the limit they are refused.
    let undecodedFrom: RemoteInfo | null = null;
    let inDatagram = 0;
    udp.on("raw", (_data, info) => {
      undecodedFrom = info;
      inDatagram = 0;
    });
    udp.on("message", (message, _time, info) => {
      if (++inDatagram > maxCommands) {
        this.commandsRefused++;
        if (inDatagram === maxCommands + 1) this.reply({ command: "?", ok: false, values: [`a datagram may carry at most ${maxCommands} commands; the rest of this one were refused`] }, info);
        return;
      }
      this.handle(message, info).catch((e) => this.reply({ command: "?", ok: false, values: [reportHandlerFailure("osc", e)] }, info));
    });
    udp.on("osc", () => (undecodedFrom = null));
    // Malformed or truncated packets: the server keeps serving, and says so in the log
    // at most once a second.
    udp.on("error", (error) => {
      const from = undecodedFrom;
      undecodedFrom = null;
      // The reply never quotes the packet or the decoder's internals (they may echo the bytes).
      if (from) this.reply({ command: "?", ok: false, values: [MALFORMED_REPLY] }, from);
      this.log("socket", `${from ? "ignored a malformed packet" : "socket error"}: ${error.message.slice(0, 120)}`);
    });
    udp.open();
    this.follow(engine, { block: (block, to) => this.broadcast(block, to), event: (reply, to) => this.announce(reply, to) });
  }

  /** Subscribed reply destinations ("host:port"), for status and tests. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  protected localPort(): number | null {
    return this.udp.socket?.address().port ?? null;
  }

  protected async shutdown(): Promise<void> {
    this.udp.close();
  }

  /** Where replies to a message from `info` go. */
  private target(info: RemoteInfo): RemoteInfo {
    return this.options.replyTo ? { address: this.options.replyTo.host, port: this.options.replyTo.port } : info;
  }

  private send(address: string, args: OscArg[], to: RemoteInfo): void {
    try {
      this.udp.send({ address, args }, to.address, to.port);
    } catch (e) {
      this.log(`send ${key(to)}`, `cannot send to ${key(to)}: ${(e as Error).message}`);
    }
  }

  /** Replies not sent because their address was over its replies per second. */
  get repliesDropped(): number {
    return this.replyRate.dropped;
  }

  /** A reply, unless its address is over its replies per second (then dropped and counted, never queued). */
  private reply(reply: Reply, to: RemoteInfo): void {
    const destination = this.target(to);
    if (!this.replyRate.take(key(destination))) {
      this.log(`rate ${key(destination)}`, `${key(destination)}: over ${this.replyRate.perSecond} replies a second; replies dropped (${this.replyRate.dropped} in all)`);
      return;
    }
    this.send(`${OSC_PREFIX}${reply.ok ? "ok" : "error"}`, toOscArgs([reply.command, ...reply.values]), this.target(to));
  }

  private async handle(message: OscMessage, info: RemoteInfo): Promise<void> {
    const destination = this.target(info);
    this.subscribers.heardFrom(key(destination));
    const command = message.address.startsWith(OSC_PREFIX) ? message.address.slice(OSC_PREFIX.length) : "";
    if (!command || command.includes("/")) {
      this.reply({ command: quoted(message.address, 40), ok: false, values: [`OSC addresses are ${OSC_PREFIX}<command>`] }, info);
      return;
    }
    if (command === "audio_in") return this.audioIn(message.args ?? [], info);
    if (DATA_COMMANDS.has(command) && (message.args ?? []).some((a) => a.type === "b")) {
      const parsed = parseOscData(command, message.args, this.options.maxDataBytes);
      const reply = "problem" in parsed ? { command, ok: false, values: [parsed.problem] } : await this.engine.execute(parsed.atoms, parsed.data);
      this.reply(reply, info);
      return;
    }
    let atoms: Atom[];
    try {
      atoms = fromOscArgs(message.args ?? []);
    } catch (e) {
      this.reply({ command, ok: false, values: [(e as Error).message] }, info);
      return;
    }
    if (command === "subscribe" || command === "unsubscribe") {
      if (command === "subscribe") this.subscribers.add(key(destination), destination);
      else this.subscribers.remove(key(destination));
      this.reply({ command, ok: true, values: [] }, info);
      return;
    }
    const reply = await this.engine.execute([command, ...atoms]);
    const streaming = streamSwitch(reply);
    if (streaming === true) this.subscribers.add(key(destination), destination);
    if (streaming === false) this.subscribers.remove(key(destination));
    this.reply(reply, info);
  }

  /**
   * /tfbend/audio_in: live audio for the running method, in numbered chunks (see
   * audio-in.ts). Errors go back as /tfbend/error audio_in <message>, at most one a second.
   */
  private audioIn(args: OscArg[], info: RemoteInfo): void {
    const sender = key(info);
    const refuse = (message: string) => this.throttled(sender, () => this.reply({ command: "audio_in", ok: false, values: [message] }, info));
    const parsed = parseOscAudioIn(args);
    if ("problem" in parsed) return refuse(parsed.problem);
    const chunk = this.audioChunk(`osc ${sender}`, parsed.audio, refuse);
    if (!chunk) return;
    let sequencer = this.sequencers.get(sender);
    if (!sequencer) {
      if (this.sequencers.size > 64) this.sequencers.clear();
      this.sequencers.set(sender, (sequencer = new ChunkSequencer<AudioChunk>()));
    }
    const silence = (length: number): AudioChunk => ({ ...chunk, data: new Float32Array(length) });
    for (const ready of sequencer.accept(parsed.seq, chunk, silence)) this.pushAudio(ready, refuse);
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

  private announce(reply: Reply, to: RemoteInfo[]): void {
    const address = `${OSC_PREFIX}${reply.ok ? "event" : "error"}`;
    const args = toOscArgs([reply.command, ...reply.values]);
    for (const destination of to) this.send(address, args, destination);
  }

  /** Audio: /tfbend/audio [seq, sampleRate, offset, total, blob] (with several channels, then the channel); latent: /tfbend/latent [seq, channels, frames, floats (channel after channel)...]; image: /tfbend/image [seq, w, h, row, blob of one row]. */
  private broadcast(block: OutputBlock, to: RemoteInfo[]): void {
    const messages = this.blockMessages(block);
    for (const destination of to) for (const m of messages) this.send(m.address, m.args, destination);
  }

  private blockMessages(block: OutputBlock): OscMessage[] {
    // Float32Array memory is little-endian on every platform Node runs on: blobs are LE float32.
    const bytes = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
    const int = (value: number): OscArg => ({ type: "i", value });
    const messages: OscMessage[] = [];
    if (block.stream === "audio") {
      // Several channels (a multichannel method, voices): each channel's chunks, a sixth argument naming the channel (from 0).
      const chunk = this.options.chunk ?? 1024;
      const channels = Math.max(1, block.channels);
      for (let c = 0; c < channels; c++) {
        const start = c * block.frames;
        for (let offset = 0; offset < block.frames; offset += chunk) {
          const n = Math.min(chunk, block.frames - offset);
          const blob: OscArg = { type: "b", value: bytes.subarray((start + offset) * 4, (start + offset + n) * 4) };
          messages.push({ address: `${OSC_PREFIX}audio`, args: [int(block.seq), int(block.sampleRate), int(offset), int(block.frames), blob, ...(channels > 1 ? [int(c)] : [])] });
        }
      }
    } else if (block.stream === "latent") {
      // Latent frames (encode) as control data: one message per block, plain OSC floats.
      messages.push({ address: `${OSC_PREFIX}latent`, args: [int(block.seq), int(block.channels), int(block.frames), ...Array.from(block.data, (v) => ({ type: "f", value: v }))] });
    } else {
      const rowBytes = block.width * 3 * 4;
      for (let row = 0; row < block.height; row++) {
        messages.push({ address: `${OSC_PREFIX}image`, args: [int(block.seq), int(block.width), int(block.height), int(row), { type: "b", value: bytes.subarray(row * rowBytes, (row + 1) * rowBytes) }] });
      }
    }
    return messages;
  }
}
