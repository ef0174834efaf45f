// The Session: one loaded model, its bendings, versions and live controls, and the
// output stream. Every transport (Max, OSC, WebSocket) ends in Session.execute with
// the same atoms, and gets the same reply or error.
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { backend, backendInfo } from "../backend.js";
import { BendedModule, type WeightPin } from "../bended/bended-module.js";
import { DEFAULT_MAX_VERSIONS } from "../bended/versions.js";
import { BendingConfig } from "../bending/config.js";
import { load, MANIFEST } from "../load/load.js";
import { confinedPath } from "../formats/paths.js";
import { writePng, writeWav } from "../formats/media.js";
import { restoreStream, setStreaming, snapshotStream } from "../zoo/audio.js";
import { nnTildeInterface, type AttributeValue, type MethodSpec, type NnTildeInterface } from "../nn/method-spec.js";
import { atomsProblem, quoted, type Atom } from "./atoms.js";
import { COMMANDS, type CommandContext } from "./commands.js";
import { SafetyStage } from "./safety.js";
import { WindowedQuantiles } from "../util/stats.js";
import { LatentWalk, latentStatistics } from "./latent-walk.js";
import { AudioInput, wallClockMs, type AudioChunk, type AudioInputOptions } from "./audio-input.js";

export interface Reply {
  command: string;
  ok: boolean;
  /** `ok <command> ...values` or `error <command> <message>` */
  values: Atom[];
  /** Structured metadata (weights, graph, controls) for Max dicts and JSON clients. */
  dict?: unknown;
}

/**
 * One block of output. Audio: `data` holds `frames` samples per channel (channel after
 * channel); latent (a method whose output ratio is above 1, e.g. encode): `frames` frames
 * of `channels` values, channel after channel; image: interleaved RGB.
 */
export interface OutputBlock {
  stream: "audio" | "image" | "latent";
  seq: number;
  sampleRate: number;
  frames: number;
  channels: number;
  width: number;
  height: number;
  data: Float32Array;
}

export interface SessionOptions {
  /** Folder that load/save/render paths must stay inside. */
  workspace: string;
  /** Folder of shipped models (each a tfbend folder). */
  modelsDir: string;
  /**
   * Audio samples per block (nn~'s buffer size), default 2048; each method's block is this
   * rounded up to a multiple of its largest ratio.
   */
  blockSamples?: number;
  /** Older form of blockSamples: latent frames of 256 samples (8 → 2048). */
  blockFrames?: number;
  /** Live input: jitter buffer depth, when a sender counts as late or stopped. */
  input?: AudioInputOptions;
  /** Frames per second of the image stream. */
  imageFps?: number;
  safety?: boolean;
  /** Versions a model may store (each a copy of its weights); `write` refuses one more. */
  maxVersions?: number;
}

export type ModelKind = "audio" | "image" | "generic";

/** The methods of a streaming model without an nn~ interface: its forward decodes latents to audio. */
function legacyAudioMethods(latentDim: number, ratio: number): MethodSpec[] {
  return [{ name: "forward", inChannels: latentDim, inRatio: ratio, outChannels: 1, outRatio: 1, inputLabels: [], outputLabels: [] }];
}

