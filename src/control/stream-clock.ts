// The stream's clock: when the next block is rendered and sent. A stream of latents (or
// images) runs on a timer, one block per block duration, resynchronising when a block
// comes late; a method that takes audio follows its input instead, a block as soon as
// one is queued, with a watchdog for senders that stop or fall behind. Both drive the
// same step (render, drop what a stop made stale, count), and a generation number tells
// a block of this stream from one of a stream stopped meanwhile.
import type { OutputBlock } from "../protocol/frame.js";
import { WindowedQuantiles } from "../util/stats.js";
import { wallClockMs, type AudioInput } from "./audio-input.js";

/** What the clock drives: the session's renderer, input and listeners. */
export interface ClockHost {
  /** Duration of one block (ms). */
  blockMs(): number;
  /** Audio samples per block of the running method. */
  blockSamples(): number;
  /** Whether the running method takes audio (the stream then follows its input). */
  takesAudio(): boolean;
  readonly input: AudioInput;
  renderBlock(): Promise<OutputBlock>;
  /** When the first input sample of the block rendered last arrived (null: silence). */
  inputArrival(): number | null;
  /** Sends a block; `releaseAt` (wall clock ms): a block rendered ahead is to be sent then, not now. */
  emit(block: OutputBlock, releaseAt?: number): void;
  /** Rendering failed: the stream stops (the host stops the clock and says why). */
  failed(message: string): void;
  /** A sender of live audio stopped (its partial block was dropped). */
  senderStopped(source: string): void;
  /** Live input is more than a block late: a block of silence goes out in its place. */
  underrun(): void;
}

export interface StreamStats {
  blocks: number;
  dropped: number;
  /** Real-time factors of the last 1,024 blocks (O(1) per block; quantiles from a fixed histogram). */
  rtf: WindowedQuantiles;
  /** Input latency of the last 1,024 blocks (ms; first sample's arrival → output sent). */
  inputLatencyMs: WindowedQuantiles;
  /** Milliseconds from `stream start` to the first block sent (a first compile shows here), null before it. */
  startMs: number | null;
}

function newStats(): StreamStats {
  return { blocks: 0, dropped: 0, rtf: new WindowedQuantiles(1024), inputLatencyMs: new WindowedQuantiles(1024, 0.01, 1e5), startMs: null };
}

export class StreamClock {
  private timer: NodeJS.Timeout | null = null;
  private generation = 0;
  /** When block 0 of the timer-driven stream was due (performance.now() ms; moved on resynchronising). */
  private streamStart = 0;
  /** When the timer-driven stream's next block starts (performance.now() ms). */
  private nextTickAt = 0;
  /** True while queued input is being rendered. */
  private pumping = false;
  /** Whether this clock continues a stream that was playing (see `start`). */
  private continuing = false;
  /** Blocks rendered ahead of time now: the largest lead asked for and not yet given back (see `renderAhead`). */
  private ahead = 0;
  private readonly leads: number[] = [];
  /** The block the timer waits to render (null while one renders). */
  private waitingTick: { k: number; generation: number } | null = null;
  /** When the input-driven stream last sent a block (wall clock), for underrun detection. */
  private lastInputBlockAt: number | null = null;
  stats: StreamStats = newStats();

  constructor(private readonly host: ClockHost) {}

  /** Forgets the figures (blocks, dropped, RTF, input latency). */
  resetStats(): void {
    this.stats = newStats();
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /**
   * Starts the clock: on the input when the method takes audio, else on the timer.
   * `continuing`: a stream already playing goes on (another model's clock), so its first
   * block is due a block from now like any other; a fresh stream starts when its first block is out.
   */
  start(continuing = false): void {
    this.resetStats();
    this.continuing = continuing;
    this.streamStart = performance.now();
    this.lastInputBlockAt = null;
    const generation = ++this.generation;
    if (this.host.takesAudio()) {
      // Each block is rendered when its input has arrived (pump); the watchdog counts
      // underruns and lets a sender that stopped go.
      this.timer = setTimeout(() => this.watchInput(generation), 0);
      return;
    }
    this.nextTickAt = performance.now();
    this.timer = setTimeout(() => void this.tick(0, generation), 0);
  }

  /** Stops the clock (blocks in flight are dropped); false when it was not running. */
  stop(): boolean {
    this.generation++;
    if (this.timer === null) return false;
    clearTimeout(this.timer);
    this.timer = null;
    return true;
  }

  /**
   * Renders the timer-driven stream `blocks` blocks ahead of time until the returned function
   * is called: each goes out with the time it is to be sent (the main thread holds it until
   * then), so the thread can do one long job between blocks (a model's load) without a block
   * coming late. Controls moved meanwhile are heard up to `blocks` blocks later. No effect on a
   * stream that follows its input (its blocks cannot be rendered before the input is there).
   */
  renderAhead(blocks: number): () => void {
    this.leads.push(blocks);
    this.ahead = Math.max(...this.leads);
    this.hurry();
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.leads.splice(this.leads.indexOf(blocks), 1);
      this.ahead = Math.max(0, ...this.leads);
    };
  }

