// BendedModule: wraps a module without touching it. Traces methods into graphs, bends
// weights (computed once, cached) and activations (hooked into the original method as
// it runs), keeps named weight versions and interpolates between them. A coordinator:
// traces.ts holds the traces, patterns.ts resolves patterns, bendings.ts the bendings and
// their checks, bent-weights.ts the weights a pass reads, passes.ts runs the passes.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, Parameter, stateGeneration } from "../nn/module.js";
import { Graph, Node, formatRecordedShape } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import { trace as traceMethod } from "../graph/tracer.js";
import type { MethodInputs } from "../graph/observe.js";
import { BendingCallback, hashSeed, type BendingTarget } from "../bending/callback.js";
import { BendingConfig, type PatternResolver } from "../bending/config.js";
import { BendingParameter, type ParameterOptions } from "../bending/parameter.js";
import { formatShape, tabulate, type Cell } from "../util/format.js";
import { statistics } from "../util/stats.js";
import { replaceFileSync } from "../formats/replace-file.js";
import { DEFAULT_VERSION } from "./versions.js";
import { channelDescriptions, clusterDescriptions, clusterSettings, randomInputs, type ChannelCluster, type ClusterOptions } from "./clusters.js";
import { BENDING_LIMITS } from "./limits.js";
import { DEFAULT_FN, Traces } from "./traces.js";
import { FN_SCOPE, activationKey, resolvePatternTargets, type ResolvedPattern } from "./patterns.js";
import {
  activationChains, checkNewBending, disposeBendings, narrowBending, targetKey, weightChains,
  type Bending, type BendingHandle, type BendingPlan, type BoundTarget, type PlannedBending,
} from "./bendings.js";
import { BentWeights, type WeightPin } from "./bent-weights.js";
import { readActivations, runPass, type PassResult } from "./passes.js";

export { DEFAULT_FN } from "./traces.js";
export type { BendingHandle, BendingPlan, PlannedBending } from "./bendings.js";
export type { WeightPin } from "./bent-weights.js";

export interface PrintOptions {
  silent?: boolean;
  /** Also write the table to this file. */
  out?: string;
}

export interface ActivationOptions {
  fn?: string;
  /** Apply the current bendings (default true); false reads the original module. */
  bended?: boolean;
}

