// Live audio arriving from a patch (Jitter, OSC, WebSocket), on its way into a method
// that takes audio: one sender at a time, a jitter buffer that the stream cuts into the
// method's blocks, and the figures `status` reports (latency, underruns, overruns, level).
import { BendingError } from "../errors.js";

/** Wall-clock milliseconds comparable across threads (the transport's and the inference thread's). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Audio from one sender: `channels` × `frames` float32, channel after channel. */
export interface AudioChunk {
  /** Who sent it ("jitter 127.0.0.1:50312", "osc 127.0.0.1:57120", "ws 3"): one sender at a time. */
  source: string;
  /** null: the transport carries no rate (Jitter matrices); the patch must run at the model's. */
  sampleRate: number | null;
  channels: number;
  data: Float32Array;
  /** When the chunk arrived at the transport (wallClockMs). */
  arrival: number;
  /** A Jitter matrix: `matrix` may route it to a buffer or tensor attribute instead. */
  matrix?: true;
}

export interface AudioInputOptions {
  /** A sender silent for this long has stopped: its partial block is dropped and another may send. */
  idleMs?: number;
  /** Blocks the jitter buffer holds before the oldest is dropped (an overrun). */
  maxBlocks?: number;
  /** A sender this many blocks late gets a block of silence in its place (an underrun); default 1. */
  lateBlocks?: number;
}

interface Pending {
  data: Float32Array[];
  arrival: number;
  offset: number;
}

/** The jitter buffer between the senders and the stream. */
export class AudioInput {
  readonly idleMs: number;
  readonly maxBlocks: number;
  readonly lateBlocks: number;
  /** The sender whose audio the buffer holds (null: none, or it stopped). */
  owner: string | null = null;
  lastArrival = 0;
  underruns = 0;
  /** Input dropped because the model fell behind: the oldest block of a full buffer, or a chunk that arrived too late to be of use. */
  overruns = 0;
  /** Non-finite samples replaced by 0. */
  nonFinite = 0;
  /** Chunks refused (second sender, wrong rate or channels, stream stopped). */
  refused = 0;
  /** Peak of the last block taken, in dBFS (−inf for silence). */
  levelDb = -Infinity;
  private chunks: Pending[] = [];
  private queued = 0;
  private channels = 0;

  constructor(options: AudioInputOptions = {}) {
    this.idleMs = options.idleMs ?? 500;
    this.maxBlocks = options.maxBlocks ?? 8;
    this.lateBlocks = options.lateBlocks ?? 1;
  }

  /** Samples per channel waiting in the buffer. */
  get queuedSamples(): number {
    return this.queued;
  }

  /** True while a sender is sending (it sent within idleMs). */
  active(now = wallClockMs()): boolean {
    return this.owner !== null && now - this.lastArrival < this.idleMs;
  }

  /**
   * Queues a chunk for a method taking `channels` channels at `sampleRate`, or refuses it
   * (BendingError, nothing queued): another sender is sending, or the rate or channels differ.
   */
  push(chunk: AudioChunk, expected: { sampleRate: number; channels: number; blockSamples: number }): void {
    const fail = (message: string): never => {
      this.refused++;
      throw new BendingError(message);
    };
    if (this.owner !== null && this.owner !== chunk.source && this.active(chunk.arrival)) {
      fail(`audio input is in use by ${this.owner}; one sender at a time (it is free ${this.idleMs} ms after that sender stops)`);
    }
    if (chunk.sampleRate !== null && chunk.sampleRate !== expected.sampleRate) {
      fail(`audio input at ${chunk.sampleRate} Hz, but the model runs at ${expected.sampleRate} Hz; tfbend does not resample: set the patch's sample rate to ${expected.sampleRate}`);
    }
    if (chunk.channels !== expected.channels) fail(`audio input has ${chunk.channels} channels; the method takes ${expected.channels}`);
    if (!Number.isInteger(chunk.channels) || chunk.channels < 1 || chunk.data.length % chunk.channels !== 0) fail("audio input: samples do not split into whole frames");
    if (this.owner !== chunk.source || !this.active(chunk.arrival) || this.channels !== chunk.channels) this.clear();
    this.owner = chunk.source;
    this.channels = chunk.channels;
    this.lastArrival = chunk.arrival;
    const frames = chunk.data.length / chunk.channels;
    if (frames === 0) return;
    // Waited longer than the buffer holds before the inference thread could take it (the
    // model is slower than the input): dropped, so latency stays bounded.
    const blockMs = (expected.blockSamples / expected.sampleRate) * 1000;
    if (wallClockMs() - chunk.arrival > this.maxBlocks * blockMs) {
      this.overruns++;
      return;
    }
    const planes: Float32Array[] = [];
    for (let c = 0; c < chunk.channels; c++) {
      const plane = chunk.data.slice(c * frames, (c + 1) * frames);
      for (let i = 0; i < frames; i++) {
        if (!Number.isFinite(plane[i])) {
          plane[i] = 0;
          this.nonFinite++;
        }
      }
      planes.push(plane);
    }
    this.chunks.push({ data: planes, arrival: chunk.arrival, offset: 0 });
    this.queued += frames;
    // Input faster than the model: keep the newest blocks, drop the oldest.
    const limit = this.maxBlocks * expected.blockSamples;
    while (this.queued > limit) {
      this.discard(Math.min(expected.blockSamples, this.queued));
      this.overruns++;
    }
  }

  /**
   * The next `samples` frames (channel after channel) and when their first sample arrived,
   * or null while fewer are queued.
   */
  take(samples: number): { data: Float32Array; arrival: number } | null {
    if (this.queued < samples || this.chunks.length === 0) return null;
    const channels = this.channels;
    const out = new Float32Array(channels * samples);
    const arrival = this.chunks[0].arrival;
    let filled = 0;
    while (filled < samples) {
      const head = this.chunks[0];
      const length = head.data[0].length;
      const n = Math.min(samples - filled, length - head.offset);
      for (let c = 0; c < channels; c++) out.set(head.data[c].subarray(head.offset, head.offset + n), c * samples + filled);
      head.offset += n;
      filled += n;
      if (head.offset === length) this.chunks.shift();
    }
    this.queued -= samples;
    let peak = 0;
    for (let i = 0; i < out.length; i++) peak = Math.max(peak, Math.abs(out[i]));
    this.levelDb = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
    return { data: out, arrival };
  }

  /** Forgets the queued audio and the sender (it stopped, or the method changed). */
  clear(): void {
    this.chunks = [];
    this.queued = 0;
  }

  release(): void {
    this.clear();
    this.owner = null;
  }

  resetStats(): void {
    this.underruns = 0;
    this.overruns = 0;
    this.nonFinite = 0;
    this.refused = 0;
    this.levelDb = -Infinity;
  }

  private discard(samples: number): void {
    let left = samples;
    while (left > 0 && this.chunks.length > 0) {
      const head = this.chunks[0];
      const n = Math.min(left, head.data[0].length - head.offset);
      head.offset += n;
      left -= n;
      if (head.offset === head.data[0].length) this.chunks.shift();
    }
    this.queued -= samples - left;
  }
}
