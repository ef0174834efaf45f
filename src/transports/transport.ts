// What every listening transport (OSC, WebSocket, Jitter input) shares: binding and its
// `ready`/`port`/`close`, the subscribers that follow output blocks and change events,
// live audio checked, made into a chunk and handed to the engine, and errors reported at
// most once a second per sender. A transport only translates: commands go to the one
// command table through the engine; it decides nothing about what they do.
import type { Atom } from "../protocol/index.js";
import { wallClockMs, type AudioChunk } from "../control/audio-input.js";
import type { OutputBlock, Reply } from "../protocol/index.js";
import { ErrorThrottle } from "./throttle.js";
import { Subscribers, type SubscribersOptions } from "./subscribers.js";
import type { ClientLimits, LimitsRegistry } from "./limits.js";

/** Where live audio goes (the engine; the session refuses what the method cannot take). */
export interface AudioSink extends LimitsRegistry {
  pushAudio(chunk: AudioChunk): Promise<Reply>;
}

/** The engine as a transport sees it: commands in, replies, blocks and change events out. */
export interface CommandEngine extends AudioSink {
  /** `data`: samples for a command that takes them (`buffer`, `tensor`; see control/attributes.ts). */
  execute(atoms: Atom[], data?: Float32Array): Promise<Reply>;
  onBlock(listener: (block: OutputBlock) => void): () => void;
  onChange(listener: (reply: Reply) => void): () => void;
}

/** How a transport delivers to its subscribers. */
export interface Delivery<D> {
  block(block: OutputBlock, to: D[]): void;
  event(reply: Reply, to: D[]): void;
}

/** Most channels a live input may have. */
export const MAX_INPUT_CHANNELS = 64;

/** Live audio as a transport read it from one message (channel after channel). */
export interface IncomingAudio {
  /** null: the wire format carries no rate (Jitter). */
  sampleRate: number | null;
  channels: number;
  data: Float32Array;
}

/** Why a channel count cannot be live input, or null. */
export function channelsProblem(channels: number): string | null {
  return Number.isInteger(channels) && channels >= 1 && channels <= MAX_INPUT_CHANNELS ? null : `audio_in: channels must be 1..${MAX_INPUT_CHANNELS}`;
}

export abstract class Transport<D = never> {
  protected readonly subscribers: Subscribers<D>;
  private readonly throttle = new ErrorThrottle();
  private readonly disposers: (() => void)[] = [];
  private bound: Promise<void> | null = null;
  /** What clients may grow here (see limits.ts), as declared to the engine. */
  limits: ClientLimits = {};

  protected constructor(
    /** In log lines: "tfbend <name>: ...". */
    readonly name: string,
    private readonly defaultPort: number,
    protected readonly sink: AudioSink,
    subscribers: SubscribersOptions = {},
  ) {
    this.subscribers = new Subscribers<D>(subscribers);
  }

  /** Resolves once the socket is bound (rejects when it cannot be, e.g. the port is taken). */
  get ready(): Promise<void> {
    if (!this.bound) throw new Error(`tfbend ${this.name}: the transport never started listening`);
    return this.bound;
  }

  /** The port actually bound (the one asked for until then; useful with port 0). */
  get port(): number {
    return this.localPort() ?? this.defaultPort;
  }

  /** Stops following the engine and closes the socket and its connections. */
  async close(): Promise<void> {
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.shutdown();
  }

  /** The bound port, or null before binding. */
  protected abstract localPort(): number | null;

  protected abstract shutdown(): Promise<void>;

  /** Called by the subclass's constructor with the limits it enforces: the engine lists them in `status`. */
  protected declareLimits(limits: ClientLimits): void {
    this.limits = { ...this.limits, ...limits };
    this.sink.declareLimits?.(limits);
  }

  /** Called once by the subclass's constructor with the promise of its socket being bound. */
  protected listening(bound: Promise<void>): void {
    this.bound = bound;
  }

  /** Delivers the engine's output blocks and change events to the subscribers there are. */
  protected follow(engine: CommandEngine, delivery: Delivery<D>): void {
    this.disposers.push(engine.onBlock((block) => {
      const to = this.subscribers.destinations();
      if (to.length > 0) delivery.block(block, to);
    }));
    this.disposers.push(engine.onChange((reply) => {
      const to = this.subscribers.destinations();
      if (to.length > 0) delivery.event(reply, to);
    }));
  }

  /** Runs `report` unless one for `key` ran within the last second; it gets how many were held back meanwhile. */
  protected throttled(key: string, report: (heldBack: number) => void): void {
    const heldBack = this.throttle.pass(key);
    if (heldBack !== null) report(heldBack);
  }

  /** A log line, at most one a second per key. */
  protected log(key: string, message: string): void {
    this.throttled(key, (heldBack) => console.error(`tfbend ${this.name}: ${message}${heldBack ? ` (+${heldBack} more)` : ""}`));
  }

  /** The chunk live audio from `source` makes, or null when it cannot be input (`refuse` is told why). */
  protected audioChunk(source: string, audio: IncomingAudio, refuse: (message: string) => void): AudioChunk | null {
    const problem = channelsProblem(audio.channels);
    if (problem) {
      refuse(problem);
      return null;
    }
    if (audio.data.length % audio.channels !== 0) {
      refuse(`audio_in: ${audio.data.length} samples are not whole frames of ${audio.channels} channels`);
      return null;
    }
    return { source, sampleRate: audio.sampleRate, channels: audio.channels, data: audio.data, arrival: wallClockMs() };
  }

  /** Hands a chunk to the engine; a refusal (another sender, wrong rate or channels) goes to `refuse`. */
  protected pushAudio(chunk: AudioChunk, refuse: (message: string) => void): void {
    void this.sink.pushAudio(chunk).then((reply) => {
      if (!reply.ok) refuse(String(reply.values[0]));
    });
  }
}
