// Blocks of several channels (a multichannel method, voices) hold each channel's samples
// one after the other: a declick acts on each channel on its own, never across the whole
// block as if it were one signal (crossfadePrefix in crossfade.ts does the same for fades).
import { declick } from "./crossfade.js";

function channel(block: Float32Array, channels: number, c: number): Float32Array {
  const frames = block.length / channels;
  return block.subarray(c * frames, (c + 1) * frames);
}

/**
 * declick() channel by channel, each from its own last sample of the block before. Where the
 * channel count changed (another model took over), the channels both blocks have are
 * declicked; the others have nothing to join to.
 */
export function declickChannels(block: Float32Array, channels: number, previous: Float32Array): void {
  const shared = Math.min(channels, previous.length);
  for (let c = 0; c < shared; c++) declick(channel(block, channels, c), previous[c]);
}

/** The last sample of each channel. */
export function lastSamples(block: Float32Array, channels: number): Float32Array {
  const frames = block.length / channels;
  return Float32Array.from({ length: channels }, (_, c) => block[(c + 1) * frames - 1]);
}
