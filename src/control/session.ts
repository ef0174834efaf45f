// The Session: one loaded model, its bendings, versions and live controls, and the
// output stream. Every transport (Max, OSC, WebSocket) ends in Session.execute with
// the same atoms, and gets the same reply or error. The session holds the parts (model,
// latent, live input, renderer, clock) and runs the commands of its table on them.
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import { DEFAULT_MAX_VERSIONS } from "../bended/versions.js";
import type { BendingConfig } from "../bending/config.js";
import type { AttributeValue, MethodSpec, NnTildeInterface } from "../nn/method-spec.js";
import { atomsProblem, quoted, type Atom } from "../protocol/atoms.js";
import type { Reply } from "../protocol/reply.js";
import type { OutputBlock } from "../protocol/frame.js";
import type { ModelKind } from "../protocol/session-state.js";
import { CommandTable, type CommandContext, type MatrixRoute } from "./command-table.js";
import { CORE_COMMANDS } from "./commands.js";
import { registerPanelCommands } from "./panel-commands.js";
import { ATTRIBUTE_COMMANDS, receiveMatrix } from "./attributes.js";
import { checkVoices, Voices } from "./voices.js";
import { VOICE_COMMANDS, type VoiceContext } from "./voice-commands.js";
import type { PreviousState } from "./crossfade.js";
import type { SafetyStage } from "./safety.js";
import type { LatentWalk } from "./latent-walk.js";
import { LatentInput } from "./latent-input.js";
import { SessionModel } from "./session-model.js";
import { LiveInput } from "./live-input.js";
import { BlockRenderer, type StreamPeek } from "./block-renderer.js";
import { StreamClock } from "./stream-clock.js";
import { resetStatusFigures, sessionStatus } from "./session-status.js";
import { applyModulators, Modulators } from "./modulators.js";
import type { AudioChunk, AudioInput, AudioInputOptions } from "./audio-input.js";
import { streamInputShape } from "./model-check.js";
import { createBlockEngine, type BlockEngine, type EngineChoice, type NativeAvailability } from "./block-engine.js";

// Kept at their old paths for the transports and tests that import them from here.
export type { Reply } from "../protocol/reply.js";
export type { OutputBlock } from "../protocol/frame.js";
export type { ModelKind } from "../protocol/session-state.js";
export { crossfade, declick, DECLICK_SAMPLES, type PreviousState } from "./crossfade.js";

/**
 * Blocks the stream renders ahead while a model loads (see StreamClock.renderAhead): each step
 * of a load (read, trace, check, compile) may take this many blocks without a block coming late.
 */
const LOAD_LEAD_BLOCKS = 4;
/**
 * How much audio `ahead` keeps rendered ahead (ms, at least LOAD_LEAD_BLOCKS blocks): a browser
 * loading the panel beside the stream takes both cores of a 2-core machine for about a second,
 * longer than a load's 4 blocks (186 ms at 2048) carry the stream; 500 ms of blocks carry it through.
 */
const AHEAD_LEAD_MS = 500;

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
  /** What computes blocks (see block-engine.ts): default wasm here, `auto` in the plugin's command line. */
  engine?: EngineChoice;
  /** Whether ONNX Runtime can run (tests inject one; default: whether it loads). */
  nativeRuntime?: NativeAvailability;
}

/** Every command a session runs: the core table and the panel's queries. */
export function sessionCommands(): CommandTable {
  return registerPanelCommands(new CommandTable().register(...CORE_COMMANDS, ...ATTRIBUTE_COMMANDS, ...VOICE_COMMANDS));
}

export class Session implements CommandContext, VoiceContext {
  readonly commands: CommandTable = sessionCommands();
  readonly modulators = new Modulators();
  /** The voices run in one batched call (`voices N`, as mc.nn~). */
  readonly voices = new Voices();
  private readonly model: SessionModel;
  private readonly latentInput = new LatentInput();
  private readonly liveInput: LiveInput;
  /** Where Jitter matrices go (`matrix`): live audio unless routed to a buffer or tensor attribute. */
  matrixRoute: MatrixRoute = { kind: "audio" };
  private readonly renderer: BlockRenderer;
  private readonly clock: StreamClock;
  private readonly engine: BlockEngine;
  safetyEnabled: boolean;
  private loading = false;
  /** Settles when the stream's block being rendered is done (null: none): a model is swapped between blocks. */
  private blockInFlight: Promise<void> | null = null;
  private readonly listeners = new Set<(block: OutputBlock, releaseAt?: number) => void>();
  private readonly errorListeners = new Set<(reply: Reply) => void>();
  private readonly noticeListeners = new Set<(reply: Reply) => void>();

