// BendedModule: wraps a module without touching it. Traces methods into graphs, bends
// weights (computed once, cached) and activations (hooked into the original method as
// it runs), keeps named weight versions and interpolates between them. A coordinator:
// traces.ts holds the traces, patterns.ts resolves patterns, binding.ts binds bendings to
// targets, bendings.ts holds them and their checks, bent-weights.ts the versions and the
// weights a pass reads, passes.ts runs passes and peeks, print.ts prints tables.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, type StateTensor } from "../nn/module.js";
import type { Graph } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import { trace as traceMethod } from "../graph/tracer.js";
import type { MethodInputs } from "../graph/observe.js";
import { BendingCallback } from "../bending/callback.js";
import { BendingConfig, type PatternResolver } from "../bending/config.js";
import { BendingParameter, type ParameterOptions } from "../bending/parameter.js";
import { DEFAULT_VERSION } from "./versions.js";
import { clusterChannelsOf, type ChannelCluster, type ClusterOptions } from "./clusters.js";
import { BENDING_LIMITS } from "./limits.js";
import { DEFAULT_FN, Traces } from "./traces.js";
import { activationKey, resolvePatternTargets } from "./patterns.js";
import {
  activationChains, checkNewBending, disposeBendings, graphWithBendings, planBendings, removeTargets, targetKey, weightChains,
  type Bending, type BendingHandle, type BendingPlan, type ChainLink,
} from "./bendings.js";
import { bindPatterns, rebindActivations, weightShape, type BindingContext } from "./binding.js";
import { activationTable, emit, weightTable, type PrintOptions } from "./print.js";
import { BentWeights, type WeightPin } from "./bent-weights.js";
import { readActivations, runPass, type PassResult } from "./passes.js";

export { DEFAULT_FN } from "./traces.js";
export type { BendingHandle, BendingPlan, PlannedBending } from "./bendings.js";
export type { WeightPin } from "./bent-weights.js";
export type { PrintOptions } from "./print.js";

export interface ActivationOptions {
  fn?: string;
  /** Apply the current bendings (default true); false reads the original module. */
  bended?: boolean;
}

export class BendedModule implements PatternResolver {
  private readonly traces = new Traces();
  private bendings: Bending[] = [];
  private nextBendingId = 1;
  /** Versions, the interpolation in effect, pins and the cached bent weights. */
  private readonly weights: BentWeights;
  /** Bumped whenever bendings or the base weights change. */
  private epoch = 0;
  private readonly savedConfigs = new Map<string, BendingConfig>();
  private readonly knownControls = new Map<string, BendingParameter>();
  /** Channel clusters by name (`<activation>:c0`), see clusterChannels. */
  private readonly channelClusters = new Map<string, number[]>();
  /** What binding a bending to its targets reads from this module. */
  private readonly binding: BindingContext;

  constructor(readonly module: Module) {
    if (!(module instanceof Module)) throw new BendingError("BendedModule wraps a tb.nn.Module");
    this.weights = new BentWeights(module);
    this.binding = { module, traces: this.traces, cluster: (name) => this.channelClusters.get(name) };
  }

  // --- weights ---------------------------------------------------------------------

  /** Names of the module's parameters (bendable weights). */
  get weightNames(): string[] {
    return this.module.namedParameters().map(([n]) => n);
  }

  weightShape(name: string): number[] {
    return weightShape(this.module, name);
  }

  /** Table of weights with shape, dtype and statistics (name, shape, dtype, min, max, mean, stddev). */
  printWeights(options: PrintOptions = {}): string {
    return emit(weightTable(this.module), options);
  }

  /** The module's own parameters and buffers (the original weights, never bent). */
  stateDict(): Record<string, Tensor> {
    return this.module.stateDict();
  }

  /** Parameters and buffers as the next forward pass uses them (version, interpolation, weight bendings). */
  bendedStateDict(): Record<string, Tensor> {
    const overrides = this.overrides();
    const out: Record<string, Tensor> = {};
    for (const [name, state] of this.module.namedStateTensors()) out[name] = overrides?.get(state) ?? state.data;
    return out;
  }

