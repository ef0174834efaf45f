// The session as the `state` command describes it (the panel draws from it).

export type ModelKind = "audio" | "image" | "generic";

export interface SessionState {
  model: string | null;
  kind: ModelKind;
  method: string;
  /** Traced methods. */
  methods: string[];
  latent: number[];
  blockFrames: number;
  version: string | null;
  versions: string[];
  interpolation: Record<string, number> | null;
  streaming: boolean;
  configs: string[];
}
