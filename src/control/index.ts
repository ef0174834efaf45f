export { Session, declick, crossfade, DECLICK_SAMPLES, type Reply, type OutputBlock, type SessionOptions, type ModelKind } from "./session.js";
export { COMMANDS, type CommandSpec } from "./commands.js";
export { parseLine, formatLine, toAtom, atomsProblem, LIMITS, type Atom } from "./atoms.js";
export { SafetyStage } from "./safety.js";
export { Engine, type EngineOptions } from "./engine.js";
export { AudioInput, wallClockMs, type AudioChunk, type AudioInputOptions } from "./audio-input.js";
export { BlockFirstQueue, type BlockFirstQueueOptions } from "./block-first-queue.js";
