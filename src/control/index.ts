export { Session, sessionCommands, declick, crossfade, DECLICK_SAMPLES, type SessionOptions } from "./session.js";
export { appendTail, continuation, crossfadePrefix, inaudibleStep, INAUDIBLE_STEP, CROSSFADE_MIN_SAMPLES, CONTINUATION_TAIL } from "./crossfade.js";
export { COMMANDS, CORE_COMMANDS, type CommandSpec } from "./commands.js";
export { CommandTable, type CommandContext, type CommandResult } from "./command-table.js";
export { PANEL_COMMANDS, registerPanelCommands } from "./panel-commands.js";
export {
  parseLine, formatLine, toAtom, atomsProblem, LIMITS, type Atom,
  type Reply, type ReplyMessage, type EventMessage, type ModelKind, type SessionState,
  COMMAND_EFFECTS, QUERY_WHEN_BARE, commandEffect, announces, changesOutput, isQuery, replyAnnounces, type CommandEffect, type CommandName,
  encodeFrame, decodeFrame, FrameError, FRAME_MAGIC, FRAME_HEADER_BYTES, STREAM_IDS, type Frame, type FrameStream, type OutputBlock, type OutputStream,
} from "../protocol/index.js";
export { SafetyStage } from "./safety.js";
export { declickChannels, lastSamples } from "./channels.js";
export { AudioInput, wallClockMs, type AudioChunk, type AudioInputOptions } from "./audio-input.js";
export { BlockFirstQueue, type BlockFirstQueueOptions } from "./block-first-queue.js";
export { Engine, startWorker, type EngineOptions, type StartThread } from "./engine.js";