  /**
   * What the next bended pass reads for each of `states` (the module's own), as in
   * `bendedStateDict()` but without walking every weight: the native engine feeds its live
   * weights with this once per block.
   */
  bendedStates(states: readonly StateTensor[]): Tensor[] {
    const overrides = this.overrides();
    return states.map((state) => overrides?.get(state) ?? state.data);
  }

  // --- tracing -----------------------------------------------------------------------

  /**
   * Example inputs per method (a loaded model declares them), used by trace() without inputs.
   * Values are tensor shapes: zeros of that shape are traced.
   */
  readonly exampleShapes = new Map<string, number[][]>();

  /** Free-form facts about the model (sample rate, latent size, ...), from its files. */
  metadata: Record<string, string> = {};

  /**
   * Traces `forward` (or `fn`) on example inputs: `trace({ x })`, `trace("forward_nobatch", { x })`,
   * or `trace()` / `trace(fn)` with the model's declared example inputs.
   */
  trace(fnOrInputs?: string | MethodInputs, inputs?: MethodInputs): Graph {
    const fn = typeof fnOrInputs === "string" ? fnOrInputs : DEFAULT_FN;
    const given = typeof fnOrInputs === "string" ? inputs : fnOrInputs;
    if (given === undefined && this.exampleShapes.has(fn)) {
      const zeros = this.exampleShapes.get(fn)!.map((shape) => tf.zeros(shape));
      try {
        return this.trace(fn, zeros);
      } finally {
        tf.dispose(zeros);
      }
    }
    const example = given;
    if (example === undefined) throw new BendingError(`trace('${fn}') needs example inputs, e.g. trace('${fn}', { x })`);
    const traced = traceMethod(this.module, fn, example);
    this.traces.set(fn, traced);
    const values = Array.isArray(example) ? example : traced.inputNames.map((n) => example[n]);
    if (values.every((v) => v instanceof tf.Tensor)) this.exampleShapes.set(fn, values.map((v) => (v as Tensor).shape));
    rebindActivations(this.binding, this.bendings, fn);
    this.changed();
    return traced.graph;
  }

  /** Traced methods. */
  tracedMethods(): string[] {
    return this.traces.names();
  }

  graph(fn = DEFAULT_FN): Graph {
    return this.traces.get(fn).graph;
  }

  graphModule(fn = DEFAULT_FN): GraphModule {
    return new GraphModule(this.module, this.traces.get(fn).graph);
  }

  activationNames(fn = DEFAULT_FN): string[] {
    return this.traces.activationNames(fn);
  }

  activationShape(name: string, fn = DEFAULT_FN): number[] | number[][] | null {
    return this.traces.activationNode(name, fn).shape;
  }

  /** Table of activations of `fn`: name, opcode, traced shape. */
  printActivations(fn = DEFAULT_FN, options: PrintOptions = {}): string {
    return emit(activationTable(this.traces.get(fn).graph), options);
  }

  /** The graph of `fn` with a node after each bent activation, named `<name>_bended`. */
  bendGraph(fn = DEFAULT_FN): Graph {
    return graphWithBendings(this.traces.get(fn).graph, activationChains(this.bendings, fn));
  }

  // --- pattern resolution ----------------------------------------------------------

  /** PatternResolver: the target keys a pattern reaches. */
  resolvePattern(pattern: string): string[] {
    const { weights, activations } = resolvePatternTargets(this.module, this.traces, pattern);
    return [...weights, ...activations.map(([fn, n]) => activationKey(fn, n))];
  }

  describeModule(): string {
    return `${this.module.constructor.name}(id = ${this.module.moduleId})`;
  }

  controlFor(name: string, value: number, options: ParameterOptions): BendingParameter {
    return this.controls().find((c) => c.name === name) ?? new BendingParameter(name, value, options);
  }

  // --- bending ---------------------------------------------------------------------

