// What an nn~ method must return for a stream to play it: one float32 tensor of shape
// [batch, outChannels, frames > 0], with the channels its `<method>_params` declare.
// A method that returns anything else (no channels, another rank, ints, a list) is an
// error where it is first traced or run, not a silent or broken stream.
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";
import type { MethodSpec } from "../nn/method-spec.js";

const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** Checks a method's declared `<method>_params` (positive whole channel counts and ratios). */
export function checkMethodParams(spec: MethodSpec, file: string): void {
  for (const key of ["inChannels", "inRatio", "outChannels", "outRatio"] as const) {
    const v = spec[key];
    if (!(Number.isInteger(v) && v > 0 && v <= 1 << 20)) {
      throw new BendingError(`${file}: nn~ method '${spec.name}' declares ${key} = ${v} in ${spec.name}_params; it must be a positive whole number`);
    }
  }
}

/** Checks one output of an nn~ method against its declaration, given the input it ran on. */
export function checkMethodOutput(spec: MethodSpec, input: unknown, output: unknown, file: string): void {
  const where = `${file}: nn~ method '${spec.name}'`;
  if (!(output instanceof tf.Tensor)) {
    const what = Array.isArray(output) ? "a list" : output === null ? "None" : typeof output;
    throw new BendingError(`${where} returned ${what}, not a tensor of shape [batch, ${spec.outChannels}, frames]`);
  }
  const shape = output.shape;
  if (shape.length >= 2 && shape[1] === 0) throw new BendingError(`${where} returned 0 channels (shape ${shapeText(shape)}); ${spec.name}_params declares ${spec.outChannels}`);
  // the rest holds for inputs as the method declares them (a patch may run it on others, as PyTorch would)
  if (!(input instanceof tf.Tensor && input.rank === 3 && input.shape[1] === spec.inChannels)) return;
  if (shape.length !== 3) throw new BendingError(`${where} returned a tensor of shape ${shapeText(shape)}; nn~ methods return [batch, ${spec.outChannels}, frames]`);
  if (output.dtype !== "float32") throw new BendingError(`${where} returned a ${output.dtype} tensor; a stream needs float32 samples`);
  if (shape[1] !== spec.outChannels) {
    throw new BendingError(`${where} returned ${shape[1]} channels (shape ${shapeText(shape)}); ${spec.name}_params declares ${spec.outChannels}`);
  }
  if (shape[0] !== input.shape[0]) throw new BendingError(`${where} returned a batch of ${shape[0]} for a batch of ${input.shape[0]}`);
  // frames are not checked against the ratios: exports such as RAVE's prior resample on their own
  if (shape[2] === 0) throw new BendingError(`${where} returned no frames (shape ${shapeText(shape)})`);
}
