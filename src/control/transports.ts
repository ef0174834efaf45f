export { Engine, type EngineOptions } from "./engine.js";
export { OscServer, OSC_PREFIX, toOscArgs, type OscOptions } from "./osc.js";
export { WsServer, encodeFrame, decodeFrame, parseTextFrame, originAllowed, FRAME_HEADER_BYTES, STREAM_IDS, type WsOptions } from "./ws.js";
export { startMax, type MaxApiLike, type MaxSession, type MaxOptions } from "./max.js";
export { JitterSender, JitterReceiver, attachJitter, encodeMatrixPacket, decodeMatrixPacket, encodeLatencyPacket, rgbToArgb, type DecodedMatrix, type JitterOutputOptions, type JitterReceiverOptions } from "./jitnet.js";
export { AudioInput, ChunkSequencer, wallClockMs, type AudioChunk } from "./audio-input.js";
