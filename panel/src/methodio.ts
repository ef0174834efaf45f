// What the current method takes and gives, from its nn~ spec (the `method` query): a
// method at input ratio 1 takes audio, above 1 latent frames; an output ratio above 1 is
// a latent stream. The image model decodes a latent to a picture; a generic model streams nothing.
import type { SessionState } from "./types.js";

/** One method as `method` (no argument) lists it. */
export interface MethodSpec {
  name: string;
  inChannels: number;
  inRatio: number;
  outChannels: number;
  outRatio: number;
  inputLabels: string[];
  outputLabels: string[];
}

export type MethodInput = "latent" | "audio" | "none";
export type MethodOutput = "audio" | "latent" | "image" | "none";

export interface MethodIO {
  method: string;
  input: MethodInput;
  output: MethodOutput;
  /** Latent dimensions in, audio channels in, or latent channels out. */
  inChannels: number;
  outChannels: number;
  /** Output frames per audio sample (1/outRatio) for a latent output. */
  outRatio: number;
}

export function methodIO(state: SessionState | null, specs: readonly MethodSpec[]): MethodIO {
  const method = state?.method ?? "";
  const latent = state?.latent.length ?? 0;
  if (!state || state.kind === "generic") return { method, input: latent ? "latent" : "none", output: "none", inChannels: latent, outChannels: 0, outRatio: 1 };
  if (state.kind === "image") return { method, input: latent ? "latent" : "none", output: "image", inChannels: latent, outChannels: 3, outRatio: 1 };
  const spec = specs.find((m) => m.name === method);
  if (!spec) return { method, input: latent ? "latent" : "none", output: "audio", inChannels: latent, outChannels: 1, outRatio: 1 };
  const input: MethodInput = spec.inChannels === 0 ? "none" : spec.inRatio > 1 ? "latent" : "audio";
  return { method, input, output: spec.outRatio > 1 ? "latent" : "audio", inChannels: spec.inChannels, outChannels: spec.outChannels, outRatio: spec.outRatio };
}

/** Methods of the model that take audio (for the Input box). */
export function audioMethods(specs: readonly MethodSpec[]): string[] {
  return specs.filter((m) => m.inChannels > 0 && m.inRatio === 1).map((m) => m.name);
}
