// What nn~ knows about a model, independent of where the model came from (a shipped
// tb.nn architecture or an interpreted TorchScript export): the methods it streams,
// with channel counts and ratios, its attributes, and its streaming state.
import type { Module } from "./module.js";

/**
 * One streamable method, as nn~ declares it (`<method>_params` = [inChannels, inRatio,
 * outChannels, outRatio]): `inRatio` input samples per step on the way in, `outRatio`
 * output samples per step on the way out. A decoder from latents: inRatio 2048, outRatio 1.
 */
export interface MethodSpec {
  name: string;
  inChannels: number;
  inRatio: number;
  outChannels: number;
  outRatio: number;
  inputLabels: string[];
  outputLabels: string[];
}

export type AttributeValue = boolean | number | string | (boolean | number | string)[];

/** An nn~ attribute (`get_<name>` / `set_<name>` on the model). */
export interface AttributeSpec {
  name: string;
  /** TorchScript-style type: "bool", "int", "float", "str", or a list/tuple of those. */
  type: string;
  value: AttributeValue;
  /** An enum's names (nn~: a str attribute whose setter accepts only the names of a List[str] attribute). */
  choices?: string[];
}

/** A module that nn~ could run: methods with ratios, attributes, and resettable streaming state. */
export interface NnTildeInterface {
  readonly methods: MethodSpec[];
  readonly attributes: AttributeSpec[];
  getAttribute(name: string): AttributeValue;
  setAttribute(name: string, value: AttributeValue): void;
  /** Restores the streaming state (caches) the model was loaded with. */
  resetState(): void;
  /** Optional: a copy of the current streaming state, to render a block twice from the same past. */
  snapshotState?(): unknown;
  /** Optional: puts a snapshotState() copy back (and frees it). */
  restoreState?(snapshot: unknown): void;
}

/** The module's nn~ interface, when it has one. */
export function nnTildeInterface(module: Module): NnTildeInterface | null {
  const m = module as Partial<NnTildeInterface>;
  return Array.isArray(m.methods) && Array.isArray(m.attributes) && typeof m.getAttribute === "function" &&
    typeof m.setAttribute === "function" && typeof m.resetState === "function"
    ? (module as unknown as NnTildeInterface)
    : null;
}