  constructor(options: SessionOptions) {
    // A recompile starts only when the next block is not due within half a block.
    this.engine = createBlockEngine(
      options.engine ?? "wasm",
      options.nativeRuntime,
      () => this.clock.msUntilNextBlock() >= this.blockMs / 2,
      (ms) => this.leadFor(ms),
      () => this.betweenBlocks(),
    );
    this.model = new SessionModel({
      workspace: options.workspace,
      modelsDir: options.modelsDir,
      bufferSize: options.blockSamples ?? (options.blockFrames !== undefined ? options.blockFrames * 256 : 2048),
      imageFps: options.imageFps ?? 30,
      maxVersions: options.maxVersions ?? DEFAULT_MAX_VERSIONS,
    });
    this.liveInput = new LiveInput(options.input);
    this.safetyEnabled = options.safety ?? true;
    this.renderer = new BlockRenderer({
      model: this.model,
      latent: this.latentInput,
      input: this.liveInput,
      voices: this.voices,
      streaming: () => this.streaming,
      safetyEnabled: () => this.safetyEnabled,
      // Block time, not wall time: a render moves the modulators as the stream would.
      beforeBlock: () => applyModulators(this, this.modulators, this.blockMs / 1000, this.takesAudio ? this.liveInput.level : 0),
      engine: () => this.engine,
      msUntilNextBlock: () => this.clock.msUntilNextBlock(),
    });
    this.clock = new StreamClock({
      blockMs: () => this.blockMs,
      blockSamples: () => this.blockSamples,
      takesAudio: () => this.takesAudio,
      input: this.liveInput.queue,
      renderBlock: () => this.trackBlock(this.renderer.renderBlock()),
      inputArrival: () => this.liveInput.arrival,
      emit: (block, releaseAt) => this.emit(block, releaseAt),
      failed: (message) => {
        this.stopStream();
        for (const l of this.errorListeners) l({ command: "stream", ok: false, values: [message] });
      },
      senderStopped: (source) => {
        for (const l of this.noticeListeners) l({ command: "audio_in", ok: true, values: ["stopped", source] });
        this.renderer.markOutputChanged(); // declick when audio comes back
      },
      underrun: () => this.emit(this.renderer.silenceBlock()),
    });
  }

