// The transports: each only translates its wire format into the one command table.
export { Transport, channelsProblem, MAX_INPUT_CHANNELS, type AudioSink, type CommandEngine, type Delivery, type IncomingAudio } from "./transport.js";
export { Subscribers, type SubscribersOptions } from "./subscribers.js";
export { ErrorThrottle } from "./throttle.js";
export { CLIENT_LIMITS, limitValue, type ClientLimits, type ClientLimitName, type LimitsRegistry } from "./limits.js";
export { ReplyRate } from "./reply-rate.js";
export { reportHandlerFailure } from "./guard.js";
export { OscServer, DEFAULT_SUBSCRIBER_TIMEOUT_MS, type OscOptions } from "./osc/server.js";
export { OSC_PREFIX, toOscArgs, fromOscArgs, type OscArg, type OscMessage } from "./osc/args.js";
export { parseOscAudioIn } from "./osc/audio-in.js";
export { ChunkSequencer } from "./osc/sequencer.js";
export { WsServer, type WsOptions } from "./ws/server.js";
export { parseInputFrame } from "./ws/frame.js";
export { parseTextFrame, originAllowed, type ParsedRequest } from "./ws/requests.js";
export { encodeMatrixPacket, decodeMatrixPacket, encodeLatencyPacket, rgbToArgb, transposePlanar, planarFromInterleaved, CHUNK_HEADER_BYTES, MATRIX_HEADER_BYTES, JIT_TYPE, type DecodedMatrix } from "./jitter/matrix.js";
export { JitterSender, attachJitter, type JitterSenderOptions, type JitterSenderStats, type JitterOutputOptions } from "./jitter/sender.js";
export { JitterChunkParser, type JitterChunkHandler, type JitterParserState } from "./jitter/parser.js";
export { JitterReceiver, type JitterReceiverOptions, type JitterReceiverStats } from "./jitter/receiver.js";
export { startMax, type MaxApiLike, type MaxSession, type MaxOptions } from "./max.js";