/** Atoms as the value of an nn~ attribute of `type` ("bool", "int", "float", "str", or a list of those). */
function attributeValue(name: string, type: string, atoms: Atom[]): AttributeValue {
  if (atoms.length === 0) throw new BendingError(`missing value for attribute '${name}'`);
  const list = /^(list|tuple)\b|\[/i.test(type);
  const element = (list ? type.replace(/^(list|tuple)\s*\[?|\]$/gi, "").split(",")[0] : type).trim().toLowerCase() || "float";
  const one = (a: Atom): boolean | number | string => {
    if (element === "str" || element === "string") return String(a);
    if (typeof a !== "number" || !Number.isFinite(a)) throw new BendingError(`attribute '${name}' takes ${type}, got '${a}'`);
    if (element === "bool") return a !== 0;
    if (element === "int" && !Number.isInteger(a)) throw new BendingError(`attribute '${name}' takes an int, got ${a}`);
    return a;
  };
  if (list) return atoms.map(one);
  if (atoms.length > 1) throw new BendingError(`attribute '${name}' takes one ${type} value, got ${atoms.length}`);
  return one(atoms[0]);
}

interface StreamStats {
  blocks: number;
  dropped: number;
  /** Real-time factors of the last 1,024 blocks (O(1) per block; quantiles from a fixed histogram). */
  rtf: WindowedQuantiles;
}

function newStats(): StreamStats {
  return { blocks: 0, dropped: 0, rtf: new WindowedQuantiles(1024) };
}

/** Commands after which the stream's output jumps (declicked at the next block). */
const OUTPUT_CHANGING = new Set(["bend", "unbend", "reset", "set", "write", "version", "interpolate", "config", "method", "load"]);

/** Mixes `from` into `to` in place, fading from all `from` to all `to` across the block. */
export function crossfade(from: Float32Array, to: Float32Array): void {
  const n = to.length;
  for (let i = 0; i < n; i++) {
    const a = n > 1 ? i / (n - 1) : 1;
    to[i] = from[i] * (1 - a) + to[i] * a;
  }
}

/** Runs a model computation under the state the output had before a change (what the weights do not hold: a control's old value, an attribute). */
export type PreviousState = (compute: () => Tensor) => Tensor;

/** What the next streamed block crossfades from: the weights the last block used, and how to undo the rest. */
interface CrossfadeSource {
  weights: WeightPin;
  undo: PreviousState | null;
}

/** Samples over which a jump at a block join is faded out. */
export const DECLICK_SAMPLES = 128;

/**
 * Removes the step between the previous block's last sample and this block's start by
 * fading an offset out over the first samples, so a change of bending never clicks.
 */
export function declick(block: Float32Array, previous: number): void {
  const step = previous - block[0];
  const n = Math.min(DECLICK_SAMPLES, block.length);
  for (let i = 0; i < n; i++) block[i] += step * (1 - i / n);
}

/** Bounds of the metadata numbers a stream allocates by (a model folder must not make it allocate gigabytes). */
const METADATA_BOUNDS: Record<string, [number, number]> = { latent_dim: [0, 4096], sample_rate: [1000, 768000], ratio: [1, 65536] };

function checkStreamMetadata(metadata: Record<string, string>, model: string): void {
  for (const [key, [lo, hi]] of Object.entries(METADATA_BOUNDS)) {
    if (metadata[key] === undefined) continue;
    const v = Number(metadata[key]);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new BendingError(`model '${quoted(model)}': metadata ${key} must be an integer in ${lo}..${hi}`);
  }
}

export class Session implements CommandContext {
  bended: BendedModule | null = null;
  modelName = "";
  kind: ModelKind = "generic";
  method = "forward";
  /** The folder or file the model was loaded from. */
  modelPath = "";
  readonly workspace: string;
  readonly modelsDir: string;
  /** Requested samples per block (nn~'s buffer size). */
  readonly bufferSize: number;
  readonly imageFps: number;
  safetyEnabled: boolean;
  readonly maxVersions: number;
  private readonly safety = new SafetyStage();
  /** Set by commands that change the output; the next streamed block is declicked. */
  private outputChanged = false;
  private crossfadeFrom: CrossfadeSource | null = null;
  /** When the latent-driven stream's next block starts (performance.now() ms). */
  private nextTickAt = 0;
  private lastSample: number | null = null;
  /** Latent the stream decodes (target) and the one it last reached (for smooth ramps). */
  latent: number[] = [];
  private latentReached: number[] = [];
  /** The latent walk the stream follows (`input walk` / `input hold`); models with latent statistics walk from the start. */
  walk: LatentWalk | null = null;
  private readonly listeners = new Set<(block: OutputBlock) => void>();
  private readonly errorListeners = new Set<(reply: Reply) => void>();
  private readonly noticeListeners = new Set<(reply: Reply) => void>();
  private streamTimer: NodeJS.Timeout | null = null;
  private streamStart = 0;
  private streamGeneration = 0;
  private rendering = false;
  private loading = false;
  private seq = 0;
  private stats: StreamStats = newStats();
  /** Live audio for methods that take audio (jitter buffer, sender, counters). */
  readonly input: AudioInput;
  /** Arrival of the first sample of the input block being rendered (null: silence). */
  private inputArrival: number | null = null;
  /** Input latency of the last 1,024 blocks (ms; O(1) per block like the RTF). */
  private inputLatencyMs = new WindowedQuantiles(1024, 0.01, 1e5);
  private pumping = false;
  /** When the input-driven stream last sent a block (wall clock), for underrun detection. */
  private lastInputBlockAt: number | null = null;

  constructor(options: SessionOptions) {
    this.workspace = resolve(options.workspace);
    this.modelsDir = resolve(options.modelsDir);
    this.input = new AudioInput(options.input);
    this.bufferSize = options.blockSamples ?? (options.blockFrames !== undefined ? options.blockFrames * 256 : 2048);
    if (!(Number.isInteger(this.bufferSize) && this.bufferSize > 0)) throw new BendingError(`block size must be a positive whole number of samples, got ${this.bufferSize}`);
    this.imageFps = options.imageFps ?? 25;
    this.safetyEnabled = options.safety ?? true;
    this.maxVersions = options.maxVersions ?? DEFAULT_MAX_VERSIONS;
  }

  /** Runs one command; never throws: errors become `error <command> <message>`. */
  async execute(atoms: Atom[]): Promise<Reply> {
    const [head, ...args] = atoms;
    const command = typeof head === "string" ? head : String(head ?? "");
    const problem = atomsProblem(atoms);
    if (problem) return { command: COMMANDS.has(command) ? command : "?", ok: false, values: [problem] };
    const spec = COMMANDS.get(command);
    if (!spec) {
      return { command: command ? quoted(command, 40) : "?", ok: false, values: [`unknown command '${quoted(command)}'; send 'help' for the list`] };
    }
    try {
      const result = await spec.run(this, args);
      if (OUTPUT_CHANGING.has(command)) this.outputChanged = true;
      return { command, ok: true, values: result.values ?? [], dict: result.dict };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof BendingError)) console.error(`tfbend: ${command} failed:`, e);
      return { command, ok: false, values: [message] };
    }
  }

  /**
   * Applies a change the stream crossfades (a control, an attribute, a version, an
   * interpolation): the next block is rendered under the old state too and mixed into the
   * new one. The old weights are pinned as the last block used them (no recomputation);
   * `undo` restores for that render what weights do not hold. Several changes between two
   * blocks compose, so "old" is always the state of the last block. `apply` returns whether
   * anything changed; if it throws, nothing did.
   */
  changeWithCrossfade(apply: () => boolean, undo?: PreviousState): void {
    if (!this.streaming || this.kind !== "audio" || !this.bended) {
      apply();
      return;
    }
    const pending = this.crossfadeFrom;
    const weights = pending?.weights ?? this.bended.pinWeights();
    let changed: boolean;
    try {
      changed = apply();
    } catch (e) {
      if (!pending) weights.dispose();
      throw e;
    }
    if (!changed) {
      if (!pending) weights.dispose();
      return;
    }
    // Undo the newest change first, then the older ones.
    const older = pending?.undo ?? null;
    const newest = undo ?? null;
    this.crossfadeFrom = { weights, undo: newest && older ? (compute) => newest(() => older(compute)) : (newest ?? older) };
  }

  /**
   * Milliseconds until the stream needs this thread for its next block: 0 while one is due
   * or rendering, Infinity when nothing streams on a clock. Commands wait for the block.
   */
  msUntilNextBlock(): number {
    if (this.streamTimer === null) return Infinity;
    if (this.takesAudio) return this.pumping || this.input.queuedSamples >= this.blockSamples ? 0 : Infinity;
    return Math.max(0, this.nextTickAt - performance.now());
  }

  private dropCrossfade(): void {
    this.crossfadeFrom?.weights.dispose();
    this.crossfadeFrom = null;
  }

  /** News nobody asked for that is not an error (a sender of live audio stopped). */
  onNotice(listener: (reply: Reply) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }

  /** Errors nobody asked for (the stream stopping on a bending that fails at run time). */
  onError(listener: (reply: Reply) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  onBlock(listener: (block: OutputBlock) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- models --------------------------------------------------------------------

  requireModel(): BendedModule {
    if (!this.bended) throw new BendingError("no model loaded; send 'load <model>' (see 'models')");
    return this.bended;
  }

  /** Shipped and workspace models (folders with a tfbend.json). */
  availableModels(): string[] {
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

  async loadModel(name: string): Promise<void> {
    this.checkNotRendering("load");
    this.loading = true;
    try {
      await this.swapModel(name);
    } finally {
      this.loading = false;
    }
  }

  private async swapModel(name: string): Promise<void> {
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
    const wasStreaming = this.streamTimer !== null;
    this.stopStream();
    this.disposeModel();
    this.bended = bended;
    bended.maxVersions = this.maxVersions;
    this.modelName = name;
    this.modelPath = path;
    this.kind = (bended.metadata.kind as ModelKind) ?? "generic";
    if (!["audio", "image"].includes(this.kind)) this.kind = nnTildeInterface(bended.module) ? "audio" : "generic";
    if (this.kind === "audio") setStreaming(bended.module, true);
    this.safety.reset();
    const methods = this.methods();
    // Every declared method can be traced at the block's shape ('trace encode').
    for (const m of methods) if (!bended.exampleShapes.has(m.name)) bended.exampleShapes.set(m.name, [[1, m.inChannels, this.blockSamplesFor(m) / m.inRatio]]);
    if (methods.length > 0) {
      const preferred = String(bended.metadata.method ?? "forward");
      this.selectMethod((methods.find((m) => m.name === preferred) ?? methods[0]).name);
    } else {
      this.method = "forward";
      if (!bended.tracedMethods().includes("forward") && bended.exampleShapes.has("forward")) bended.trace("forward");
      this.latent = new Array<number>(Number(bended.metadata.latent_dim ?? 0)).fill(0);
      this.latentReached = [...this.latent];
    }
    const stats = latentStatistics(bended.metadata, this.latent.length);
    this.walk = stats && this.kind !== "generic" ? new LatentWalk(stats) : null;
    if (this.walk) {
      this.latent = this.walk.position;
      this.latentReached = [...this.latent];
    }
    if (wasStreaming && this.kind !== "generic") this.startStream();
  }

  get sampleRate(): number {
    return Number(this.bended?.metadata.sample_rate ?? 44100);
  }

  /** The model's nn~ interface (null for models without one). */
  get nnTilde(): NnTildeInterface | null {
    return this.bended ? nnTildeInterface(this.bended.module) : null;
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
   * Chooses the method the stream runs. With declared methods (nn~), only those; the method
   * is traced at the block's shape so bendings drawn from traced shapes fit the blocks.
   */
  selectMethod(name: string): MethodSpec | null {
    const model = this.requireModel();
    const methods = this.methods();
    if (methods.length === 0) {
      if (!model.tracedMethods().includes(name)) model.trace(name);
      this.method = name;
      return null;
    }
    const spec = methods.find((m) => m.name === name);
    if (!spec) throw new BendingError(`model '${this.modelName}' has no method '${name}' (methods: ${methods.map((m) => m.name).join(", ")})`);
    const samples = this.blockSamplesFor(spec);
    model.exampleShapes.set(name, [[1, spec.inChannels, samples / spec.inRatio]]);
    model.trace(name);
    const tookAudio = this.takesAudio;
    this.method = name;
    this.input.release();
    // Audio-driven and latent-driven streams run on different clocks: restart on a switch.
    if (this.streaming && tookAudio !== this.takesAudio) {
      this.stopStream();
      this.startStream();
    }
    // Latent input (ratio above 1): one value per input channel, kept across method switches when it fits.
    const latentDim = spec.inRatio > 1 ? spec.inChannels : 0;
    if (this.latent.length !== latentDim) {
      this.latent = new Array<number>(latentDim).fill(0);
      this.latentReached = [...this.latent];
    }
    this.safety.reset();
    this.lastSample = null;
    return spec;
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

  /** Restores the model's streaming state (nn~ models: resetState; others: the causal convolutions' past). */
  resetState(): void {
    const model = this.requireModel();
    this.checkNotRendering("reset state");
    const nn = this.nnTilde;
    if (nn) nn.resetState();
    else setStreaming(model.module, this.kind === "audio");
  }

  attributeNames(): string[] {
    return this.nnTilde?.attributes.map((a) => a.name) ?? [];
  }

  getAttribute(name: string): AttributeValue {
    const nn = this.nnTilde;
    if (!nn || !nn.attributes.some((a) => a.name === name)) throw new BendingError(`unknown attribute '${name}'`);
    return nn.getAttribute(name);
  }

  /** Sets an nn~ attribute from atoms (checked against its declared type); returns the value set. */
  setAttribute(name: string, atoms: Atom[]): AttributeValue {
    const nn = this.nnTilde;
    const spec = nn?.attributes.find((a) => a.name === name);
    if (!nn || !spec) throw new BendingError(`unknown attribute '${name}'`);
    const value = attributeValue(name, spec.type, atoms);
    const old = nn.getAttribute(name);
    this.changeWithCrossfade(() => {
      nn.setAttribute(name, value);
      return true;
    }, (compute) => {
      nn.setAttribute(name, old);
      try {
        return compute();
      } finally {
        nn.setAttribute(name, value);
      }
    });
    return value;
  }

  /** Duration of one block in ms (audio: samples / rate; image: one frame). */
  get blockMs(): number {
    return this.kind === "audio" ? (this.blockSamples / this.sampleRate) * 1000 : 1000 / this.imageFps;
  }

  setLatent(values: number[]): void {
    this.requireModel();
    if (this.latent.length === 0) throw new BendingError(`model '${this.modelName}' takes no latent input`);
    if (values.length !== this.latent.length) {
      throw new BendingError(`input takes ${this.latent.length} latent values, got ${values.length}`);
    }
    if (!values.every((v) => Number.isFinite(v))) throw new BendingError("input values must be finite numbers");
    this.latent = values;
    if (this.walk) this.walk.walking = false;
  }

  /** The walk for `input walk` (over N(0, 1) where the model declares no latent statistics). */
  private requireWalk(): LatentWalk {
    this.requireModel();
    if (this.latent.length === 0) throw new BendingError(`model '${this.modelName}' takes no latent input`);
    if (this.walk?.stats.mean.length !== this.latent.length) {
      this.walk = new LatentWalk({ mean: this.latent.map(() => 0), std: this.latent.map(() => 1) }, { walking: false });
    }
    return this.walk;
  }

  /** `input walk <speed>`: the latent wanders from where it is (speed in 1/s). */
  walkLatent(speed: number): void {
    this.requireWalk().walk(speed, this.latent);
  }

  /** `input hold`: the latent stays where the walk has brought it. */
  holdLatent(): void {
    this.requireWalk().walking = false;
  }

  /** Gain on decoded audio so the default walk plays at about -18 dBFS RMS (metadata `output_gain`, measured by a render). */
  private get latentGain(): number {
    const gain = Number(this.bended?.metadata.output_gain ?? 1);
    return Number.isFinite(gain) && gain > 0 ? gain : 1;
  }

  // --- rendering -------------------------------------------------------------------

  /** Audio input for the next block: `channels` × `samples`, channel after channel (silence without a sender). */
  private audioInput(channels: number, samples: number): Float32Array {
    const taken = this.streaming ? this.input.take(samples) : null;
    this.inputArrival = taken?.arrival ?? null;
    return taken && taken.data.length === channels * samples ? taken.data : new Float32Array(channels * samples);
  }

  /** True when the current method takes audio (input ratio 1): the stream follows the input. */
  get takesAudio(): boolean {
    return this.methodSpec()?.inRatio === 1;
  }

  /**
   * Audio from a sender for the running method; a reply is an error only when the chunk is
   * refused (nothing queued: the stream is stopped, the method takes latents, another sender
   * is sending, the rate or channels differ). Never throws.
   */
  receiveAudio(chunk: AudioChunk): Reply {
    try {
      const spec = this.methodSpec();
      if (!spec || spec.inRatio !== 1) {
        this.input.refused++;
        const methods = this.methods().filter((m) => m.inRatio === 1).map((m) => m.name);
        throw new BendingError(`method '${this.method}' does not take audio${methods.length ? ` (methods that do: ${methods.join(", ")})` : ""}`);
      }
      if (!this.streaming) {
        this.input.refused++;
        throw new BendingError("the stream is stopped; send 'stream start' (or 'enable 1') to process audio input");
      }
      this.input.push(chunk, { sampleRate: this.sampleRate, channels: spec.inChannels, blockSamples: this.blockSamples });
      void this.pumpInput();
      return { command: "audio_in", ok: true, values: [] };
    } catch (e) {
      return { command: "audio_in", ok: false, values: [e instanceof Error ? e.message : String(e)] };
    }
  }

  /** Renders every full input block queued, one after another, while the next ones arrive. */
  private async pumpInput(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const generation = this.streamGeneration;
    try {
      while (this.streaming && generation === this.streamGeneration && this.takesAudio && this.input.queuedSamples >= this.blockSamples) {
        const t0 = performance.now();
        let block: OutputBlock;
        try {
          block = await this.renderBlock();
        } catch (e) {
          this.failStream(e, generation);
          return;
        }
        if (generation !== this.streamGeneration) return;
        this.noteBlock(performance.now() - t0);
        const arrival = this.inputArrival;
        this.emit(block);
        const now = wallClockMs();
        this.lastInputBlockAt = now;
        if (arrival !== null) {
          const latency = now - arrival;
          this.inputLatencyMs.add(latency);
          // Its last sample came a block after its first; later than one more block and it missed its slot.
          if (latency > 2 * this.blockMs) this.stats.dropped++;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Checks the input-driven stream twice a block: a sender that stopped is let go (its
   * partial block dropped, the output simply ends); a sender that is late by more than a
   * block gets a block of silence in its place (an underrun).
   */
  private watchInput(generation: number): void {
    if (generation !== this.streamGeneration || this.streamTimer === null) return;
    const now = wallClockMs();
    if (this.takesAudio && this.input.owner !== null) {
      if (!this.input.active(now)) {
        const source = this.input.owner;
        this.input.release();
        for (const l of this.noticeListeners) l({ command: "audio_in", ok: true, values: ["stopped", source] });
        this.lastInputBlockAt = null;
        this.outputChanged = true; // declick when audio comes back
      } else if (this.lastInputBlockAt !== null && now - this.lastInputBlockAt > (1 + this.input.lateBlocks) * this.blockMs && this.input.queuedSamples < this.blockSamples && !this.pumping) {
        this.input.underruns++;
        this.lastInputBlockAt += this.blockMs;
        const spec = this.methodSpec()!;
        const frames = this.blockSamples / spec.outRatio;
        const data = new Float32Array(spec.outChannels * frames);
        if (spec.outRatio === 1) {
          if (this.safetyEnabled) this.safety.process(data);
          this.emit({ stream: "audio", seq: this.seq++, sampleRate: this.sampleRate, frames, channels: spec.outChannels, width: 0, height: 0, data });
        } else {
          this.emit({ stream: "latent", seq: this.seq++, sampleRate: this.sampleRate / spec.outRatio, frames, channels: spec.outChannels, width: 0, height: 0, data });
        }
        this.lastSample = 0;
        this.outputChanged = true;
      }
    }
    this.streamTimer = setTimeout(() => this.watchInput(generation), Math.max(5, this.blockMs / 2));
  }

  private emit(block: OutputBlock): void {
    for (const l of this.listeners) l(block);
  }

  private noteBlock(ms: number): void {
    this.stats.blocks++;
    this.stats.rtf.add(ms / this.blockMs);
  }

  private failStream(e: unknown, generation: number): void {
    const message = `stream stopped: ${(e as Error).message}`;
    console.error(`tfbend: ${message}`);
    if (generation !== this.streamGeneration) return; // stopped meanwhile: not this stream's error
    this.stopStream();
    for (const l of this.errorListeners) l({ command: "stream", ok: false, values: [message] });
  }

  /** The next block's model input: audio for methods at ratio 1, else the latent ramped from where it was to the target. */
  private nextInput(): Tensor {
    const z = this.latent.length;
    const spec = this.methodSpec();
    if (this.walk?.walking && this.walk.stats.mean.length === z && !(spec && spec.inRatio === 1)) this.latent = this.walk.step(this.blockMs / 1000);
    if (spec && spec.inRatio === 1) {
      const samples = this.blockSamples;
      return tf.tensor(this.audioInput(spec.inChannels, samples), [1, spec.inChannels, samples]);
    }
    if (this.kind === "audio") {
      const frames = this.blockFrames;
      const data = new Float32Array(z * frames);
      for (let c = 0; c < z; c++) {
        for (let f = 0; f < frames; f++) {
          const a = (f + 1) / frames;
          data[c * frames + f] = this.latentReached[c] * (1 - a) + this.latent[c] * a;
        }
      }
      this.latentReached = [...this.latent];
      return tf.tensor(data, [1, z, frames]);
    }
    this.latentReached = [...this.latent];
    return tf.tensor([this.latent], [1, z]);
  }

  /** Computes one block with the current bendings, controls and version; audio goes through `safety` when enabled. */
  async renderBlock(safety: SafetyStage = this.safety): Promise<OutputBlock> {
    const model = this.requireModel();
    if (this.kind === "generic") throw new BendingError(`model '${this.modelName}' is not an audio or image model; it cannot stream`);
    const input = this.nextInput();
    let data: Float32Array;
    let shape: number[];
    let before: Float32Array | null = null;
    const pending = this.crossfadeFrom;
    this.crossfadeFrom = null;
    const from = this.kind === "audio" && this.streaming ? pending : null;
    if (from === null) pending?.weights.dispose();
    try {
      if (from) {
        // The same block under the state before the change, from the same streamed past.
        const snapshot = snapshotStream(model.module);
        const nn = this.nnTilde;
        const state = nn?.snapshotState?.();
        let old: Tensor;
        try {
          const compute = () => model.call(this.method, input) as Tensor;
          old = model.withPinnedWeights(from.weights, () => (from.undo ? from.undo(compute) : compute()));
        } finally {
          restoreStream(snapshot);
          if (state !== undefined) nn!.restoreState!(state);
        }
        try {
          before = Float32Array.from((await old.data()) as Float32Array);
        } finally {
          old.dispose();
        }
      }
      const out = model.call(this.method, input) as Tensor;
      shape = out.shape;
      // Read back asynchronously: GPU backends cannot read synchronously in Node.
      const readable = this.kind === "image" ? tf.tidy(() => tf.transpose(out, [0, 2, 3, 1])) : out;
      try {
        data = Float32Array.from((await readable.data()) as Float32Array);
      } finally {
        readable.dispose();
        out.dispose();
      }
    } finally {
      input.dispose();
      from?.weights.dispose();
    }
    if (before !== null) crossfade(before, data);
    const spec = this.methodSpec();
    if (spec && spec.outRatio > 1) {
      const [, channels, frames] = shape;
      return { stream: "latent", seq: this.seq++, sampleRate: this.sampleRate / spec.outRatio, frames, channels, width: 0, height: 0, data };
    }
    if (this.kind === "audio") {
      if (!(spec && spec.inRatio === 1) && this.latentGain !== 1) for (let i = 0; i < data.length; i++) data[i] *= this.latentGain;
      if (this.streaming) {
        // Declick before the safety stage, on the raw signal the previous block ended with.
        if (this.outputChanged && this.lastSample !== null) declick(data, this.lastSample);
        this.outputChanged = false;
        this.lastSample = data[data.length - 1];
      }
      const channels = shape[1] ?? 1;
      if (this.safetyEnabled) safety.process(data);
      return { stream: "audio", seq: this.seq++, sampleRate: this.sampleRate, frames: data.length / channels, channels, width: 0, height: 0, data };
    }
    const [, , height, width] = shape;
    return { stream: "image", seq: this.seq++, sampleRate: 0, frames: 1, channels: 3, width, height, data };
  }

  /** Renders `seconds` of audio (or one image) into a workspace file. */
  async render(file: string, seconds: number): Promise<string> {
    this.checkNotRendering("render");
    const model = this.requireModel();
    const path = this.resolvePath(file);
    if (this.kind === "image") {
      if (!path.endsWith(".png")) throw new BendingError("the image model renders PNG files: render <file.png>");
      const block = await this.renderBlock();
      await writePng(path, block.data, block.width, block.height);
      return path;
    }
    if (this.kind !== "audio") throw new BendingError(`model '${this.modelName}' cannot render`);
    if (!path.endsWith(".wav")) throw new BendingError("render writes WAV files: render <file.wav> <seconds>");
    const spec = this.methodSpec();
    if (spec && (spec.outRatio !== 1 || spec.outChannels !== 1)) {
      throw new BendingError(`method '${spec.name}' does not output mono audio; render runs a method with one audio output (e.g. 'method decode')`);
    }
    if (!(seconds > 0 && seconds <= 600)) throw new BendingError("render length must be between 0 and 600 seconds");
    const blocks = Math.ceil((seconds * this.sampleRate) / this.blockSamples);
    const out = new Float32Array(blocks * this.blockSamples);
    // A render uses the causal convolutions' stream state, so it cannot run beside a live stream.
    if (this.streamTimer !== null) throw new BendingError("stop the stream before rendering to a file ('stream stop')");
    setStreaming(model.module, true);
    // A render walks from the walk's origin (so renders repeat) and leaves the stream's walk as it was.
    const streamWalk = this.walk;
    const streamLatent = this.latent;
    if (streamWalk?.walking) {
      this.walk = streamWalk.fresh();
      this.latent = this.walk.position;
    }
    this.latentReached = [...this.latent]; // a render starts at the current latent, no ramp
    const safety = new SafetyStage();
    this.rendering = true;
    try {
      for (let b = 0; b < blocks; b++) {
        out.set((await this.renderBlock(safety)).data, b * this.blockSamples);
        // Let other commands (set, status, stop) be answered between blocks of a long render.
        await new Promise((resolveTurn) => setImmediate(resolveTurn));
      }
    } finally {
      this.rendering = false;
      this.walk = streamWalk;
      this.latent = streamLatent;
      this.latentReached = [...streamLatent];
      setStreaming(model.module, true);
    }
    await writeWav(path, out.subarray(0, Math.round(seconds * this.sampleRate)), this.sampleRate);
    return path;
  }

  // --- streaming ---------------------------------------------------------------------

  get streaming(): boolean {
    return this.streamTimer !== null;
  }

  /** Refuses what would share the model's stream state with a render or a load in progress. */
  checkNotRendering(command: string): void {
    if (this.rendering) throw new BendingError(`a render is in progress; '${command}' can run when it has finished`);
    if (this.loading) throw new BendingError(`a model is loading; '${command}' can run when it has loaded`);
  }

  startStream(): void {
    this.checkNotRendering("stream start");
    const model = this.requireModel();
    if (this.kind === "generic") throw new BendingError(`model '${this.modelName}' is not an audio or image model; it cannot stream`);
    if (this.streamTimer) return;
    if (this.kind === "audio") setStreaming(model.module, true);
    this.safety.reset();
    this.lastSample = null;
    this.stats = newStats();
    this.streamStart = performance.now();
    const generation = ++this.streamGeneration;
    this.input.release();
    this.input.resetStats();
    this.inputLatencyMs = new WindowedQuantiles(1024, 0.01, 1e5);
    this.lastInputBlockAt = null;
    if (this.takesAudio) {
      // Audio in: each block is rendered when its input has arrived (pumpInput); the watchdog
      // counts underruns and lets a sender that stopped go.
      this.streamTimer = setTimeout(() => this.watchInput(generation), 0);
      return;
    }
    const tick = async (k: number) => {
      const t0 = performance.now();
      let block: OutputBlock;
      try {
        block = await this.renderBlock();
      } catch (e) {
        this.failStream(e, generation);
        return;
      }
      if (generation !== this.streamGeneration) return; // stopped (or restarted) meanwhile
      const done = performance.now();
      this.noteBlock(done - t0);
      // Block k is due when block k-1 finishes playing (one block of output latency).
      const deadline = this.streamStart + (k + 1) * this.blockMs;
      let next = k + 1;
      if (done > deadline) {
        this.stats.dropped++;
        this.streamStart = done - next * this.blockMs; // resynchronise instead of piling up
      }
      this.emit(block);
      const wait = Math.max(0, this.streamStart + next * this.blockMs - performance.now() - this.blockMs * 0.5);
      this.nextTickAt = performance.now() + wait;
      this.streamTimer = setTimeout(() => void tick(next), wait);
    };
    this.nextTickAt = performance.now();
    this.streamTimer = setTimeout(() => void tick(0), 0);
  }

  stopStream(): void {
    this.streamGeneration++;
    this.dropCrossfade();
    if (this.streamTimer === null) return; // not streaming: nothing to stop (a render keeps its state)
    clearTimeout(this.streamTimer);
    this.streamTimer = null;
    this.input.release();
    if (this.bended && this.kind === "audio") setStreaming(this.bended.module, true);
  }

  status(): Record<string, Atom> {
    return {
      backend: backend(),
      device: backendInfo().device,
      model: this.modelName || "none",
      kind: this.kind,
      model_path: this.modelPath || "none",
      method: this.method,
      ...this.methodStatus(),
      streaming: this.streaming ? 1 : 0,
      block: this.kind === "audio" ? this.blockSamples : this.kind === "image" ? 1 : 0,
      sample_rate: this.kind === "audio" ? this.sampleRate : 0,
      latency_ms: Number(this.blockMs.toFixed(2)),
      rtf_p50: Number(this.stats.rtf.quantile(0.5).toPrecision(3)),
      rtf_p95: Number(this.stats.rtf.quantile(0.95).toPrecision(3)),
      blocks: this.stats.blocks,
      dropped: this.stats.dropped,
      version: this.bended?.version ?? "none",
      versions: this.bended ? this.bended.versionNames().length - 1 : 0,
      version_mb: this.bended ? Number((this.bended.versionBytes() / 2 ** 20).toFixed(2)) : 0,
      max_versions: this.maxVersions,
      input: this.walk?.walking ? "walk" : "hold",
      ...this.inputStatus(),
    };
  }

  /** Live audio input: sender, latency (first sample's arrival → output sent), underruns, overruns, level. */
  private inputStatus(): Record<string, Atom> {
    const i = this.input;
    return {
      audio_in: i.active() ? i.owner! : "none",
      input_latency_ms: Number(this.inputLatencyMs.quantile(0.5).toFixed(2)),
      input_latency_p95_ms: Number(this.inputLatencyMs.quantile(0.95).toFixed(2)),
      underruns: i.underruns,
      overruns: i.overruns,
      input_level_db: Number(Math.max(-120, i.levelDb).toFixed(1)),
      input_nonfinite: i.nonFinite,
      input_refused: i.refused,
      input_queued: i.queuedSamples,
    };
  }

  /** The current method's channels and ratios, as nn~ declares them. */
  private methodStatus(): Record<string, Atom> {
    const spec = this.methodSpec();
    return spec
      ? { in_channels: spec.inChannels, in_ratio: spec.inRatio, out_channels: spec.outChannels, out_ratio: spec.outRatio }
      : { in_channels: 0, in_ratio: 0, out_channels: 0, out_ratio: 0 };
  }

  /** Loads a saved config from the workspace's configs folder. */
  loadConfigFile(name: string): BendingConfig {
    const model = this.requireModel();
    return BendingConfig.load(this.resolvePath(join("configs", `${name}.json`)), model);
  }

  /** Frees the loaded model: its bendings and versions, and the module the session loaded. */
  private disposeModel(): void {
    if (!this.bended) return;
    this.bended.dispose();
    this.bended.module.dispose();
    this.bended = null;
  }

  dispose(): void {
    this.stopStream();
    this.disposeModel();
  }
}
