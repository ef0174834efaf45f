// The command table's parts: what a command needs from the session (CommandContext, an
// interface: the table never depends on the Session class), one command's spec, and the
// table, which takes only names the protocol declares and refuses a name twice.
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import type { BendingConfig } from "../bending/config.js";
import type { AttributeValue, MethodSpec } from "../nn/method-spec.js";
import { commandEffect, isCommandName, type Atom, type CommandEffect, type CommandName, type ModelKind } from "../protocol/index.js";
import type { LatentWalk } from "./latent-walk.js";
import type { PreviousState } from "./crossfade.js";
import type { Modulators } from "./modulators.js";
import type { StreamPeek } from "./block-renderer.js";

/** What commands need from a session. */
/** Where the Jitter matrices that arrive go: live audio (the default), or a buffer or tensor attribute (see attributes.ts). */
export type MatrixRoute = { kind: "audio" } | { kind: "buffer"; name: string; sampleRate: number } | { kind: "tensor"; name: string };

export interface CommandContext {
  /** The table this context runs (help lists it). */
  readonly commands: CommandTable;

  // the model, its method and nn~ attributes
  readonly bended: BendedModule | null;
  readonly modelName: string;
  readonly kind: ModelKind;
  readonly method: string;
  requireModel(): BendedModule;
  availableModels(): string[];
  loadModel(name: string, method?: string): Promise<void>;
  methods(): MethodSpec[];
  methodSpec(): MethodSpec | null;
  selectMethod(name: string): MethodSpec | null;
  readonly blockSamples: number;
  readonly blockFrames: number;
  attributeNames(): string[];
  getAttribute(name: string): AttributeValue;
  setAttribute(name: string, atoms: Atom[]): AttributeValue;
  resetState(): void;
  /** The real path of a workspace path (or, for reading, one in the models folder). */
  resolvePath(path: string, options?: { allowModels?: boolean }): string;
  loadConfigFile(name: string): BendingConfig;
  /** Where the Jitter matrices that arrive go (`matrix`; see attributes.ts). */
  matrixRoute: MatrixRoute;

  /** Applies a change the stream crossfades; `apply` returns whether anything changed. */
  changeWithCrossfade(apply: () => boolean, undo?: PreviousState): void;
  /** The controls' modulators (lfo, env, follow), evaluated once per block. */
  readonly modulators: Modulators;

  // the latent input
  readonly latent: number[];
  readonly walk: LatentWalk | null;
  setLatent(values: number[]): void;
  walkLatent(speed: number): void;
  holdLatent(): void;
  randomLatent(): number[];

  // output: files and the stream
  render(file: string, seconds: number): Promise<string>;
  /** The activations `names` as the next streamed block computes them (null: no audio stream). */
  peekNextBlock(names: string[]): Promise<StreamPeek | null>;
  /** Runs a WAV file through the current method into another. */
  renderAudio(inFile: string, outFile: string): Promise<string>;
  checkNotRendering(command: string): void;
  readonly streaming: boolean;
  /** The stream keeps 500 ms of blocks (at least 4) rendered ahead for `ms` of wall clock; false when nothing streams on a clock. */
  renderAheadFor(ms: number): boolean;
  startStream(): void;
  stopStream(): void;
  status(): Record<string, Atom>;
}

export interface CommandResult {
  values?: Atom[];
  dict?: unknown;
}

export interface CommandSpec {
  /** A name the protocol declares (protocol/commands.ts), with the command's effect. */
  name: CommandName;
  usage: string;
  help: string;
  /** Whether the command takes samples with its atoms (an OSC blob): `data` in run(). */
  takesData?: boolean;
  /**
   * Whether the command can hold the inference thread for several blocks (statistics over
   * every weight, say): a stream renders ahead while it runs, so that no block comes late.
   */
  long?: boolean;
  run(context: CommandContext, args: Atom[], data?: Float32Array): CommandResult | Promise<CommandResult>;
}

/** Commands by name, in the order they were registered. */
export class CommandTable {
  private readonly specs = new Map<string, CommandSpec>();

  /** Adds commands; refuses a name registered already (nothing is added then). */
  register(...specs: CommandSpec[]): this {
    const names = new Set<string>();
    for (const spec of specs) {
      if (!isCommandName(spec.name)) throw new BendingError(`command '${spec.name}' is not declared in protocol/commands.ts`);
      if (this.specs.has(spec.name) || names.has(spec.name)) throw new BendingError(`command '${spec.name}' is registered twice`);
      names.add(spec.name);
    }
    for (const spec of specs) this.specs.set(spec.name, spec);
    return this;
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  get(name: string): CommandSpec | undefined {
    return this.specs.get(name);
  }

  keys(): IterableIterator<string> {
    return this.specs.keys();
  }

  values(): IterableIterator<CommandSpec> {
    return this.specs.values();
  }

  get size(): number {
    return this.specs.size;
  }

  /** What a registered command does beyond its reply (declared in the protocol); with `args`, what this call does. */
  effect(name: string, args?: readonly Atom[]): CommandEffect | undefined {
    return this.specs.has(name) ? commandEffect(name, args) : undefined;
  }
}