  /** Runs one command (with `data`, samples for a command that takes them); never throws: errors become `error <command> <message>`. */
  async execute(atoms: Atom[], data?: Float32Array): Promise<Reply> {
    const [head, ...args] = atoms;
    const command = typeof head === "string" ? head : String(head ?? "");
    const problem = atomsProblem(atoms);
    if (problem) return { command: this.commands.has(command) ? command : "?", ok: false, values: [problem] };
    const spec = this.commands.get(command);
    if (!spec) {
      return { command: command ? quoted(command, 40) : "?", ok: false, values: [`unknown command '${quoted(command)}'; send 'help' for the list`] };
    }
    if (data !== undefined && !spec.takesData) return { command, ok: false, values: [`'${command}' takes no samples`] };
    const caughtUp = spec.long ? await this.leadFor(LOAD_LEAD_BLOCKS * this.blockMs) : null;
    try {
      const result = await spec.run(this, args, data);
      const effect = this.commands.effect(command, args);
      if (effect === "output") this.renderer.markOutputChanged();
      return { command, ok: true, values: result.values ?? [], dict: result.dict, ...(effect !== this.commands.effect(command) ? { effect } : {}) };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof BendingError)) console.error(`tfbend: ${command} failed:`, e);
      return { command, ok: false, values: [message] };
    } finally {
      caughtUp?.();
    }
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

  /** `releaseAt`: a block rendered ahead of time (during a load) is to be sent at this wall-clock time. */
  onBlock(listener: (block: OutputBlock, releaseAt?: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(block: OutputBlock, releaseAt?: number): void {
    for (const l of this.listeners) l(block, releaseAt);
  }

  /**
   * Has the stream render ahead far enough that `ms` of work on this thread delays no block
   * (at most LOAD_LEAD_BLOCKS), and resolves once those blocks are out, with the function that
   * ends the lead. No lead when the work fits before the next block or nothing streams on a clock.
   */
  private async leadFor(ms: number): Promise<() => void> {
    const room = this.clock.msUntilNextBlock();
    if (room === Infinity || room >= ms + 2 || !this.streaming || this.takesAudio) return () => undefined;
    const blocks = Math.min(LOAD_LEAD_BLOCKS, Math.ceil(ms / this.blockMs));
    const caughtUp = this.clock.renderAhead(blocks);
    for (let i = 0; i < blocks && this.streaming; i++) await this.renderer.nextStreamBlock(this.blockMs);
    return caughtUp;
  }

  /**
   * Resolves when the thread has at least half a block before the stream needs it again
   * (at once when nothing streams on a clock): a long job awaits this between its steps so
   * that the blocks playing meanwhile stay on time. After a step that took longer than a
   * block, the stream first renders the blocks it fell behind by (up to its lead), so the
   * next step starts with the whole lead again.
   */
  private async betweenBlocks(): Promise<void> {
    for (let owed = 0; owed <= LOAD_LEAD_BLOCKS && this.clock.msUntilNextBlock() < this.blockMs / 2; owed++) {
      await this.renderer.nextStreamBlock(this.blockMs);
      // after the stream has sent that block and set its next timer (they run before this)
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private trackBlock(block: Promise<OutputBlock>): Promise<OutputBlock> {
    const settled: Promise<void> = block.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.blockInFlight === settled) this.blockInFlight = null;
    });
    this.blockInFlight = settled;
    return block;
  }

  // --- the model, its method and attributes (session-model.ts) ------------------------

  get bended(): BendedModule | null {
    return this.model.bended;
  }
  get modelName(): string {
    return this.model.name;
  }
  get kind(): ModelKind {
    return this.model.kind;
  }
  get method(): string {
    return this.model.method;
  }
  /** The folder or file the model was loaded from. */
  get modelPath(): string {
    return this.model.path;
  }
  get workspace(): string {
    return this.model.workspace;
  }
  get modelsDir(): string {
    return this.model.modelsDir;
  }
  /** Requested samples per block (nn~'s buffer size). */
  get bufferSize(): number {
    return this.model.bufferSize;
  }
  get imageFps(): number {
    return this.model.imageFps;
  }
  get maxVersions(): number {
    return this.model.maxVersions;
  }
  get sampleRate(): number {
    return this.model.sampleRate;
  }
  /** The model's nn~ interface (null for models without one). */
  get nnTilde(): NnTildeInterface | null {
    return this.model.nnTilde;
  }
  get blockSamples(): number {
    return this.model.blockSamples;
  }
  get blockFrames(): number {
    return this.model.blockFrames;
  }
  get blockMs(): number {
    return this.model.blockMs;
  }
  /** True when the current method takes audio (input ratio 1): the stream follows the input. */
  get takesAudio(): boolean {
    return this.model.takesAudio;
  }

  requireModel(): BendedModule {
    return this.model.require();
  }

  availableModels(): string[] {
    return this.model.available();
  }

  resolvePath(path: string, options: { allowModels?: boolean } = {}): string {
    return this.model.resolvePath(path, options);
  }

  methods(): MethodSpec[] {
    return this.model.methods();
  }

  methodSpec(): MethodSpec | null {
    return this.model.methodSpec();
  }

  blockSamplesFor(spec: MethodSpec): number {
    return this.model.blockSamplesFor(spec);
  }

  loadConfigFile(name: string): BendingConfig {
    return this.model.loadConfigFile(name);
  }

  /**
   * Loading is a transaction: the new model is read, traced and run for one block off to
   * the side (SessionModel.prepare) while the old one keeps playing; only then does it
   * replace the old one, between two blocks. A stream keeps running across the switch: the
   * new model's first block is crossfaded from what the old one renders for it (see
   * BlockRenderer.holdLeaving). On any failure the old model, its bendings, versions and stream are as
   * they were.
   */
  async loadModel(name: string, method?: string): Promise<void> {
    this.checkNotRendering("load");
    this.loading = true;
    // The stream renders ahead while the new model is read, traced and compiled on this thread,
    // and the lead is there before the first step (reading the file) takes the thread.
    let caughtUp: () => void = () => undefined;
    try {
      caughtUp = await this.leadFor(LOAD_LEAD_BLOCKS * this.blockMs);
      const between = () => this.betweenBlocks();
      const candidate = await this.model.prepare(name, { method, between });
      try {
        // Compiled off the audio path too, so that the new model's first block is on time.
        const shape = streamInputShape(candidate);
        if (shape !== null) {
          await between();
          await this.engine.prepare(candidate.require(), candidate.method, shape, between);
        }
      } catch (e) {
        candidate.dispose();
        throw e;
      }
      while (this.blockInFlight) await this.blockInFlight;
      const wasStreaming = this.streaming;
      const tookAudio = this.takesAudio;
      this.renderer.dropCrossfade(); // it pins the old model's weights
      this.renderer.holdLeaving(); // what the old model plays at the join, to crossfade from
      this.engine.use(candidate.require());
      this.model.adopt(candidate);
      this.modulators.clear(); // they drove the old model's controls
      this.voices.reset(); // a new model starts with one voice
      resetStatusFigures(this.clock, this.input); // the old model's RTF and blocks are not this one's
      this.liveInput.queue.release();
      const spec = this.methodSpec();
      if (spec) this.latentInput.resize(spec.inRatio > 1 ? spec.inChannels : 0);
      else if (this.methods().length === 0) this.latentInput.reset(Number(this.requireModel().metadata.latent_dim ?? 0));
      this.latentInput.startFrom(this.requireModel().metadata, this.kind !== "generic");
      if (!wasStreaming) this.renderer.resetOutput();
      else if (this.kind === "generic") this.stopStream();
      else {
        this.renderer.markOutputChanged(); // and what the crossfade leaves of a step is declicked
        if (tookAudio !== this.takesAudio) {
          this.clock.stop();
          this.clock.start(true);
        }
      }
    } finally {
      this.loading = false;
      caughtUp();
    }
  }

  /**
   * Chooses the method the stream runs (see SessionModel.selectMethod). The live input is
   * let go; a switch between a method that takes audio and one that takes latents restarts
   * the stream on the other clock.
   */
  selectMethod(name: string): MethodSpec | null {
    const tookAudio = this.takesAudio;
    const spec = this.model.selectMethod(name);
    if (!spec) return null;
    this.liveInput.queue.release();
    if (this.streaming && tookAudio !== this.takesAudio) {
      this.stopStream();
      this.startStream();
    }
    // Latent input (ratio above 1): one value per input channel, kept across method switches when it fits.
    this.latentInput.resize(spec.inRatio > 1 ? spec.inChannels : 0);
    this.voices.resize(spec.inRatio > 1 ? spec.inChannels : 0);
    this.renderer.resetOutput();
    return spec;
  }

  /** Restores the model's streaming state (what it was loaded with); only audio models stream. */
  resetState(): void {
    this.requireModel();
    this.checkNotRendering("reset state");
    if (this.kind === "audio") this.model.streamingState?.resetState();
    this.engine.resetState();
  }

  attributeNames(): string[] {
    return this.model.attributeNames();
  }

  getAttribute(name: string): AttributeValue {
    return this.model.getAttribute(name);
  }

  /** Sets an nn~ attribute from atoms (checked against its declared type), crossfaded; returns the value set. */
  setAttribute(name: string, atoms: Atom[]): AttributeValue {
    const { nn, old, value } = this.model.attributeChange(name, atoms);
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

  /** Runs `count` voices in one batched call, from a fresh streaming state (see voices.ts). */
  setVoices(count: number): void {
    this.checkNotRendering("voices");
    checkVoices(this.model, count);
    this.voices.set(count, this.latentInput.target.length, this.requireModel().metadata);
    if (this.kind === "audio") this.model.streamingState?.resetState();
    this.liveInput.queue.release();
    this.renderer.resetOutput();
  }

  // --- the latent input (latent-input.ts) ------------------------------------------

  /** The latent the stream and renders decode. */
  get latent(): number[] {
    return this.latentInput.target;
  }

  /** The latent walk the stream follows (`input walk` / `input hold`); models with latent statistics walk from the start. */
  get walk(): LatentWalk | null {
    return this.latentInput.walk;
  }

  setLatent(values: number[]): void {
    this.requireModel();
    this.latentInput.set(values, this.modelName);
  }

  walkLatent(speed: number): void {
    this.requireModel();
    this.latentInput.walkAt(speed, this.modelName);
  }

  /** `input random`: a latent drawn where the model's outputs lie (an anchor, or its latent statistics). */
  randomLatent(): number[] {
    this.requireModel();
    return this.latentInput.random(this.modelName);
  }

  holdLatent(): void {
    this.requireModel();
    this.latentInput.hold(this.modelName);
  }

  // --- live input (live-input.ts) --------------------------------------------------

  /** Live audio for methods that take audio (jitter buffer, sender, counters). */
  get input(): AudioInput {
    return this.liveInput.queue;
  }

  /** Audio from a sender for the running method; the reply is an error only when it is refused. Never throws. */
  receiveAudio(chunk: AudioChunk): Reply {
    if (chunk.matrix && this.matrixRoute.kind !== "audio") {
      const filled = receiveMatrix(this, this.matrixRoute, chunk);
      if (filled.ok) this.renderer.markOutputChanged();
      return filled;
    }
    const spec = this.methodSpec();
    const reply = this.liveInput.receive(chunk, {
      // with voices, a sender sends every voice's channels, voice after voice
      spec: spec && { ...spec, inChannels: spec.inChannels * this.voices.count }, method: this.method, methods: this.methods(), streaming: this.streaming, sampleRate: this.sampleRate, blockSamples: this.blockSamples,
    });
    if (reply.ok) void this.clock.pump();
    return reply;
  }

  // --- rendering (block-renderer.ts) -----------------------------------------------

  /** Applies a change the stream crossfades (see BlockRenderer.changeWithCrossfade). */
  changeWithCrossfade(apply: () => boolean, undo?: PreviousState): void {
    this.renderer.changeWithCrossfade(apply, undo);
  }

  /** Computes one block with the current bendings, controls and version; audio goes through `safety` when enabled. */
  renderBlock(safety?: SafetyStage): Promise<OutputBlock> {
    return this.renderer.renderBlock(safety);
  }

  /** Renders `seconds` of audio (or one image) into a workspace file. */
  render(file: string, seconds: number): Promise<string> {
    this.checkNotRendering("render");
    return this.renderer.renderFile(file, seconds);
  }

  renderAheadFor(ms: number): boolean {
    if (!this.streaming || this.takesAudio) return false;
    const end = this.clock.renderAhead(Math.max(LOAD_LEAD_BLOCKS, Math.ceil(AHEAD_LEAD_MS / this.blockMs)));
    setTimeout(end, ms).unref(); // a lead never keeps a closing process alive
    return true;
  }

  /** The activations `names` as the next streamed block computes them (null: no audio stream; see BlockRenderer.peekNextBlock). */
  peekNextBlock(names: string[]): Promise<StreamPeek | null> {
    return this.renderer.peekNextBlock(names);
  }

  /** Runs a WAV file through the current method (one that takes audio) into another, on a copy of the streaming state. */
  renderAudio(inFile: string, outFile: string): Promise<string> {
    this.checkNotRendering("render");
    return this.renderer.renderAudioFile(this.resolvePath(inFile), this.resolvePath(outFile));
  }

  /** Refuses what would share the model's stream state with a render or a load in progress. */
  checkNotRendering(command: string): void {
    // A file through the method runs on a copy of the state: only what changes the model or its method waits.
    const shared = this.renderer.rendering || (this.renderer.renderingCopy && command !== "stream start");
    if (shared) throw new BendingError(`a render is in progress; '${command}' can run when it has finished`);
    if (this.loading) throw new BendingError(`a model is loading; '${command}' can run when it has loaded`);
  }

  // --- the stream (stream-clock.ts) ------------------------------------------------

  get streaming(): boolean {
    return this.clock.running;
  }

  /** Milliseconds until the stream needs this thread for its next block (see StreamClock). */
  msUntilNextBlock(): number {
    return this.clock.msUntilNextBlock();
  }

  startStream(): void {
    this.checkNotRendering("stream start");
    this.requireModel();
    if (this.kind === "generic") throw new BendingError(`model '${this.modelName}' is not an audio or image model; it cannot stream`);
    if (this.streaming) return;
    if (this.kind === "audio") this.model.streamingState?.resetState();
    this.engine.resetState();
    this.renderer.resetOutput();
    this.input.release();
    this.input.resetStats();
    this.clock.start();
  }

  stopStream(): void {
    const wasRunning = this.clock.stop();
    this.renderer.dropCrossfade();
    if (!wasRunning) return; // not streaming: nothing to stop (a render keeps its state)
    this.input.release();
    if (this.kind === "audio") this.model.streamingState?.resetState();
    this.engine.resetState();
  }

  status(): Record<string, Atom> {
    return sessionStatus({ model: this.model, streaming: this.streaming, stats: this.clock.stats, input: this.input, walking: this.walk?.walking ?? false, voices: this.voices.count, engine: this.engine });
  }

  dispose(): void {
    this.stopStream();
    this.engine.dispose();
    this.model.dispose();
  }
}
