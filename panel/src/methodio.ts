// What the current method takes and gives, from the figures `status` reports for it
// (in_channels, in_ratio, out_channels, out_ratio: nn~'s method spec): a method at input
// ratio 1 takes audio, above 1 latent frames; an output ratio above 1 is a latent stream.
// The image model decodes a latent to a picture; a generic model streams nothing.
import type { SessionState, Status } from "./types.js";

export type MethodInput = "latent" | "audio" | "none";
export type MethodOutput = "audio" | "latent" | "image" | "none";

export interface MethodIO {
  method: string;
  input: MethodInput;
  output: MethodOutput;
  /** Latent dimensions or audio channels in. */
  inChannels: number;
  /** Audio or latent channels out. */
  outChannels: number;
}

export function methodIO(state: SessionState | null, status: Status): MethodIO {
  const method = state?.method ?? "";
  const latent = state?.latent.length ?? 0;
  if (!state || state.kind === "generic") return { method, input: latent ? "latent" : "none", output: "none", inChannels: latent, outChannels: 0 };
  if (state.kind === "image") return { method, input: latent ? "latent" : "none", output: "image", inChannels: latent, outChannels: 3 };
  if (status.method !== method || status.model !== state.model) {
    // status not polled since the change yet: a method without latents takes audio
    return { method, input: latent ? "latent" : "audio", output: "audio", inChannels: latent || 1, outChannels: 1 };
  }
  const num = (k: string) => Number(status[k] ?? 0);
  const inChannels = num("in_channels"), inRatio = num("in_ratio");
  const input: MethodInput = inChannels === 0 ? "none" : inRatio > 1 ? "latent" : "audio";
  return { method, input, output: num("out_ratio") > 1 ? "latent" : "audio", inChannels, outChannels: num("out_channels") };
}
