// What a model keeps from block to block while it streams (the pasts of causal
// convolutions, a TorchScript export's cache buffers). The session streams any model
// that implements this, whatever built it; TorchScript nn~ modules and the zoo's audio
// models do, and so does every nn~ module (its resetState).
import type { Module } from "./module.js";

export interface StreamingState {
  /** Streams block by block from here on, from the state the model was loaded with (the streamed past is forgotten). */
  resetState(): void;
  /** A copy of the streamed past, to render one block twice from the same past (a crossfade); optional for nn~ modules. */
  snapshotState?(): unknown;
  /** Puts a snapshotState() copy back, taking ownership of it. */
  restoreState?(snapshot: unknown): void;
}

/** The module's streaming state, when it keeps one. */
export function streamingState(module: Module): StreamingState | null {
  const m = module as Partial<StreamingState>;
  return typeof m.resetState === "function" ? (module as unknown as StreamingState) : null;
}
