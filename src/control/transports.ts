export { Engine, type EngineOptions } from "./engine.js";
export { OscServer, OSC_PREFIX, toOscArgs, type OscOptions } from "./osc.js";
export { WsServer, encodeFrame, decodeFrame, parseTextFrame, originAllowed, FRAME_HEADER_BYTES, type WsOptions } from "./ws.js";
export { startMax, type MaxApiLike, type MaxSession, type MaxOptions } from "./max.js";
export { JitterSender, attachJitter, encodeMatrixPacket, decodeMatrixPacket, rgbToArgb, type JitterOutputOptions } from "./jitnet.js";
