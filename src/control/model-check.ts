// A model is checked off to the side before it replaces the one playing: its stream
// method runs one block of silence (or a zero latent) and the output must have the
// shape and dtype the stream sends. A method that raises, runs past its budgets or
// outputs nothing (zero channels) is an error at load, never silence on the stream.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import type { BendedModule } from "../bended/bended-module.js";
import type { MethodSpec } from "../nn/method-spec.js";
import type { ModelKind } from "../protocol/session-state.js";

/** What the check needs of a model on its way in (a SessionModel). */
export interface StreamCandidate {
  readonly name: string;
  readonly kind: ModelKind;
  readonly method: string;
  require(): BendedModule;
  methodSpec(): MethodSpec | null;
  blockSamplesFor(spec: MethodSpec): number;
}

/**
 * The input one stream block of the model's current method takes with one voice (what the
 * check runs and what the native engine compiles for), or null for a model that never streams.
 */
export function streamInputShape(model: StreamCandidate & { readonly blockFrames: number }): number[] | null {
  const spec = model.methodSpec();
  if (model.kind === "generic") return null;
  if (spec) return [1, spec.inChannels, model.blockSamplesFor(spec) / spec.inRatio];
  const latentDim = Number(model.require().metadata.latent_dim ?? 0);
  return model.kind === "image" ? [1, latentDim] : [1, latentDim, model.blockFrames];
}

/** Runs one block through the model's current method and refuses an output the stream cannot send. */
export function checkStreamBlock(model: StreamCandidate): void {
  const bended = model.require();
  if (model.kind === "generic") return; // never streams: nothing to check
  const spec = model.methodSpec();
  const what = `model '${model.name}': method '${model.method}'`;
  let input: Tensor;
  let expected: (shape: number[]) => boolean;
  let wanted: string;
  if (spec) {
    const samples = model.blockSamplesFor(spec);
    if (spec.outChannels < 1) throw new BendingError(`${what} declares ${spec.outChannels} output channels; a stream needs at least 1`);
    input = tf.zeros([1, spec.inChannels, samples / spec.inRatio]); // streamInputShape
    const frames = samples / spec.outRatio;
    expected = (s) => s.length === 3 && s[0] === 1 && s[1] === spec.outChannels && s[2] === frames;
    wanted = formatShape([1, spec.outChannels, frames]);
  } else if (model.kind === "image") {
    input = tf.zeros([1, Number(bended.metadata.latent_dim ?? 0)]);
    expected = (s) => s.length === 4 && s[0] === 1 && s[1] === 3 && s[2] > 0 && s[3] > 0;
    wanted = "[1, 3, height, width]";
  } else return;
  let out: Tensor;
  try {
    out = bended.call(model.method, input) as Tensor;
  } finally {
    input.dispose();
  }
  try {
    if (!(out instanceof tf.Tensor)) throw new BendingError(`${what} returned no tensor; the stream needs ${wanted}`);
    if (out.shape.some((d) => d === 0)) throw new BendingError(`${what} outputs ${formatShape(out.shape)}: nothing to stream (zero ${out.shape[1] === 0 ? "channels" : "frames"})`);
    if (!expected(out.shape)) throw new BendingError(`${what} outputs ${formatShape(out.shape)}; the stream needs ${wanted}`);
    if (out.dtype !== "float32") throw new BendingError(`${what} outputs ${out.dtype}; the stream needs float32`);
  } finally {
    if (out instanceof tf.Tensor) out.dispose();
  }
}