  /** A timer waiting for the next block fires now (it computes its own wait again). */
  private hurry(): void {
    if (this.timer === null || this.host.takesAudio() || !this.waitingTick) return;
    clearTimeout(this.timer);
    const { k, generation } = this.waitingTick;
    this.waitingTick = null;
    this.timer = setTimeout(() => void this.tick(k, generation), 0);
  }

  /**
   * Milliseconds until the stream needs this thread for its next block: 0 while one is due
   * or rendering, Infinity when nothing streams on a clock. Commands wait for the block.
   */
  msUntilNextBlock(): number {
    if (this.timer === null) return Infinity;
    if (this.host.takesAudio()) return this.pumping || this.host.input.queuedSamples >= this.host.blockSamples() ? 0 : Infinity;
    return Math.max(0, this.nextTickAt - performance.now());
  }

  /** The step both drivers share: renders a block; null when it failed or the stream was stopped meanwhile. */
  private async renderOne(generation: number, first = false): Promise<OutputBlock | null> {
    const t0 = performance.now();
    let block: OutputBlock;
    try {
      block = await this.host.renderBlock();
    } catch (e) {
      const message = `stream stopped: ${(e as Error).message}`;
      console.error(`tfbend: ${message}`);
      if (generation !== this.generation) return null; // stopped meanwhile: not this stream's error
      this.host.failed(message);
      return null;
    }
    if (generation !== this.generation) return null; // stopped (or restarted) meanwhile
    this.stats.blocks++;
    // The first block may include a first compile: that is the stream's start latency, not its speed.
    if (first) this.stats.startMs = performance.now() - this.streamStart;
    if (first && !this.continuing) return block;
    this.stats.rtf.add((performance.now() - t0) / this.host.blockMs());
    return block;
  }

  /** The timer-driven stream: block k is due when block k-1 finishes playing (one block of output latency). */
  private async tick(k: number, generation: number): Promise<void> {
    this.waitingTick = null;
    const block = await this.renderOne(generation, k === 0);
    if (!block) return;
    const blockMs = this.host.blockMs();
    const done = performance.now();
    const next = k + 1;
    // Nothing plays before the first block, so a slow first block (a first compile) delays the
    // start instead of leaving a gap: the stream's clock starts when it is sent.
    if (k === 0 && !this.continuing) this.streamStart = done - blockMs;
    const deadline = this.streamStart + (k + 1) * blockMs;
    if (done > deadline) {
      this.stats.dropped++;
      this.streamStart = done - next * blockMs; // resynchronise instead of piling up
    }
    // Sent half a block before the one before it ends; a block rendered ahead waits for that time.
    const sendAt = this.streamStart + (k - 0.5) * blockMs;
    const early = sendAt - performance.now();
    this.host.emit(block, early > 1 ? wallClockMs() + early : undefined);
    const wait = Math.max(0, this.streamStart + next * blockMs - performance.now() - blockMs * (0.5 + this.ahead));
    this.nextTickAt = performance.now() + wait;
    this.waitingTick = { k: next, generation };
    this.timer = setTimeout(() => void this.tick(next, generation), wait);
  }

  /** The input-driven stream: renders every full input block queued, one after another, while the next ones arrive. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const generation = this.generation;
    const { host } = this;
    try {
      while (this.running && generation === this.generation && host.takesAudio() && host.input.queuedSamples >= host.blockSamples()) {
        const block = await this.renderOne(generation);
        if (!block) return;
        const arrival = host.inputArrival();
        host.emit(block);
        const now = wallClockMs();
        this.lastInputBlockAt = now;
        if (arrival !== null) {
          const latency = now - arrival;
          this.stats.inputLatencyMs.add(latency);
          // Its last sample came a block after its first; later than one more block and it missed its slot.
          if (latency > 2 * host.blockMs()) this.stats.dropped++;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Checks the input-driven stream twice a block: a sender that stopped is let go (its
   * partial block dropped, the output simply ends); a sender that is late by more than a
   * block gets a block of silence in its place (an underrun).
   */
  private watchInput(generation: number): void {
    if (generation !== this.generation || this.timer === null) return;
    const { host } = this;
    const input = host.input;
    const blockMs = host.blockMs();
    const now = wallClockMs();
    if (host.takesAudio() && input.owner !== null) {
      if (!input.active(now)) {
        const source = input.owner;
        input.release();
        this.lastInputBlockAt = null;
        host.senderStopped(source);
      } else if (this.lastInputBlockAt !== null && now - this.lastInputBlockAt > (1 + input.lateBlocks) * blockMs && input.queuedSamples < host.blockSamples() && !this.pumping) {
        input.underruns++;
        this.lastInputBlockAt += blockMs;
        host.underrun();
      }
    }
    this.timer = setTimeout(() => this.watchInput(generation), Math.max(5, blockMs / 2));
  }
}