function emit(table: string, options: PrintOptions): string {
  if (options.out) replaceFileSync(options.out, table + "\n");
  if (!options.silent) console.log(table);
  return table;
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

  constructor(readonly module: Module) {
    if (!(module instanceof Module)) throw new BendingError("BendedModule wraps a tb.nn.Module");
    this.weights = new BentWeights(module);
  }

  // --- weights ---------------------------------------------------------------------

  /** Names of the module's parameters (bendable weights). */
  get weightNames(): string[] {
    return this.module.namedParameters().map(([n]) => n);
  }

  private parameter(name: string): Parameter {
    const found = this.module.namedParameters().find(([n]) => n === name);
    if (!found) throw new BendingError(`unknown weight '${name}' (weights: ${this.weightNames.join(", ")})`);
    return found[1];
  }

  weightShape(name: string): number[] {
    return this.parameter(name).shape;
  }

  /** Table of weights with shape, dtype and statistics (name, shape, dtype, min, max, mean, stddev). */
  printWeights(options: PrintOptions = {}): string {
    const rows: Cell[][] = this.module.namedParameters().map(([name, p]) => {
      const { min, max, mean, std } = statistics(p.data.dataSync());
      return [name, formatShape(p.shape), p.data.dtype, min, max, mean, std];
    });
    return emit(tabulate(rows, ["name", "shape", "dtype", "min", "max", "mean", "stddev"]), options);
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
    this.rebindActivations(fn);
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
    const rows = this.traces.get(fn).graph.activationNodes().map((n) => [n.name, n.op, formatRecordedShape(n.shape)]);
    return emit(tabulate(rows), options);
  }

  /** The graph of `fn` with a node after each bent activation, named `<name>_bended`. */
  bendGraph(fn = DEFAULT_FN): Graph {
    const graph = this.traces.get(fn).graph.clone();
    const chains = activationChains(this.bendings, fn);
    for (const [name, links] of chains) {
      let at = graph.find(name);
      if (!at) continue;
      links.forEach((link, i) => {
        const node = new Node("call_function", i === 0 ? `${name}_bended` : `${name}_bended_${i}`, String(link.callback), [at!]);
        node.shape = at!.shape;
        node.dtype = at!.dtype;
        at = graph.insertAfter(at!, node);
      });
    }
    return graph;
  }

  // --- pattern resolution ----------------------------------------------------------

  /** Resolves one pattern into weight names and (fn, activation) pairs. */
  private resolve(pattern: string): ResolvedPattern {
    return resolvePatternTargets(this.module, this.traces, pattern);
  }

  /** PatternResolver: the target keys a pattern reaches. */
  resolvePattern(pattern: string): string[] {
    const { weights, activations } = this.resolve(pattern);
    return [...weights, ...activations.map(([fn, n]) => activationKey(fn, n))];
  }

  describeModule(): string {
    return `${this.module.constructor.name}(id = ${this.module.moduleId})`;
  }

  controlFor(name: string, value: number, options: ParameterOptions): BendingParameter {
    return this.controls().find((c) => c.name === name) ?? new BendingParameter(name, value, options);
  }

  // --- bending ---------------------------------------------------------------------

  private bindTarget(callback: BendingCallback, kind: "weight" | "activation", name: string, fn?: string): BoundTarget {
    callback.checkCompatible(kind, name);
    let shape: number[];
    if (kind === "weight") shape = this.weightShape(name);
    else {
      const recorded = this.traces.activationNode(name, fn!).shape;
      if (recorded === null || (recorded.length > 0 && Array.isArray(recorded[0]))) {
        throw new BendingError(`activation '${name}' of ${fn} is not a single tensor (traced: ${formatRecordedShape(recorded) || "no tensor"})`);
      }
      shape = recorded as number[];
    }
    const key = kind === "weight" ? name : activationKey(fn!, name);
    const clusters = (cluster: string) => this.channelClusters.get(cluster);
    const target: BendingTarget = { kind, name, fn, shape, seed: hashSeed(callback.seed, key), clusters };
    return { target, state: callback.init(target) };
  }

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
    const targets: BoundTarget[] = [];
    const reached: string[] = [];
    const unmatched: string[] = [];
    try {
      for (const pattern of patterns) {
        const { weights, activations } = this.resolve(pattern);
        if (weights.length + activations.length === 0) unmatched.push(pattern);
        for (const w of weights) {
          if (reached.includes(w)) continue;
          targets.push(this.bindTarget(callback, "weight", w));
          reached.push(w);
        }
        for (const [fn, n] of activations) {
          const key = activationKey(fn, n);
          if (reached.includes(key)) continue;
          targets.push(this.bindTarget(callback, "activation", n, fn));
          reached.push(key);
        }
      }
    } catch (e) {
      for (const t of targets) callback.disposeState(t.state);
      throw e;
    }
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
    const removed: string[] = [];
    for (const b of [...this.bendings]) {
      const keep = b.targets.filter((t) => {
        const key = targetKey(t.target);
        if (!keys.has(key)) return true;
        b.callback.disposeState(t.state);
        removed.push(key);
        return false;
      });
      narrowBending(this.bendings, b, keep);
    }
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

  /** Re-resolves the activation targets of `fn` after it was (re)traced. */
  private rebindActivations(fn: string): void {
    for (const b of this.bendings) {
      const keep: BoundTarget[] = [];
      for (const t of b.targets) {
        if (t.target.kind === "activation" && t.target.fn === fn) b.callback.disposeState(t.state);
        else keep.push(t);
      }
      for (const pattern of b.patterns) {
        const scoped = FN_SCOPE.exec(pattern);
        if (scoped && scoped[1] !== fn && this.traces.has(scoped[1])) continue;
        let activations: [string, string][];
        try {
          activations = this.resolve(pattern).activations.filter(([f]) => f === fn);
        } catch {
          continue;
        }
        for (const [f, n] of activations) {
          if (keep.some((t) => t.target.kind === "activation" && t.target.fn === f && t.target.name === n)) continue;
          try {
            keep.push(this.bindTarget(b.callback, "activation", n, f));
          } catch {
            // an activation this callback cannot bend in the new trace: skip it
          }
        }
      }
      b.targets = keep;
    }
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
    const { k, samples, fn = DEFAULT_FN, seed } = clusterSettings(options);
    this.traces.activationNode(activation, fn);
    const shapes = this.exampleShapes.get(fn);
    if (options.inputs === undefined && shapes === undefined) throw new BendingError(`clusterChannels needs inputs: '${fn}' has no example shapes to draw random ones`);
    const inputs = options.inputs ?? randomInputs(shapes!, samples, seed);
    const activations: Tensor[] = [];
    try {
      for (const args of inputs) activations.push(this.getActivations(activation, args, { fn, bended: false })[activation]);
      const groups = clusterDescriptions(channelDescriptions(activations), k, seed);
      for (const name of [...this.channelClusters.keys()]) if (name.startsWith(`${activation}:c`)) this.channelClusters.delete(name);
      groups.forEach((channels, i) => this.channelClusters.set(`${activation}:c${i}`, channels));
      return groups.map((channels, i) => ({ name: `${activation}:c${i}`, channels: [...channels] }));
    } finally {
      tf.dispose(activations);
      if (options.inputs === undefined) tf.dispose(inputs.flat());
    }
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
    const target = name ?? DEFAULT_VERSION;
    this.weights.versions.check(target);
    this.weights.clearInterpolation();
    this.weights.currentVersion = target;
    this.changed();
  }

  versionNames(): string[] {
    return this.weights.versions.names();
  }

  /** The weights and buffers of a version (tensors owned by the version store). */
  versionStateDict(name: string): Record<string, Tensor> {
    this.weights.versions.check(name);
    const out: Record<string, Tensor> = {};
    for (const [key, state] of this.module.namedStateTensors()) out[key] = this.weights.versions.value(name, key, state);
    return out;
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
    const current = this.bendedStateDict();
    this.weights.versions.set(name, new Map(Object.entries(current)));
    for (const b of [...this.bendings]) {
      const weights = b.targets.filter((t) => t.target.kind === "weight");
      for (const t of weights) b.callback.disposeState(t.state);
      narrowBending(this.bendings, b, b.targets.filter((t) => t.target.kind !== "weight"));
    }
    this.weights.clearInterpolation();
    this.weights.currentVersion = name;
    this.changed();
  }

  /**
   * Deletes a stored version and frees its weights. `_default`, the version in use and a
   * version the interpolation in effect uses cannot be deleted.
   */
  deleteVersion(name: string): void {
    if (name === DEFAULT_VERSION) throw new BendingError(`'${DEFAULT_VERSION}' holds the original weights and cannot be deleted`);
    this.weights.versions.check(name);
    if (this.weights.interpolation && name in this.weights.interpolation.weights) {
      throw new BendingError(`version '${name}' is part of the interpolation in effect; switch version first ('version default')`);
    }
    if (this.weights.currentVersion === name) {
      throw new BendingError(`version '${name}' is in use; switch to another first ('version default')`);
    }
    this.weights.versions.delete(name);
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
      this.weights.versions.checkWeights(weights);
      this.weights.clearInterpolation();
      this.weights.interpolation = { weights: { ...weights }, values: null, generation: stateGeneration() };
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
    const activations = new Map<string, PlannedBending[]>();
    for (const [name, links] of activationChains(this.bendings, fn)) {
      activations.set(name, links.map((l) => ({ callback: l.callback, state: l.bound.state, target: l.bound.target })));
    }
    const liveWeights = [...weightChains(this.bendings)].filter(([, links]) => links.some((l) => l.callback.controls().length > 0)).map(([name]) => name);
    return { epoch: this.epoch, activations, liveWeights };
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
    const overrides = options.bended ? this.weights.passOverrides(() => weightChains(this.bendings), this.epoch) : null;
    const chains = options.bended ? activationChains(this.bendings, fn) : new Map();
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
    const known = this.activationNames(fn);
    for (const n of wanted) {
      const base = n.endsWith("_bended") && !known.includes(n) ? n.slice(0, -"_bended".length) : n;
      if (!known.includes(base)) throw new BendingError(`'${n}' is not an activation of ${fn} (activations: ${known.join(", ")})`);
    }
    const { inputNames } = this.traces.get(fn);
    const args = Array.isArray(inputs) ? inputs : inputNames.map((name) => inputs[name]);
    return readActivations(this.traces, fn, wanted, args, {
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
