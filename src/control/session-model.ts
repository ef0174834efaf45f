// The session's model: where models are found and loaded from, the method the stream
// runs (nn~'s methods with their channels and ratios), the block sizes that follow from
// it, and the model's nn~ attributes.
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import { BendingConfig } from "../bending/config.js";
import { load, MANIFEST } from "../load/load.js";
import { confinedPath } from "../formats/paths.js";
import { nnTildeInterface, type AttributeValue, type MethodSpec, type NnTildeInterface } from "../nn/method-spec.js";
import { streamingState, type StreamingState } from "../nn/streaming-state.js";
import { quoted, type Atom } from "../protocol/atoms.js";
import type { ModelKind } from "../protocol/session-state.js";
import { checkStreamBlock } from "./model-check.js";
import { attributeValue } from "./attribute-types.js";

/** The methods of a streaming model without an nn~ interface: its forward decodes latents to audio. */
function legacyAudioMethods(latentDim: number, ratio: number): MethodSpec[] {
  return [{ name: "forward", inChannels: latentDim, inRatio: ratio, outChannels: 1, outRatio: 1, inputLabels: [], outputLabels: [] }];
}

// Atoms as an attribute's value, by its printed type (tuples element by element): attribute-types.ts.
export { attributeValue } from "./attribute-types.js";

/** Bounds of the metadata numbers a stream allocates by (a model folder must not make it allocate gigabytes). */
const METADATA_BOUNDS: Record<string, [number, number]> = { latent_dim: [0, 4096], sample_rate: [1000, 768000], ratio: [1, 65536] };

function checkStreamMetadata(metadata: Record<string, string>, model: string): void {
  for (const [key, [lo, hi]] of Object.entries(METADATA_BOUNDS)) {
    if (metadata[key] === undefined) continue;
    const v = Number(metadata[key]);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new BendingError(`model '${quoted(model)}': metadata ${key} must be an integer in ${lo}..${hi}`);
  }
}

export interface SessionModelOptions {
  workspace: string;
  modelsDir: string;
  /** Requested samples per block (nn~'s buffer size). */
  bufferSize: number;
  imageFps: number;
  maxVersions: number;
}

/** A model read from disk, checked, not yet the session's. */
export interface OpenedModel {
  bended: BendedModule;
  name: string;
  path: string;
}

export interface PrepareOptions {
  /** The method to stream (default: the model's preferred one); an unknown name is refused. */
  method?: string;
  /** Awaited between the steps of a load, so that a stream playing meanwhile keeps its blocks on time. */
  between?: () => Promise<void>;
}

export class SessionModel {
  bended: BendedModule | null = null;
  name = "";
  kind: ModelKind = "generic";
  method = "forward";
  /** The folder or file the model was loaded from. */
  path = "";
  readonly workspace: string;
  readonly modelsDir: string;
  readonly bufferSize: number;
  readonly imageFps: number;
  readonly maxVersions: number;

  constructor(private readonly options: SessionModelOptions) {
    this.workspace = resolve(options.workspace);
    this.modelsDir = resolve(options.modelsDir);
    this.bufferSize = options.bufferSize;
    if (!(Number.isInteger(this.bufferSize) && this.bufferSize > 0)) throw new BendingError(`block size must be a positive whole number of samples, got ${this.bufferSize}`);
    this.imageFps = options.imageFps;
    this.maxVersions = options.maxVersions;
  }

  require(): BendedModule {
    if (!this.bended) throw new BendingError("no model loaded; send 'load <model>' (see 'models')");
    return this.bended;
  }

