// Live audio arriving over WebSocket: a protocol frame (src/protocol/frame.ts) with stream id
// 3 ("input"), checked for what the transports accept. The codec itself is the protocol's.
import { decodeFrame, FrameError, FRAME_HEADER_BYTES, FRAME_MAGIC, STREAM_IDS } from "../../protocol/index.js";
import { channelsProblem, type IncomingAudio } from "../transport.js";

/** The audio of an input frame (float32 LE, channel after channel), or why the frame is refused. */
export function parseInputFrame(frame: Uint8Array): IncomingAudio | { problem: string } {
  let decoded;
  try {
    decoded = decodeFrame(frame);
  } catch (error) {
    if (error instanceof FrameError) return { problem: `binary frames are audio input: the ${FRAME_HEADER_BYTES}-byte "${FRAME_MAGIC}" header, then float32 data` };
    throw error;
  }
  if (decoded.stream !== "input") return { problem: `binary frames sent to tfbend are audio input: stream id ${STREAM_IDS.input} ("input")` };
  const problem = channelsProblem(decoded.channels);
  if (problem) return { problem };
  if (decoded.data.length !== decoded.frames * decoded.channels) {
    return { problem: `audio_in: header says ${decoded.frames} frames × ${decoded.channels} channels, the frame holds ${decoded.data.length * 4} data bytes` };
  }
  return { sampleRate: decoded.sampleRate, channels: decoded.channels, data: decoded.data };
}