  /**
   * Bends every weight and activation matched by the patterns (regular expressions
   * matched from the start of a name; `fn:pattern` scopes an activation to one traced
   * method). A BendingError only when no pattern matches anything.
   */
  bend(callbackOrConfig: BendingCallback | BendingConfig, ...patterns: string[]): BendingHandle {
    if (callbackOrConfig instanceof BendingConfig) return this.bendConfig(callbackOrConfig);
    const callback = callbackOrConfig;
    if (!(callback instanceof BendingCallback)) throw new BendingError("bend() takes a bending callback (e.g. new tb.Mask(0.4)) and patterns");
    if (patterns.length === 0) throw new BendingError(`bend(${callback}) needs at least one weight or activation pattern`);
    if (this.bendings.length >= BENDING_LIMITS.bendingsPerModel) {
      throw new BendingError(`this model has ${this.bendings.length} bendings, the most one model takes; remove some (unbend, reset) before adding ${callback}`);
    }
    const { targets, reached, unmatched } = bindPatterns(this.binding, callback, patterns);
    if (targets.length === 0) {
      const traced = this.traces.size ? "" : " (activations are known after trace())";
      throw new BendingError(`no weight or activation matches ${patterns.map((p) => `'${p}'`).join(", ")}${traced}`);
    }
    checkNewBending(this.bendings, this.knownControls, callback, targets, reached);
    for (const c of callback.controls()) this.knownControls.set(c.name, c);
    const bending: Bending = { id: this.nextBendingId++, callback, patterns, targets };
    this.bendings.push(bending);
    this.changed();
    return {
      callback,
      targets: reached,
      unmatched,
      remove: () => this.removeBending(bending),
    };
  }

  private bendConfig(config: BendingConfig): BendingHandle {
    const handles = config.callbacks().map((cb) =>
      this.bend(cb, ...config.entries.filter((e) => e.callback === cb).map((e) => e.pattern)));
    return {
      callback: handles[0]?.callback,
      targets: [...new Set(handles.flatMap((h) => h.targets))],
      unmatched: handles.flatMap((h) => h.unmatched),
      remove: () => handles.forEach((h) => h.remove()),
    } as BendingHandle;
  }

  private removeBending(bending: Bending): void {
    const i = this.bendings.indexOf(bending);
    if (i < 0) return;
    this.bendings.splice(i, 1);
    for (const t of bending.targets) bending.callback.disposeState(t.state);
    this.changed();
  }

  /**
   * Removes the bendings of every target matched by `pattern` (the other targets of
   * those bendings stay bent). Returns the keys unbent.
   */
  unbend(pattern: string): string[] {
    const keys = new Set(this.resolvePattern(pattern));
    const removed = removeTargets(this.bendings, (t) => keys.has(targetKey(t)));
    if (removed.length === 0) throw new BendingError(`nothing bent matches '${pattern}'`);
    this.changed();
    return [...new Set(removed)];
  }

  /** Removes every bending: outputs are the version's exact outputs again. */
  reset(): void {
    disposeBendings(this.bendings);
    this.bendings = [];
    this.changed();
  }

  /** The current bendings as a config bound to this module. */
  bendingConfig(): BendingConfig {
    const entries = this.bendings.flatMap((b) => b.patterns.map((pattern) => ({ callback: b.callback, pattern })));
    return BendingConfig.fromEntries(entries).bind(this);
  }

  /** Stores the current bendings under a name (a live preset). */
  saveConfigAs(name: string): BendingConfig {
    const config = this.bendingConfig();
    this.savedConfigs.set(name, config);
    return config;
  }

  /** Replaces the current bendings by a saved or given config. */
  setConfig(nameOrConfig: string | BendingConfig): void {
    const config = typeof nameOrConfig === "string" ? this.savedConfigs.get(nameOrConfig) : nameOrConfig;
    if (!config) throw new BendingError(`unknown config '${String(nameOrConfig)}' (saved: ${[...this.savedConfigs.keys()].join(", ") || "none"})`);
    const previous = this.bendings;
    this.bendings = [];
    try {
      if (config.entries.length) this.bendConfig(config);
    } catch (e) {
      disposeBendings(this.bendings);
      this.bendings = previous;
      this.changed();
      throw e;
    }
    disposeBendings(previous);
    this.changed();
  }

  configNames(): string[] {
    return [...this.savedConfigs.keys()];
  }

  // --- live controls ---------------------------------------------------------------

