// `status`: what the session reports about itself, as flat name/value atoms (a Max dict,
// an OSC reply, the panel's status bar).
import { backend, backendInfo } from "../backend.js";
import type { Atom } from "../protocol/atoms.js";
import type { SessionModel } from "./session-model.js";
import type { StreamStats } from "./stream-clock.js";
import type { AudioInput } from "./audio-input.js";
import type { BlockEngine } from "./block-engine.js";

export interface StatusSources {
  model: SessionModel;
  streaming: boolean;
  stats: StreamStats;
  input: AudioInput;
  /** Whether the latent follows the walk (`input walk`) or holds. */
  walking: boolean;
  /** Voices run in one batched call (`voices N`). */
  voices?: number;
  /** What computes the blocks (absent: tfjs). */
  engine?: BlockEngine;
}

export function sessionStatus({ model, streaming, stats, input, walking, voices, engine }: StatusSources): Record<string, Atom> {
  const bended = model.bended;
  return {
    backend: backend(),
    device: backendInfo().device,
    model: model.name || "none",
    kind: model.kind,
    model_path: model.path || "none",
    method: model.method,
    ...methodStatus(model),
    voices: voices ?? 1,
    ...engineStatus(model, engine),
    streaming: streaming ? 1 : 0,
    block: model.kind === "audio" ? model.blockSamples : model.kind === "image" ? 1 : 0,
    sample_rate: model.kind === "audio" ? model.sampleRate : 0,
    latency_ms: Number(model.blockMs.toFixed(2)),
    rtf_p50: Number(stats.rtf.quantile(0.5).toPrecision(3)),
    rtf_p95: Number(stats.rtf.quantile(0.95).toPrecision(3)),
    blocks: stats.blocks,
    dropped: stats.dropped,
    start_ms: Number((stats.startMs ?? 0).toFixed(1)),
    version: bended?.version ?? "none",
    versions: bended ? bended.versionNames().length - 1 : 0,
    version_mb: bended ? Number((bended.versionBytes() / 2 ** 20).toFixed(2)) : 0,
    max_versions: model.maxVersions,
    input: walking ? "walk" : "hold",
    ...inputStatus(input, stats),
  };
}

/**
 * A newly loaded model starts with no figures: the previous model's RTF, blocks, dropped
 * blocks and live-input counters would otherwise show until the next `stream start`.
 */
export function resetStatusFigures(clock: { resetStats(): void }, input: AudioInput): void {
  clock.resetStats();
  input.resetStats();
}

/** The current method's channels and ratios, as nn~ declares them. */
function methodStatus(model: SessionModel): Record<string, Atom> {
  const spec = model.methodSpec();
  return spec
    ? { in_channels: spec.inChannels, in_ratio: spec.inRatio, out_channels: spec.outChannels, out_ratio: spec.outRatio }
    : { in_channels: 0, in_ratio: 0, out_channels: 0, out_ratio: 0 };
}

/**
 * The engine computing blocks and the one the current method runs on: `method_engine` is
 * wasm (with `engine_reason`) where the method cannot be compiled or the engine is wasm.
 */
function engineStatus(model: SessionModel, engine: BlockEngine | undefined): Record<string, Atom> {
  if (!engine) return { engine: "wasm", method_engine: "wasm", engine_reason: "none", engine_compile_ms: 0, engine_compiles: 0 };
  const method = engine.method(model.method);
  return {
    engine: engine.name, method_engine: method.engine, engine_reason: method.reason ?? "none",
    engine_compile_ms: Number((method.compileMs ?? 0).toFixed(1)), engine_compiles: method.compiles ?? 0,
  };
}

/** Live audio input: sender, latency (first sample's arrival → output sent), underruns, overruns, level. */
function inputStatus(i: AudioInput, stats: StreamStats): Record<string, Atom> {
  return {
    audio_in: i.active() ? i.owner! : "none",
    input_latency_ms: Number(stats.inputLatencyMs.quantile(0.5).toFixed(2)),
    input_latency_p95_ms: Number(stats.inputLatencyMs.quantile(0.95).toFixed(2)),
    underruns: i.underruns,
    overruns: i.overruns,
    input_level_db: Number(Math.max(-120, i.levelDb).toFixed(1)),
    input_nonfinite: i.nonFinite,
    input_refused: i.refused,
    input_queued: i.queuedSamples,
  };
}
