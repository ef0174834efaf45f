// BendedModule: wraps a module without touching it. Traces methods into graphs, bends
// weights (computed once, cached) and activations (hooked into the original method as
// it runs), keeps named weight versions and interpolates between them.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, Parameter, StateTensor, stateGeneration, withStateOverrides } from "../nn/module.js";
import { Graph, Node, formatRecordedShape } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import { trace as traceMethod } from "../graph/tracer.js";
import { runHooked } from "../graph/executor.js";
import { resolveMethod, type MethodInputs, type ModuleIndex } from "../graph/observe.js";
import { BendingCallback, hashSeed, type BendingTarget, type TargetState } from "../bending/callback.js";
import { BendingConfig, MAX_PATTERN_LENGTH, anchored, type PatternResolver } from "../bending/config.js";
import { BendingParameter, type ParameterOptions } from "../bending/parameter.js";
import { formatShape, tabulate, type Cell } from "../util/format.js";
import { statistics } from "../util/stats.js";
import { replaceFileSync } from "../formats/replace-file.js";
import { DEFAULT_VERSION, stateBytes, VersionStore, type StateValues } from "./versions.js";
import { channelDescriptions, clusterDescriptions, clusterSettings, randomInputs, type ChannelCluster, type ClusterOptions } from "./clusters.js";
import { BENDING_LIMITS } from "./limits.js";

export const DEFAULT_FN = "forward";

interface TracedMethod {
  graph: Graph;
  inputNames: string[];
  index: ModuleIndex;
}

/** One resolved target of a bending, with its drawn state. */
interface BoundTarget {
  target: BendingTarget;
  state: TargetState;
}

interface Bending {
  id: number;
  callback: BendingCallback;
  patterns: string[];
  targets: BoundTarget[];
}

/** Weights held for later passes (see `BendedModule.pinWeights`): null overrides means the module's own. */
export interface WeightPin {
  readonly overrides: Map<StateTensor, Tensor> | null;
  dispose(): void;
}

/** One bending applied to one target, as a compiling engine needs it (see `bendingPlan`). */
export interface PlannedBending {
  readonly callback: BendingCallback;
  readonly state: TargetState;
  readonly target: BendingTarget;
}

/** The bendings of one method as an engine that compiles it needs them. */
export interface BendingPlan {
  /** Changes whenever bendings, the version or the interpolation change (not when a control moves). */
  readonly epoch: number;
  /** Activation chains of the method by node name, in registration order. */
  readonly activations: ReadonlyMap<string, readonly PlannedBending[]>;
  /** Weights bent by a callback that reads a live control: their values change without a new epoch. */
  readonly liveWeights: readonly string[];
}

/** Returned by bend(): what was reached, and a way to undo just this bending. */
export interface BendingHandle {
  readonly callback: BendingCallback;
  /** Target keys reached (weights by name, activations by node name). */
  readonly targets: string[];
  /** Patterns that matched nothing. */
  readonly unmatched: string[];
  remove(): void;
}

interface ActivationLink {
  callback: BendingCallback;
  bound: BoundTarget;
}

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

const FN_SCOPE = /^([A-Za-z_$][\w$]*):(.+)$/;

export class BendedModule implements PatternResolver {
  private readonly traces = new Map<string, TracedMethod>();
  private bendings: Bending[] = [];
  private nextBendingId = 1;
  private readonly versions: VersionStore;
  private currentVersion = DEFAULT_VERSION;
  /**
   * The interpolation in effect. Its average is computed by the first pass that needs it
   * (`values` null until then), so several interpolations between two passes cost one, and
   * again when the module's own weights change (another generation).
   */
  private interpolation: { weights: Record<string, number>; values: StateValues | null; generation: number } | null = null;
  /** Weights a pass uses instead of the current ones while `withPinnedWeights` runs. */
  private pinned: WeightPin | null = null;
  /** Bumped whenever bendings or the base weights change. */
  private epoch = 0;
  private cache: { key: string; overrides: Map<StateTensor, Tensor> | null; owned: Tensor[] } | null = null;
  private readonly savedConfigs = new Map<string, BendingConfig>();
  private readonly knownControls = new Map<string, BendingParameter>();
  /** Channel clusters by name (`<activation>:c0`), see clusterChannels. */
  private readonly channelClusters = new Map<string, number[]>();