  /**
   * Every live control bendings have used. Controls outlive their bendings, so a patch's
   * sliders keep working across reset/write and a new bending can bind them again.
   */
  controls(): BendingParameter[] {
    return [...this.knownControls.values()];
  }

  /** Sets a live control; takes effect on the next forward pass. */
  update(name: string, value: number): void {
    const control = this.controls().find((c) => c.name === name);
    if (!control) {
      throw new BendingError(`unknown control '${name}' (controls: ${this.controls().map((c) => c.name).join(", ") || "none"})`);
    }
    control.value = value;
  }

  // --- channel clusters --------------------------------------------------------------

  /**
   * Groups the channels of `activation` that respond alike: runs `fn` (unbent) on `samples`
   * random inputs drawn from `seed` (or on `inputs`), describes each channel by its pooled,
   * normalised response and clusters them with k-means. Stores the clusters as
   * `<activation>:c0`… (replacing that activation's earlier ones) for bendings' `cluster`
   * option, and returns them. The same seed gives the same clusters.
   */
  clusterChannels(activation: string, options: ClusterOptions): ChannelCluster[] {
    return clusterChannelsOf({
      checkActivation: (name, fn) => this.traces.activationNode(name, fn),
      exampleShapes: (fn) => this.exampleShapes.get(fn),
      read: (name, args, fn) => this.getActivations(name, args, { fn, bended: false })[name],
      stored: this.channelClusters,
    }, activation, options);
  }

  /** The stored channel clusters. */
  clusters(): ChannelCluster[] {
    return [...this.channelClusters].map(([name, channels]) => ({ name, channels: [...channels] }));
  }

  // --- versions --------------------------------------------------------------------

  get version(): string {
    return this.weights.currentVersion;
  }

  /** null (or "_default") goes back to the original weights. */
  set version(name: string | null) {
    this.weights.select(name ?? DEFAULT_VERSION);
    this.changed();
  }

  versionNames(): string[] {
    return this.weights.versions.names();
  }

  /** The weights and buffers of a version (tensors owned by the version store). */
  versionStateDict(name: string): Record<string, Tensor> {
    return this.weights.stateDictOf(name);
  }

  /** The interpolation weights in effect, or null. */
  get interpolationWeights(): Record<string, number> | null {
    return this.weights.interpolation ? { ...this.weights.interpolation.weights } : null;
  }

  /**
   * Stores the current weights (version + weight bendings) as version `name` and
   * switches to it. The weight bendings are baked in, so they are removed; activation
   * bendings stay.
   */
  write(name: string): void {
    if (typeof name !== "string" || name === "") throw new BendingError("write() needs a version name");
    this.weights.store(name, this.bendedStateDict());
    removeTargets(this.bendings, (t) => t.kind === "weight");
    this.changed();
  }

  /**
   * Deletes a stored version and frees its weights. `_default`, the version in use and a
   * version the interpolation in effect uses cannot be deleted.
   */
  deleteVersion(name: string): void {
    this.weights.deleteVersion(name);
    this.changed();
  }

  /** Most stored versions (besides `_default`); `write` and `createVersion` refuse one more. */
  get maxVersions(): number {
    return this.weights.versions.maxVersions;
  }

  set maxVersions(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new BendingError(`maxVersions must be a non-negative integer, got ${n}`);
    this.weights.versions.maxVersions = n;
  }

  /** Bytes held by stored versions and the interpolation in effect. */
  versionBytes(): number {
    return this.weights.bytes();
  }

  /** Imports another set of weights (a module of the same architecture or a state dict). */
  createVersion(name: string, source: Module | Record<string, Tensor>): void {
    const values = source instanceof Module ? source.stateDict() : source;
    if (values === null || typeof values !== "object") throw new BendingError("createVersion needs a module or a state dict");
    this.weights.versions.set(name, new Map(Object.entries(values)));
    this.changed();
  }

  /**
   * Switches version: permanently, or only while `fn` runs (the seed's
   * `with bended.set_version(...)`). No name means `_default`.
   */
  setVersion<T>(name?: string | null, fn?: () => T): T | undefined {
    if (fn === undefined) {
      this.version = name ?? null;
      return undefined;
    }
    return this.weights.temporarily(() => (this.version = name ?? null), fn, () => this.changed());
  }