  /** Shipped and workspace models (folders with a tfbend.json). */
  available(): string[] {
    const found = new Set<string>();
    for (const dir of [this.modelsDir, this.workspace]) {
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && existsSync(join(dir, entry.name, MANIFEST))) found.add(entry.name);
        // nn~ TorchScript files in the workspace load by file name (load percussion.ts)
        if (dir === this.workspace && entry.isFile() && entry.name.endsWith(".ts")) found.add(entry.name);
      }
    }
    return [...found].sort();
  }

  /**
   * The real path of a path inside the workspace (or the models folder, for reading);
   * anything else is refused, links included (see io's confinedPath).
   */
  resolvePath(path: string, options: { allowModels?: boolean } = {}): string {
    const roots = [this.workspace, ...(options.allowModels ? [this.modelsDir] : [])];
    return confinedPath(path, roots, this.workspace, `path '${quoted(path)}'`);
  }

  /** Reads a model by name (models folder) or path, and checks the metadata a stream allocates by. */
  async open(name: string): Promise<OpenedModel> {
    let path: string;
    if (/^[\w.-]+$/.test(name) && existsSync(join(this.modelsDir, name, MANIFEST))) path = join(this.modelsDir, name);
    else path = this.resolvePath(name, { allowModels: true });
    const bended = await load(path, { roots: [this.workspace, this.modelsDir] });
    try {
      checkStreamMetadata(bended.metadata, name);
    } catch (e) {
      bended.dispose();
      bended.module.dispose();
      throw e;
    }
    return { bended, name, path };
  }

  /**
   * Reads, traces and checks a model off to the side (see model-check.ts): the result is a
   * model of its own with its stream method chosen and one block run, ready to `adopt`.
   * On any failure the new model is freed and this one is untouched.
   */
  async prepare(name: string, options: PrepareOptions = {}): Promise<SessionModel> {
    const between = options.between ?? (() => Promise.resolve());
    const opened = await this.open(name);
    const candidate = new SessionModel(this.options);
    try {
      await between();
      candidate.install(opened);
      const methods = candidate.methods();
      if (options.method !== undefined) {
        candidate.selectMethod(options.method); // refuses an unknown name, listing the methods
      } else if (methods.length > 0) {
        const preferred = String(opened.bended.metadata.method ?? "forward");
        candidate.selectMethod((methods.find((m) => m.name === preferred) ?? methods[0]).name);
      } else {
        // A model without declared methods streams (or traces) forward.
        candidate.method = "forward";
        if (!opened.bended.tracedMethods().includes("forward") && opened.bended.exampleShapes.has("forward")) opened.bended.trace("forward");
      }
      await between();
      checkStreamBlock(candidate);
      if (candidate.kind === "audio") candidate.streamingState?.resetState();
    } catch (e) {
      candidate.dispose();
      if (!candidate.bended) {
        opened.bended.dispose();
        opened.bended.module.dispose();
      }
      throw e;
    }
    return candidate;
  }

  /** Makes a prepared model this one (freeing the model before); `candidate` is empty afterwards. */
  adopt(candidate: SessionModel): void {
    this.dispose();
    this.bended = candidate.bended;
    this.name = candidate.name;
    this.kind = candidate.kind;
    this.method = candidate.method;
    this.path = candidate.path;
    candidate.bended = null;
  }

  /** Makes an opened model the session's (freeing the one before); every declared method gets an example shape at the block's size. */
  install({ bended, name, path }: OpenedModel): void {
    this.dispose();
    this.bended = bended;
    bended.maxVersions = this.maxVersions;
    this.name = name;
    this.path = path;
    this.kind = (bended.metadata.kind as ModelKind) ?? "generic";
    if (!["audio", "image"].includes(this.kind)) this.kind = nnTildeInterface(bended.module) ? "audio" : "generic";
    // Every declared method can be traced at the block's shape ('trace encode').
    for (const m of this.methods()) if (!bended.exampleShapes.has(m.name)) bended.exampleShapes.set(m.name, [[1, m.inChannels, this.blockSamplesFor(m) / m.inRatio]]);
  }

  get sampleRate(): number {
    return Number(this.bended?.metadata.sample_rate ?? 44100);
  }

  /** The model's nn~ interface (null for models without one). */
  get nnTilde(): NnTildeInterface | null {
    return this.bended ? nnTildeInterface(this.bended.module) : null;
  }

  /** What the model keeps from block to block while it streams (null: nothing). */
  get streamingState(): StreamingState | null {
    return this.bended ? streamingState(this.bended.module) : null;
  }

  /** The methods the stream can run, with channels and ratios (none for image and generic models). */
  methods(): MethodSpec[] {
    if (!this.bended || this.kind !== "audio") return [];
    return this.nnTilde?.methods ?? legacyAudioMethods(Number(this.bended.metadata.latent_dim ?? 0), Number(this.bended.metadata.ratio ?? 256));
  }

  /** The method the stream runs, with its ratios (null for image and generic models). */
  methodSpec(): MethodSpec | null {
    return this.methods().find((m) => m.name === this.method) ?? null;
  }

  /**
   * Makes `name` the method: with declared methods (nn~), only those, traced at the
   * block's shape so bendings drawn from traced shapes fit the blocks.
   */
  selectMethod(name: string): MethodSpec | null {
    const model = this.require();
    const methods = this.methods();
    if (methods.length === 0) {
      if (!model.tracedMethods().includes(name)) model.trace(name);
      this.method = name;
      return null;
    }
    const spec = methods.find((m) => m.name === name);
    if (!spec) throw new BendingError(`model '${this.name}' has no method '${name}' (methods: ${methods.map((m) => m.name).join(", ")})`);
    model.exampleShapes.set(name, [[1, spec.inChannels, this.blockSamplesFor(spec) / spec.inRatio]]);
    model.trace(name);
    this.method = name;
    return spec;
  }

  /** True when the current method takes audio (input ratio 1): the stream follows the input. */
  get takesAudio(): boolean {
    return this.methodSpec()?.inRatio === 1;
  }

  /** Samples per block for a method: the buffer size rounded up to a multiple of its largest ratio. */
  blockSamplesFor(spec: MethodSpec): number {
    const step = Math.max(1, spec.inRatio, spec.outRatio);
    return Math.ceil(this.bufferSize / step) * step;
  }

  /** Audio samples per block of the current method. */
  get blockSamples(): number {
    const spec = this.methodSpec();
    return spec ? this.blockSamplesFor(spec) : this.bufferSize;
  }

  /** Input frames per block of the current method (latent frames for decode, samples for forward). */
  get blockFrames(): number {
    const spec = this.methodSpec();
    return spec ? this.blockSamples / spec.inRatio : 1;
  }

  /** Duration of one block in ms (audio: samples / rate; image: one frame). */
  get blockMs(): number {
    return this.kind === "audio" ? (this.blockSamples / this.sampleRate) * 1000 : 1000 / this.imageFps;
  }

  /** Gain on decoded audio so the default walk plays at about -18 dBFS RMS (metadata `output_gain`, measured by a render). */
  get latentGain(): number {
    const gain = Number(this.bended?.metadata.output_gain ?? 1);
    return Number.isFinite(gain) && gain > 0 ? gain : 1;
  }

  attributeNames(): string[] {
    return this.nnTilde?.attributes.map((a) => a.name) ?? [];
  }

  getAttribute(name: string): AttributeValue {
    const nn = this.nnTilde;
    if (!nn || !nn.attributes.some((a) => a.name === name)) throw new BendingError(`unknown attribute '${name}'`);
    return nn.getAttribute(name);
  }

  /** The attribute `name`, its current value and the value `atoms` give it (checked against its declared type); nothing is set. */
  attributeChange(name: string, atoms: Atom[]): { nn: NnTildeInterface; old: AttributeValue; value: AttributeValue } {
    const nn = this.nnTilde;
    const spec = nn?.attributes.find((a) => a.name === name);
    if (!nn || !spec) throw new BendingError(`unknown attribute '${name}'`);
    const value = attributeValue(name, spec.type, atoms, spec.choices);
    return { nn, old: nn.getAttribute(name), value };
  }

  /** Loads a saved config from the workspace's configs folder. */
  loadConfigFile(name: string): BendingConfig {
    const model = this.require();
    return BendingConfig.load(this.resolvePath(join("configs", `${name}.json`)), model);
  }

  /** Frees the model: its bendings and versions, and the module the session loaded. */
  dispose(): void {
    if (!this.bended) return;
    this.bended.dispose();
    this.bended.module.dispose();
    this.bended = null;
  }
}
