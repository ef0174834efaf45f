// `render <file.wav> <seconds>` while the stream runs: the method rendered on a copy of the
// stream's state (its own streamed past, its own latent walk, its own safety stage), one
// block at a time in the room the stream leaves between its blocks, so that the stream goes
// on exactly as it would have without the render.
import { takeFloats, tf, type Tensor } from "../tf.js";
import type { BendedModule } from "../bended/bended-module.js";
import { SafetyStage } from "./safety.js";
import type { SessionModel } from "./session-model.js";
import type { LatentInput } from "./latent-input.js";
import type { BlockEngine, BlockStep } from "./block-engine.js";

export interface SideRenderSources {
  model: SessionModel;
  /** The render's own latent (see LatentInput.copyForRender): the stream's is left alone. */
  latent: LatentInput;
  engine: BlockEngine;
  safetyEnabled(): boolean;
  /** Milliseconds until the stream needs the thread for its next block (Infinity: no clock). */
  msUntilNextBlock(): number;
  /** Settles when the stream's next block is done (or after `ms`, when none comes). */
  nextStreamBlock(ms: number): Promise<void>;
}

/** Milliseconds kept free before the stream's next block is due, beyond the render block's own time. */
const SLACK_MS = 2;

/**
 * Waits until the stream leaves room for a block that takes `estimateMs`: now, if the next
 * block is not due before; otherwise right after the stream's next block. A render whose
 * blocks cost more than the room a block leaves still goes on (one block after each of the
 * stream's), and then makes the stream late.
 */
async function room(sources: SideRenderSources, estimateMs: number): Promise<void> {
  const wait = sources.msUntilNextBlock();
  if (!Number.isFinite(wait) || wait >= estimateMs + SLACK_MS) return;
  await sources.nextStreamBlock(wait + 2 * sources.model.blockMs);
  // after the stream has sent the block and set its next timer (they run before this)
  await new Promise((resolve) => setImmediate(resolve));
}

/** The streamed past of the render, apart from the stream's (a snapshot, restored around each block). */
class SideState {
  private own: (() => void) | null = null;
  private lastStep: BlockStep | null = null;

  constructor(
    private readonly model: SessionModel,
    private readonly engine: BlockEngine,
  ) {}

  /** Runs one block on `step` from the render's past (fresh at the first block); the stream's past is put back. */
  run(step: BlockStep, input: Tensor): Tensor {
    const theirs = step.save();
    try {
      if (this.own) this.own();
      else if (step.onTfjs) this.model.streamingState?.resetState();
      else this.engine.resetState();
      this.own = null;
      const out = step.call(input);
      this.own = step.save();
      this.lastStep = step;
      return out;
    } finally {
      theirs();
    }
  }

  /** Frees the render's past (restored once over the stream's, which is then put back). */
  dispose(): void {
    if (this.own === null || this.lastStep === null) return;
    const theirs = this.lastStep.save();
    this.own();
    theirs();
    this.own = null;
  }
}

/** The next block's input: the latent ramped from where it was (a method that takes latents) or silence (one that takes audio). */
function nextInput(model: SessionModel, latent: LatentInput): Tensor {
  const spec = model.methodSpec()!;
  if (spec.inRatio === 1) return tf.zeros([1, spec.inChannels, model.blockSamples]);
  latent.advance(model.blockMs / 1000);
  return tf.tensor(latent.ramp(model.blockFrames), [1, latent.target.length, model.blockFrames]);
}

/**
 * Renders `blocks` blocks of the session's method (mono audio out) into `out` beside the
 * stream. The modulators are moved by the stream alone: the render hears the controls as
 * they are at each of its blocks.
 */
export async function renderBesideStream(sources: SideRenderSources, blocks: number, out: Float32Array): Promise<void> {
  const { model: session, engine } = sources;
  const model: BendedModule = session.require();
  const method = session.method;
  const blockSamples = session.blockSamples;
  const safety = new SafetyStage();
  const state = new SideState(session, engine);
  let estimateMs = 0;
  try {
    for (let b = 0; b < blocks; b++) {
      await room(sources, estimateMs);
      const t0 = performance.now();
      const input = nextInput(session, sources.latent);
      let result: Tensor;
      try {
        result = state.run(engine.sideStep(model, method, input.shape), input);
      } finally {
        input.dispose();
      }
      const data = await takeFloats(result);
      if (session.methodSpec()?.inRatio !== 1 && session.latentGain !== 1) for (let i = 0; i < data.length; i++) data[i] *= session.latentGain;
      if (sources.safetyEnabled()) safety.process(data);
      out.set(data.subarray(0, blockSamples), b * blockSamples);
      estimateMs = Math.max(estimateMs * 0.9, performance.now() - t0);
      // other commands are answered between the render's blocks
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    state.dispose();
  }
}
