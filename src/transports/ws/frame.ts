// The binary frame of the WebSocket transport: a 32-byte little-endian header, then
// float32 data. Output blocks go out in it; live audio comes in in it (stream id "input").
import type { OutputBlock } from "../../control/session.js";
import { channelsProblem, type IncomingAudio } from "../transport.js";

export const FRAME_MAGIC = "TFB1";
export const FRAME_HEADER_BYTES = 32;
/** Stream ids of the frame header. "input" is audio sent to tfbend (the method's input). */
export const STREAM_IDS = { audio: 0, image: 1, latent: 2, input: 3 } as const;

/** magic "TFB1" | stream u8 (0 audio, 1 image, 2 latent, 3 input) | 3 reserved | seq | sampleRate | frames | channels | width | height (u32 LE) | float32 LE data */
export function encodeFrame(block: OutputBlock): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + block.data.byteLength);
  out.write(FRAME_MAGIC, 0, "ascii");
  out.writeUInt8(STREAM_IDS[block.stream], 4);
  out.writeUInt32LE(block.seq >>> 0, 8);
  out.writeUInt32LE(block.sampleRate, 12);
  out.writeUInt32LE(block.frames, 16);
  out.writeUInt32LE(block.channels, 20);
  out.writeUInt32LE(block.width, 24);
  out.writeUInt32LE(block.height, 28);
  Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength).copy(out, FRAME_HEADER_BYTES);
  return out;
}

export function decodeFrame(frame: Buffer): OutputBlock {
  if (frame.length < FRAME_HEADER_BYTES || frame.toString("ascii", 0, 4) !== FRAME_MAGIC) throw new Error("not a tfbend frame");
  const bytes = frame.subarray(FRAME_HEADER_BYTES);
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return {
    stream: (["audio", "image", "latent"] as const)[frame.readUInt8(4)] ?? "image",
    seq: frame.readUInt32LE(8), sampleRate: frame.readUInt32LE(12), frames: frame.readUInt32LE(16),
    channels: frame.readUInt32LE(20), width: frame.readUInt32LE(24), height: frame.readUInt32LE(28), data,
  };
}

/**
 * Live audio from a binary frame: the output's 32-byte header with stream id 3 ("input"),
 * then float32 LE, channel after channel.
 */
export function parseInputFrame(frame: Buffer): IncomingAudio | { problem: string } {
  if (frame.length < FRAME_HEADER_BYTES || frame.toString("ascii", 0, 4) !== FRAME_MAGIC) return { problem: `binary frames are audio input: the ${FRAME_HEADER_BYTES}-byte "${FRAME_MAGIC}" header, then float32 data` };
  if (frame.readUInt8(4) !== STREAM_IDS.input) return { problem: `binary frames sent to tfbend are audio input: stream id ${STREAM_IDS.input} ("input")` };
  const sampleRate = frame.readUInt32LE(12);
  const frames = frame.readUInt32LE(16);
  const channels = frame.readUInt32LE(20);
  const problem = channelsProblem(channels);
  if (problem) return { problem };
  if (frame.length - FRAME_HEADER_BYTES !== frames * channels * 4) return { problem: `audio_in: header says ${frames} frames × ${channels} channels, the frame holds ${frame.length - FRAME_HEADER_BYTES} data bytes` };
  const data = new Float32Array(frames * channels);
  for (let i = 0; i < data.length; i++) data[i] = frame.readFloatLE(FRAME_HEADER_BYTES + i * 4);
  return { sampleRate, channels, data };
}
