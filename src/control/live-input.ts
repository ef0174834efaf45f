// Live audio for a method that takes audio: chunks from a sender are checked and queued
// (AudioInput, the jitter buffer), and each block of the stream takes its input here.
import { BendingError } from "../errors.js";
import type { MethodSpec } from "../nn/method-spec.js";
import type { Reply } from "../protocol/reply.js";
import { AudioInput, type AudioChunk, type AudioInputOptions } from "./audio-input.js";

/** What a chunk is checked against: the running method and whether the stream runs. */
export interface InputTarget {
  spec: MethodSpec | null;
  method: string;
  methods: MethodSpec[];
  streaming: boolean;
  sampleRate: number;
  blockSamples: number;
}

export class LiveInput {
  /** The jitter buffer, sender and counters. */
  readonly queue: AudioInput;
  /** Arrival of the first sample of the block taken last (null: silence). */
  arrival: number | null = null;
  /** Peak level (0..1) of the block taken last (0: silence). */
  level = 0;

  constructor(options?: AudioInputOptions) {
    this.queue = new AudioInput(options);
  }

  /**
   * Queues a chunk for the running method; a reply is an error only when the chunk is
   * refused (nothing queued: the stream is stopped, the method takes latents, another
   * sender is sending, the rate or channels differ). Never throws.
   */
  receive(chunk: AudioChunk, target: InputTarget): Reply {
    try {
      const spec = target.spec;
      if (!spec || spec.inRatio !== 1) {
        this.queue.refused++;
        const methods = target.methods.filter((m) => m.inRatio === 1).map((m) => m.name);
        throw new BendingError(`method '${target.method}' does not take audio${methods.length ? ` (methods that do: ${methods.join(", ")})` : ""}`);
      }
      if (!target.streaming) {
        this.queue.refused++;
        throw new BendingError("the stream is stopped; send 'stream start' (or 'enable 1') to process audio input");
      }
      this.queue.push(chunk, { sampleRate: target.sampleRate, channels: spec.inChannels, blockSamples: target.blockSamples });
      return { command: "audio_in", ok: true, values: [] };
    } catch (e) {
      return { command: "audio_in", ok: false, values: [e instanceof Error ? e.message : String(e)] };
    }
  }

  /** The next block's input: `channels` × `samples`, channel after channel (silence without a sender or a stream). */
  takeBlock(channels: number, samples: number, streaming: boolean): Float32Array {
    const taken = streaming ? this.queue.take(samples) : null;
    this.arrival = taken?.arrival ?? null;
    const block = taken && taken.data.length === channels * samples ? taken.data : new Float32Array(channels * samples);
    this.level = peakLevel(block);
    return block;
  }
}

/** The largest absolute sample, at most 1. */
function peakLevel(block: Float32Array): number {
  let peak = 0;
  for (let i = 0; i < block.length; i++) peak = Math.max(peak, Math.abs(block[i]));
  return Math.min(1, peak);
}