  constructor(readonly module: Module) {
    if (!(module instanceof Module)) throw new BendingError("BendedModule wraps a tb.nn.Module");
    this.versions = new VersionStore(() => this.module.namedStateTensors());
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
    const old = this.traces.get(fn);
    if (old) for (const c of old.graph.constants.values()) c.dispose();
    this.traces.set(fn, traced);
    const values = Array.isArray(example) ? example : traced.inputNames.map((n) => example[n]);
    if (values.every((v) => v instanceof tf.Tensor)) this.exampleShapes.set(fn, values.map((v) => (v as Tensor).shape));
    this.rebindActivations(fn);
    return traced.graph;
  }

  /** Traced methods. */
  tracedMethods(): string[] {
    return [...this.traces.keys()];
  }

  private traced(fn: string): TracedMethod {
    const t = this.traces.get(fn);
    if (!t) {
      const hint = this.traces.size ? ` (traced: ${[...this.traces.keys()].join(", ")})` : "";
      throw new BendingError(`method '${fn}' is not traced; call trace('${fn}', inputs) first${hint}`);
    }
    return t;
  }

  graph(fn = DEFAULT_FN): Graph {
    return this.traced(fn).graph;
  }

  graphModule(fn = DEFAULT_FN): GraphModule {
    return new GraphModule(this.module, this.traced(fn).graph);
  }

  activationNames(fn = DEFAULT_FN): string[] {
    return this.traced(fn).graph.activationNodes().map((n) => n.name);
  }

  private activationNode(name: string, fn: string): Node {
    const node = this.traced(fn).graph.activationNodes().find((n) => n.name === name);
    if (!node) throw new BendingError(`'${name}' is not an activation of ${fn} (activations: ${this.activationNames(fn).join(", ")})`);
    return node;
  }

  activationShape(name: string, fn = DEFAULT_FN): number[] | number[][] | null {
    return this.activationNode(name, fn).shape;
  }

  /** Table of activations of `fn`: name, opcode, traced shape. */
  printActivations(fn = DEFAULT_FN, options: PrintOptions = {}): string {
    const rows = this.traced(fn).graph.activationNodes().map((n) => [n.name, n.op, formatRecordedShape(n.shape)]);
    return emit(tabulate(rows), options);
  }

