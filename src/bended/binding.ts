// Binding a bending to its targets: resolving its patterns, drawing each target's state,
// and binding it again to the activations of a method that was (re)traced.
import { BendingError } from "../errors.js";
import type { Module } from "../nn/module.js";
import { formatRecordedShape } from "../graph/graph.js";
import { hashSeed, type BendingCallback, type BendingTarget } from "../bending/callback.js";
import { FN_SCOPE, activationKey, resolvePatternTargets } from "./patterns.js";
import type { Bending, BoundTarget } from "./bendings.js";
import type { Traces } from "./traces.js";

/** What binding reads from the bended module. */
export interface BindingContext {
  readonly module: Module;
  readonly traces: Traces;
  /** A stored channel cluster by name (see BendedModule.clusterChannels). */
  cluster(name: string): number[] | undefined;
}

export function bindTarget(ctx: BindingContext, callback: BendingCallback, kind: "weight" | "activation", name: string, fn?: string): BoundTarget {
  callback.checkCompatible(kind, name);
  let shape: number[];
  if (kind === "weight") shape = weightShape(ctx.module, name);
  else {
    const recorded = ctx.traces.activationNode(name, fn!).shape;
    if (recorded === null || (recorded.length > 0 && Array.isArray(recorded[0]))) {
      throw new BendingError(`activation '${name}' of ${fn} is not a single tensor (traced: ${formatRecordedShape(recorded) || "no tensor"})`);
    }
    shape = recorded as number[];
  }
  const key = kind === "weight" ? name : activationKey(fn!, name);
  const clusters = (cluster: string) => ctx.cluster(cluster);
  const target: BendingTarget = { kind, name, fn, shape, seed: hashSeed(callback.seed, key), clusters };
  return { target, state: callback.init(target) };
}

/** The shape of parameter `name`; a BendingError naming the weights when there is none. */
export function weightShape(module: Module, name: string): number[] {
  const parameters = module.namedParameters();
  const found = parameters.find(([n]) => n === name);
  if (!found) throw new BendingError(`unknown weight '${name}' (weights: ${parameters.map(([n]) => n).join(", ")})`);
  return found[1].shape;
}

export interface BoundPatterns {
  targets: BoundTarget[];
  /** Target keys reached, each once. */
  reached: string[];
  /** Patterns that matched nothing. */
  unmatched: string[];
}

/** Binds `callback` to every target the patterns reach; on an error, frees what it drew. */
export function bindPatterns(ctx: BindingContext, callback: BendingCallback, patterns: string[]): BoundPatterns {
  const targets: BoundTarget[] = [];
  const reached: string[] = [];
  const unmatched: string[] = [];
  try {
    for (const pattern of patterns) {
      const { weights, activations } = resolvePatternTargets(ctx.module, ctx.traces, pattern);
      if (weights.length + activations.length === 0) unmatched.push(pattern);
      for (const w of weights) {
        if (reached.includes(w)) continue;
        targets.push(bindTarget(ctx, callback, "weight", w));
        reached.push(w);
      }
      for (const [fn, n] of activations) {
        const key = activationKey(fn, n);
        if (reached.includes(key)) continue;
        targets.push(bindTarget(ctx, callback, "activation", n, fn));
        reached.push(key);
      }
    }
  } catch (e) {
    for (const t of targets) callback.disposeState(t.state);
    throw e;
  }
  return { targets, reached, unmatched };
}

/** Re-resolves the activation targets of `fn` in every bending after it was (re)traced. */
export function rebindActivations(ctx: BindingContext, bendings: readonly Bending[], fn: string): void {
  for (const b of bendings) {
    const keep: BoundTarget[] = [];
    for (const t of b.targets) {
      if (t.target.kind === "activation" && t.target.fn === fn) b.callback.disposeState(t.state);
      else keep.push(t);
    }
    for (const pattern of b.patterns) {
      const scoped = FN_SCOPE.exec(pattern);
      if (scoped && scoped[1] !== fn && ctx.traces.has(scoped[1])) continue;
      let activations: [string, string][];
      try {
        activations = resolvePatternTargets(ctx.module, ctx.traces, pattern).activations.filter(([f]) => f === fn);
      } catch {
        continue;
      }
      for (const [f, n] of activations) {
        if (keep.some((t) => t.target.kind === "activation" && t.target.fn === f && t.target.name === n)) continue;
        try {
          keep.push(bindTarget(ctx, b.callback, "activation", n, f));
        } catch {
          // an activation this callback cannot bend in the new trace: skip it
        }
      }
    }
    b.targets = keep;
  }
}
