// /tfbend/audio_in's arguments: <seq> <sample_rate> <blob of float32 LE> [channels]
// (channel after channel when there are several), or <seq> <sample_rate> <sample>...:
// mono samples as plain numbers (Pd's [oscformat] and sclang send no float blobs easily).
import { channelsProblem, type IncomingAudio } from "../transport.js";
import { oscNumber, type OscArg } from "./args.js";

export type OscAudioIn = { seq: number; audio: IncomingAudio } | { problem: string };

export function parseOscAudioIn(args: OscArg[]): OscAudioIn {
  const [seqArg, rateArg, blobArg, channelsArg] = args;
  const seq = oscNumber(seqArg);
  const sampleRate = oscNumber(rateArg);
  const floats = blobArg !== undefined && blobArg.type !== "b";
  const channels = channelsArg === undefined || floats ? 1 : oscNumber(channelsArg);
  if (!Number.isInteger(seq) || seq < 0) return { problem: "usage: /tfbend/audio_in <seq> <sample_rate> <blob of float32 LE> [channels]; seq is a whole number" };
  if (!(sampleRate > 0)) return { problem: "audio_in: sample rate must be a positive number" };
  const problem = channelsProblem(channels);
  if (problem) return { problem };
  if (floats) {
    const samples = args.slice(2).map(oscNumber);
    if (samples.some((v) => Number.isNaN(v))) return { problem: "audio_in: after <seq> <sample_rate> come a blob or numbers (mono samples)" };
    return { seq, audio: { sampleRate, channels, data: Float32Array.from(samples) } };
  }
  if (!blobArg || !(blobArg.value instanceof Uint8Array)) return { problem: "audio_in: the third argument is a blob of float32 little-endian samples (or the samples as numbers)" };
  const bytes = blobArg.value;
  if (bytes.byteLength % (4 * channels) !== 0) return { problem: `audio_in: blob of ${bytes.byteLength} bytes is not whole float32 frames of ${channels} channels` };
  const data = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return { seq, audio: { sampleRate, channels, data } };
}