  /** The graph of `fn` with a node after each bent activation, named `<name>_bended`. */
  bendGraph(fn = DEFAULT_FN): Graph {
    const graph = this.traced(fn).graph.clone();
    const chains = this.activationChains(fn);
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

  private activationKey(fn: string, name: string): string {
    return fn === DEFAULT_FN ? name : `${fn}:${name}`;
  }

  /** Resolves one pattern into weight names and (fn, activation) pairs. */
  private resolve(pattern: string): { weights: string[]; activations: [string, string][] } {
    const scoped = FN_SCOPE.exec(pattern);
    if (scoped && this.traces.has(scoped[1])) {
      const [, fn, inner] = scoped;
      const names = this.activationNames(fn);
      if (names.includes(inner)) return { weights: [], activations: [[fn, inner]] };
      const re = this.compile(inner);
      return { weights: [], activations: names.filter((n) => re.test(n)).map((n) => [fn, n]) };
    }
    if (scoped && !this.weightNames.includes(pattern) && resolveMethodName(this.module, scoped[1])) {
      throw new BendingError(`'${pattern}' scopes method '${scoped[1]}', which is not traced; call trace('${scoped[1]}', inputs) first`);
    }
    const weights = this.weightNames;
    const exactActivations: [string, string][] = [];
    for (const fn of this.traces.keys()) {
      const node = this.traced(fn).graph.find(pattern);
      // A get_attr node reading this very weight is the weight, not a second target.
      if (node && node.op !== "output" && !(node.op === "get_attr" && node.target === pattern)) exactActivations.push([fn, pattern]);
    }
    if (weights.includes(pattern)) {
      if (exactActivations.length > 0) {
        throw new BendingError(
          `'${pattern}' names both a weight and an activation; write '${exactActivations[0][0]}:${pattern}' to bend the activation`,
        );
      }
      return { weights: [pattern], activations: [] };
    }
    if (exactActivations.length > 0) return { weights: [], activations: exactActivations };
    const re = this.compile(pattern);
    const activations: [string, string][] = [];
    for (const fn of this.traces.keys()) for (const n of this.activationNames(fn)) if (re.test(n)) activations.push([fn, n]);
    return { weights: weights.filter((w) => re.test(w)), activations };
  }

  private compile(pattern: string): RegExp {
    const re = anchored(pattern);
    if (re === null) {
      throw new BendingError(`'${pattern}' is not a valid pattern (a regular expression of at most ${MAX_PATTERN_LENGTH} characters, without backreferences or lookarounds)`);
    }
    return re;
  }

  /** PatternResolver: the target keys a pattern reaches. */
  resolvePattern(pattern: string): string[] {
    const { weights, activations } = this.resolve(pattern);
    return [...weights, ...activations.map(([fn, n]) => this.activationKey(fn, n))];
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
      const recorded = this.activationNode(name, fn!).shape;
      if (recorded === null || (recorded.length > 0 && Array.isArray(recorded[0]))) {
        throw new BendingError(`activation '${name}' of ${fn} is not a single tensor (traced: ${formatRecordedShape(recorded) || "no tensor"})`);
      }
      shape = recorded as number[];
    }
    const key = kind === "weight" ? name : this.activationKey(fn!, name);
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
          const key = this.activationKey(fn, n);
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
    const duplicate = this.identicalBending(callback, reached);
    if (duplicate !== null) {
      for (const t of targets) callback.disposeState(t.state);
      throw new BendingError(`${callback} is already bent on ${reached.join(", ")} (bending ${duplicate.id}: ${duplicate.callback} on ${duplicate.patterns.join(", ")}); an identical bending would stack on it. Unbend it first, or change an argument`);
    }
    const newControls = new Set(callback.controls().filter((c) => !this.knownControls.has(c.name)).map((c) => c.name));
    if (this.knownControls.size + newControls.size > BENDING_LIMITS.controlsPerModel) {
      for (const t of targets) callback.disposeState(t.state);
      throw new BendingError(`this model has ${this.knownControls.size} controls, and ${callback} would add ${newControls.size}: at most ${BENDING_LIMITS.controlsPerModel} controls per model`);
    }
    for (const c of callback.controls()) {
      const known = this.knownControls.get(c.name);
      if (known !== undefined && known !== c) {
        for (const t of targets) callback.disposeState(t.state);
        throw new BendingError(`another control named '${c.name}' exists; reuse it (bended.controlFor('${c.name}', ...)) or choose another name`);
      }
    }
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

  /**
   * A bending with an equal callback (same type, arguments and seed: two Scale(2) are equal,
   * two Masks drawn from different seeds are not, a Lambda only equals itself) on exactly the
   * same targets, or null.
   */
  private identicalBending(callback: BendingCallback, keys: string[]): Bending | null {
    const wanted = [...keys].sort().join("\n");
    for (const b of this.bendings) {
      if (b.callback !== callback && !sameCallback(b.callback, callback)) continue;
      const have = b.targets.map((t) => (t.target.kind === "weight" ? t.target.name : this.activationKey(t.target.fn!, t.target.name))).sort().join("\n");
      if (have === wanted) return b;
    }
    return null;
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
        const key = t.target.kind === "weight" ? t.target.name : this.activationKey(t.target.fn!, t.target.name);
        if (!keys.has(key)) return true;
        b.callback.disposeState(t.state);
        removed.push(key);
        return false;
      });
      this.narrowBending(b, keep);
    }
    if (removed.length === 0) throw new BendingError(`nothing bent matches '${pattern}'`);
    this.changed();
    return [...new Set(removed)];
  }

  /** Keeps only `keep` of a bending's targets (their state stays; the others' is already disposed). */
  private narrowBending(b: Bending, keep: BoundTarget[]): void {
    if (keep.length !== b.targets.length) {
      // The bending's patterns no longer describe it: pin it to the targets it keeps.
      b.patterns = keep.map((t) => (t.target.kind === "weight" ? t.target.name : this.activationKey(t.target.fn!, t.target.name)));
    }
    b.targets = keep;
    if (keep.length === 0) this.bendings.splice(this.bendings.indexOf(b), 1);
  }

  /** Removes every bending: outputs are the version's exact outputs again. */
  reset(): void {
    for (const b of this.bendings) for (const t of b.targets) b.callback.disposeState(t.state);
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
      for (const b of this.bendings) for (const t of b.targets) b.callback.disposeState(t.state);
      this.bendings = previous;
      this.changed();
      throw e;
    }
    for (const b of previous) for (const t of b.targets) b.callback.disposeState(t.state);
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
    this.activationNode(activation, fn);
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
    return this.currentVersion;
  }

  /** null (or "_default") goes back to the original weights. */
  set version(name: string | null) {
    const target = name ?? DEFAULT_VERSION;
    this.versions.check(target);
    this.clearInterpolation();
    this.currentVersion = target;
    this.changed();
  }

  versionNames(): string[] {
    return this.versions.names();
  }

  /** The weights and buffers of a version (tensors owned by the version store). */
  versionStateDict(name: string): Record<string, Tensor> {
    this.versions.check(name);
    const out: Record<string, Tensor> = {};
    for (const [key, state] of this.module.namedStateTensors()) out[key] = this.versions.value(name, key, state);
    return out;
  }

  /** The interpolation weights in effect, or null. */
  get interpolationWeights(): Record<string, number> | null {
    return this.interpolation ? { ...this.interpolation.weights } : null;
  }

  /**
   * Stores the current weights (version + weight bendings) as version `name` and
   * switches to it. The weight bendings are baked in, so they are removed; activation
   * bendings stay.
   */
  write(name: string): void {
    if (typeof name !== "string" || name === "") throw new BendingError("write() needs a version name");
    const current = this.bendedStateDict();
    this.versions.set(name, new Map(Object.entries(current)));
    for (const b of [...this.bendings]) {
      const weights = b.targets.filter((t) => t.target.kind === "weight");
      for (const t of weights) b.callback.disposeState(t.state);
      this.narrowBending(b, b.targets.filter((t) => t.target.kind !== "weight"));
    }
    this.clearInterpolation();
    this.currentVersion = name;
    this.changed();
  }

  /**
   * Deletes a stored version and frees its weights. `_default`, the version in use and a
   * version the interpolation in effect uses cannot be deleted.
   */
  deleteVersion(name: string): void {
    if (name === DEFAULT_VERSION) throw new BendingError(`'${DEFAULT_VERSION}' holds the original weights and cannot be deleted`);
    this.versions.check(name);
    if (this.interpolation && name in this.interpolation.weights) {
      throw new BendingError(`version '${name}' is part of the interpolation in effect; switch version first ('version default')`);
    }
    if (this.currentVersion === name) {
      throw new BendingError(`version '${name}' is in use; switch to another first ('version default')`);
    }
    this.versions.delete(name);
    this.changed();
  }

  /** Most stored versions (besides `_default`); `write` and `createVersion` refuse one more. */
  get maxVersions(): number {
    return this.versions.maxVersions;
  }

  set maxVersions(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new BendingError(`maxVersions must be a non-negative integer, got ${n}`);
    this.versions.maxVersions = n;
  }

  /** Bytes held by stored versions and the interpolation in effect. */
  versionBytes(): number {
    return this.versions.bytes() + (this.interpolation?.values ? stateBytes(this.interpolation.values.values()) : 0);
  }

  /** Imports another set of weights (a module of the same architecture or a state dict). */
  createVersion(name: string, source: Module | Record<string, Tensor>): void {
    const values = source instanceof Module ? source.stateDict() : source;
    if (values === null || typeof values !== "object") throw new BendingError("createVersion needs a module or a state dict");
    this.versions.set(name, new Map(Object.entries(values)));
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
    return this.temporarily(() => (this.version = name ?? null), fn);
  }

  /**
   * Uses Σwᵢθᵢ / Σwᵢ of the versions' weights, e.g. `{ _default: 1, bended: 1 }`:
   * permanently, or only while `fn` runs. Activation bendings still apply.
   */
  interpolate<T>(weights: Record<string, number>, fn?: () => T): T | undefined {
    const apply = () => {
      this.versions.checkWeights(weights);
      this.clearInterpolation();
      this.interpolation = { weights: { ...weights }, values: null, generation: stateGeneration() };
      this.changed();
    };
    if (fn === undefined) {
      apply();
      return undefined;
    }
    return this.temporarily(apply, fn);
  }

  private temporarily<T>(enter: () => void, fn: () => T): T {
    const savedVersion = this.currentVersion;
    const savedInterpolation = this.interpolation;
    this.interpolation = null; // keep the saved one alive while fn runs
    try {
      enter();
      return fn();
    } finally {
      this.clearInterpolation();
      this.currentVersion = savedVersion;
      this.interpolation = savedInterpolation;
      this.changed();
    }
  }

  private clearInterpolation(): void {
    if (this.interpolation?.values) for (const t of this.interpolation.values.values()) t.dispose();
    this.interpolation = null;
  }

  /**
   * Holds the weights the next pass would use now (version, interpolation, weight bendings)
   * so that passes can be run with them after the state has changed: a stream renders the
   * block under the old weights to crossfade into the new ones. Shares the tensors' data
   * (no copy); `dispose()` the pin when done.
   */
  pinWeights(): WeightPin {
    const current = this.overrides();
    const overrides = current === null ? null : new Map([...current].map(([state, t]) => [state, tf.clone(t)] as const));
    let disposed = false;
    return {
      overrides,
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (overrides) for (const t of overrides.values()) t.dispose();
      },
    };
  }

  /** Runs `fn` with the weights of `pin` in place of the current ones; activation bendings stay as they are now. */
  withPinnedWeights<T>(pin: WeightPin, fn: () => T): T {
    const saved = this.pinned;
    this.pinned = pin;
    try {
      return fn();
    } finally {
      this.pinned = saved;
    }
  }

  /**
   * The bendings of `fn` for an engine that compiles the method (src/native): activation
   * chains with their drawn state, and the weights a live control moves. Weight values come
   * from `bendedStateDict()`, cached as for any pass.
   */
  bendingPlan(fn = DEFAULT_FN): BendingPlan {
    const activations = new Map<string, PlannedBending[]>();
    for (const [name, links] of this.activationChains(fn)) {
      activations.set(name, links.map((l) => ({ callback: l.callback, state: l.bound.state, target: l.bound.target })));
    }
    const liveWeights = [...this.weightChains()].filter(([, links]) => links.some((l) => l.callback.controls().length > 0)).map(([name]) => name);
    return { epoch: this.epoch, activations, liveWeights };
  }

  // --- running -----------------------------------------------------------------------

  private changed(): void {
    this.epoch++;
  }

  /** Weight chains: weight name → callbacks in registration order. */
  private weightChains(): Map<string, ActivationLink[]> {
    const chains = new Map<string, ActivationLink[]>();
    for (const b of this.bendings) {
      for (const t of b.targets) {
        if (t.target.kind !== "weight") continue;
        const list = chains.get(t.target.name) ?? [];
        list.push({ callback: b.callback, bound: t });
        chains.set(t.target.name, list);
      }
    }
    return chains;
  }

  private activationChains(fn: string): Map<string, ActivationLink[]> {
    const chains = new Map<string, ActivationLink[]>();
    for (const b of this.bendings) {
      for (const t of b.targets) {
        if (t.target.kind !== "activation" || t.target.fn !== fn) continue;
        const list = chains.get(t.target.name) ?? [];
        list.push({ callback: b.callback, bound: t });
        chains.set(t.target.name, list);
      }
    }
    return chains;
  }

  /**
   * The tensors parameters/buffers read during a bended pass, or null when the module's
   * own are used. Cached until a bending, a control driving a weight bending, or the
   * version changes.
   */
  private overrides(): Map<StateTensor, Tensor> | null {
    const chains = this.weightChains();
    const signature = [...chains.values()].flat().map((l) => l.callback.controlSignature()).join(";");
    if (this.interpolation && (this.interpolation.values === null || this.interpolation.generation !== stateGeneration())) {
      // First pass since the interpolation was set, or the module's own weights changed
      // (loadStateDict): the average must follow them.
      const weights = this.interpolation.weights;
      const values = this.versions.interpolate(weights);
      this.clearInterpolation();
      this.interpolation = { weights, values, generation: stateGeneration() };
    }
    const key = `${this.epoch}|${stateGeneration()}|${signature}`;
    if (this.cache?.key === key) return this.cache.overrides;
    if (this.cache) for (const t of this.cache.owned) t.dispose();
    this.cache = null;
    const owned: Tensor[] = [];
    const overrides = new Map<StateTensor, Tensor>();
    const usesVersion = this.interpolation !== null || this.currentVersion !== DEFAULT_VERSION;
    try {
      for (const [name, state] of this.module.namedStateTensors()) {
        const base = this.interpolation
          ? this.interpolation.values!.get(name)!
          : this.versions.value(this.currentVersion, name, state);
        const links = chains.get(name);
        if (links) {
          const bent = tf.keep(tf.tidy(() => links.reduce((x, l) => l.callback.apply(x, l.bound.state, l.bound.target), base)));
          owned.push(bent);
          overrides.set(state, bent);
        } else if (usesVersion) overrides.set(state, base);
      }
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
    const result = overrides.size ? overrides : null;
    this.cache = { key, overrides: result, owned };
    return result;
  }

  private execute(fn: string, args: unknown[], options: { bended: boolean; capture?: Set<string> }): { output: unknown; captured: Record<string, Tensor> } {
    const method = resolveMethod(this.module, fn);
    const overrides = options.bended ? (this.pinned ? this.pinned.overrides : this.overrides()) : null;
    const chains = options.bended ? this.activationChains(fn) : new Map<string, ActivationLink[]>();
    const capture = options.capture;
    const hooked = chains.size > 0 || (capture !== undefined && capture.size > 0);
    const traced = hooked ? this.traced(fn) : undefined;
    return tf.tidy(() => {
      const captured: Record<string, Tensor> = {};
      // A captured value is a kept clone (sharing the data): a module that runs its own
      // tf.tidy (interpreted TorchScript) or updates tensors in place would dispose the
      // value itself before the caller reads it.
      const keepCaptured = (key: string, value: Tensor): void => {
        captured[key]?.dispose(); // a node run twice (a loop): the last value counts
        captured[key] = tf.keep(value.clone());
      };
      const output = withStateOverrides(overrides, () => {
        if (!hooked) return method.apply(this.module, args);
        return runHooked(this.module, fn, args, (name, value) => {
          // a list (split, chunk) is not hooked; its items are captured for its getitem nodes
          if (Array.isArray(value) && capture?.has(`${name}[]`)) value.forEach((v, i) => v instanceof tf.Tensor && keepCaptured(`${name}[${i}]`, v));
          if (!(value instanceof tf.Tensor)) return value;
          if (capture?.has(name)) keepCaptured(name, value);
          const links = chains.get(name);
          let out = value;
          if (links) for (const l of links) out = l.callback.apply(out, l.bound.state, l.bound.target);
          if (capture?.has(`${name}_bended`)) keepCaptured(`${name}_bended`, out);
          return out;
        }, { inputNames: traced!.inputNames, kernels: traced!.graph.untrackedKernels.length > 0, index: traced!.index });
      });
      return { output, captured } as unknown as tf.TensorContainer;
    }) as unknown as { output: unknown; captured: Record<string, Tensor> };
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
    const wanted = typeof names === "string" ? [names] : names;
    const known = this.activationNames(fn);
    for (const n of wanted) {
      const base = n.endsWith("_bended") && !known.includes(n) ? n.slice(0, -"_bended".length) : n;
      if (!known.includes(base)) throw new BendingError(`'${n}' is not an activation of ${fn} (activations: ${known.join(", ")})`);
    }
    const { inputNames } = this.traced(fn);
    const args = Array.isArray(inputs) ? inputs : inputNames.map((name) => inputs[name]);
    const lists = this.listsOfItems(wanted, fn);
    const { output, captured } = this.execute(fn, args, { bended: options.bended ?? true, capture: new Set([...wanted, ...[...lists.values()].map((l) => `${l.list}[]`)]) });
    for (const [item, { list, index }] of lists) captured[item] ??= captured[`${list}[${index}]`];
    const result: Record<string, Tensor> = {};
    for (const n of wanted) {
      const value = captured[n] ?? (n.endsWith("_bended") ? captured[n.slice(0, -"_bended".length)] : undefined) ?? this.attributeActivation(n, fn, options.bended ?? true);
      if (value === undefined) {
        tf.dispose([...Object.values(captured), ...Object.values(result), ...flattenTensors(output).filter((t) => !args.includes(t))]);
        const base = n.endsWith("_bended") ? n.slice(0, -"_bended".length) : n;
        const { shape } = this.activationNode(base, fn);
        if (Array.isArray(shape?.[0])) throw new BendingError(`activation '${base}' of ${fn} is a list of ${shape.length} tensors; read its items (the getitem nodes that use it)`);
        throw new BendingError(`activation '${n}' was not produced by this run of ${fn} as a real tensor (a complex value is read through the real tensors around it)`);
      }
      result[n] = value;
    }
    const keep = new Set(Object.values(result));
    for (const v of Object.values(captured)) if (!keep.has(v)) v.dispose();
    for (const t of flattenTensors(output)) if (!keep.has(t)) t.dispose();
    return result;
  }

  /** For wanted getitem nodes of a list-valued node: the list's name and the item's index (they are read from the list). */
  private listsOfItems(wanted: string[], fn: string): Map<string, { list: string; index: number }> {
    const out = new Map<string, { list: string; index: number }>();
    const nodes = this.traced(fn).graph.activationNodes();
    for (const n of wanted) {
      const base = n.endsWith("_bended") ? n.slice(0, -"_bended".length) : n;
      const node = nodes.find((x) => x.name === base);
      const [src, index] = node?.target === "getitem" ? node.args : [];
      if (src instanceof Node && typeof index === "number") out.set(n, { list: src.name, index });
    }
    return out;
  }

  /**
   * A get_attr node's value (a constant the code made, or a parameter/buffer read, as the
   * pass uses it when `bended`), which a run does not pass through its hooks; a kept copy.
   */
  private attributeActivation(name: string, fn: string, bended: boolean): Tensor | undefined {
    const base = name.endsWith("_bended") ? name.slice(0, -"_bended".length) : name;
    const { graph } = this.traced(fn);
    const node = graph.activationNodes().find((n) => n.name === base);
    if (node?.op !== "get_attr") return undefined;
    const value = graph.constants.get(node.target) ?? (bended ? this.bendedStateDict() : this.stateDict())[node.target];
    return value === undefined ? undefined : tf.keep(value.clone());
  }

  /** Frees versions, caches and bending state (not the wrapped module). */
  dispose(): void {
    this.reset();
    this.clearInterpolation();
    this.versions.dispose();
    if (this.cache) for (const t of this.cache.owned) t.dispose();
    this.cache = null;
    for (const t of this.traces.values()) for (const c of t.graph.constants.values()) c.dispose();
    this.traces.clear();
  }
}

function flattenTensors(value: unknown): Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(flattenTensors);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(flattenTensors);
  return [];
}

/** BendingCallback.equals, where code callbacks (a Lambda, a chain holding one) cannot be compared: not equal. */
function sameCallback(a: BendingCallback, b: BendingCallback): boolean {
  try {
    return a.equals(b) && b.equals(a);
  } catch {
    return false;
  }
}

function resolveMethodName(module: Module, fn: string): boolean {
  return module.findMethod(fn) !== null;
}