  /**
   * Uses Σwᵢθᵢ / Σwᵢ of the versions' weights, e.g. `{ _default: 1, bended: 1 }`:
   * permanently, or only while `fn` runs. Activation bendings still apply.
   */
  interpolate<T>(weights: Record<string, number>, fn?: () => T): T | undefined {
    const apply = () => {
      this.weights.startInterpolation(weights);
      this.changed();
    };
    if (fn === undefined) {
      apply();
      return undefined;
    }
    return this.weights.temporarily(apply, fn, () => this.changed());
  }

  /**
   * Holds the weights the next pass would use now (version, interpolation, weight bendings)
   * so that passes can be run with them after the state has changed: a stream renders the
   * block under the old weights to crossfade into the new ones. Shares the tensors' data
   * (no copy); `dispose()` the pin when done.
   */
  pinWeights(): WeightPin {
    return this.weights.pin(this.overrides());
  }

  /** Runs `fn` with the weights of `pin` in place of the current ones; activation bendings stay as they are now. */
  withPinnedWeights<T>(pin: WeightPin, fn: () => T): T {
    return this.weights.withPinned(pin, fn);
  }

  /**
   * The bendings of `fn` for an engine that compiles the method (src/native): activation
   * chains with their drawn state, and the weights a live control moves. Weight values come
   * from `bendedStateDict()`, cached as for any pass.
   */
  bendingPlan(fn = DEFAULT_FN): BendingPlan {
    return planBendings(this.bendings, fn, this.epoch);
  }

  // --- running -----------------------------------------------------------------------

  private changed(): void {
    this.epoch++;
  }

  /** The weights a bended pass reads now (see BentWeights.overrides), or null for the module's own. */
  private overrides(): ReturnType<BentWeights["overrides"]> {
    return this.weights.overrides(weightChains(this.bendings), this.epoch);
  }

  private execute(fn: string, args: unknown[], options: { bended: boolean; capture?: Set<string> }): PassResult {
    const overrides = () => (options.bended ? this.weights.passOverrides(() => weightChains(this.bendings), this.epoch) : null);
    const chains = options.bended ? activationChains(this.bendings, fn) : new Map<string, ChainLink[]>();
    return runPass(this.module, this.traces, fn, args, { overrides, chains, capture: options.capture });
  }

  /** Runs `forward` with the current bendings. Every intermediate tensor is disposed. */
  forward(...args: unknown[]): Tensor {
    return this.execute(DEFAULT_FN, args, { bended: true }).output as Tensor;
  }

  /**
   * Runs a method with the current bendings like `call`, and also returns the values of the
   * activations `names` that this pass produced as real tensors (kept copies the caller
   * owns): `<name>` before the node's own bending, `<name>_bended` after it.
   */
  callCapturing(fn: string, args: unknown[], names: string[]): { output: unknown; captured: Record<string, Tensor> } {
    return this.execute(fn, args, { bended: true, capture: new Set(names.flatMap((n) => [n, `${n}_bended`])) });
  }

  /** Runs any method with the current bendings: `call("forward_nobatch", x)`. */
  call(fn: string, ...args: unknown[]): unknown {
    return this.execute(fn, args, { bended: true }).output;
  }

  /**
   * Values of activations (before their bending; `<name>_bended` after it) for the
   * given inputs. The caller owns (and disposes) the returned tensors.
   */
  getActivations(names: string | string[], inputs: MethodInputs, options: ActivationOptions = {}): Record<string, Tensor> {
    const fn = options.fn ?? DEFAULT_FN;
    const bended = options.bended ?? true;
    const wanted = typeof names === "string" ? [names] : names;
    return readActivations(this.traces, fn, wanted, inputs, {
      run: (passArgs, capture) => this.execute(fn, passArgs, { bended, capture }),
      stateDict: () => (bended ? this.bendedStateDict() : this.stateDict()),
    });
  }

  /** Frees versions, caches and bending state (not the wrapped module). */
  dispose(): void {
    this.reset();
    this.weights.dispose();
    this.traces.dispose();
  }
}
