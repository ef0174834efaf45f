// The bendings in place on a module: their bound targets, the chains a pass applies, and
// the checks a new bending must pass (duplicates, limits, control names).
import { BendingError } from "../errors.js";
import type { BendingCallback, BendingTarget, TargetState } from "../bending/callback.js";
import type { BendingParameter } from "../bending/parameter.js";
import { Graph, Node } from "../graph/graph.js";
import { BENDING_LIMITS } from "./limits.js";
import { activationKey } from "./patterns.js";

/** One resolved target of a bending, with its drawn state. */
export interface BoundTarget {
  target: BendingTarget;
  state: TargetState;
}

export interface Bending {
  id: number;
  callback: BendingCallback;
  patterns: string[];
  targets: BoundTarget[];
}

/** One callback in the chain a pass applies to a weight or an activation. */
export interface ChainLink {
  callback: BendingCallback;
  bound: BoundTarget;
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

/** A target's key: weights by name, activations by `activationKey`. */
export function targetKey(target: BendingTarget): string {
  return target.kind === "weight" ? target.name : activationKey(target.fn!, target.name);
}

/** Frees the drawn state of every target of `bendings`. */
export function disposeBendings(bendings: readonly Bending[]): void {
  for (const b of bendings) for (const t of b.targets) b.callback.disposeState(t.state);
}

/** Weight chains: weight name → callbacks in registration order. */
export function weightChains(bendings: readonly Bending[]): Map<string, ChainLink[]> {
  return chains(bendings, (t) => t.kind === "weight");
}

/** Activation chains of `fn`: node name → callbacks in registration order. */
export function activationChains(bendings: readonly Bending[], fn: string): Map<string, ChainLink[]> {
  return chains(bendings, (t) => t.kind === "activation" && t.fn === fn);
}

function chains(bendings: readonly Bending[], wanted: (target: BendingTarget) => boolean): Map<string, ChainLink[]> {
  const out = new Map<string, ChainLink[]>();
  for (const b of bendings) {
    for (const t of b.targets) {
      if (!wanted(t.target)) continue;
      const list = out.get(t.target.name) ?? [];
      list.push({ callback: b.callback, bound: t });
      out.set(t.target.name, list);
    }
  }
  return out;
}

/** A clone of `traced` with a node after each bent activation, named `<name>_bended` (`_bended_1`… for later links). */
export function graphWithBendings(traced: Graph, chains: Map<string, ChainLink[]>): Graph {
  const graph = traced.clone();
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

/** The plan of `fn` for a compiling engine: its activation chains and the weights a live control moves. */
export function planBendings(bendings: readonly Bending[], fn: string, epoch: number): BendingPlan {
  const activations = new Map<string, PlannedBending[]>();
  for (const [name, links] of activationChains(bendings, fn)) {
    activations.set(name, links.map((l) => ({ callback: l.callback, state: l.bound.state, target: l.bound.target })));
  }
  const liveWeights = [...weightChains(bendings)].filter(([, links]) => links.some((l) => l.callback.controls().length > 0)).map(([name]) => name);
  return { epoch, activations, liveWeights };
}

/** Unbinds every target `drop` picks, freeing its state (bendings left with none go). Returns their keys. */
export function removeTargets(bendings: Bending[], drop: (target: BendingTarget) => boolean): string[] {
  const removed: string[] = [];
  for (const b of [...bendings]) {
    const keep = b.targets.filter((t) => {
      if (!drop(t.target)) return true;
      b.callback.disposeState(t.state);
      removed.push(targetKey(t.target));
      return false;
    });
    narrowBending(bendings, b, keep);
  }
  return removed;
}

/** Keeps only `keep` of a bending's targets (their state stays; the others' is already disposed). */
function narrowBending(bendings: Bending[], b: Bending, keep: BoundTarget[]): void {
  if (keep.length !== b.targets.length) {
    // The bending's patterns no longer describe it: pin it to the targets it keeps.
    b.patterns = keep.map((t) => targetKey(t.target));
  }
  b.targets = keep;
  if (keep.length === 0) bendings.splice(bendings.indexOf(b), 1);
}

/**
 * Refuses a new bending of `callback` on `reached` (its bound `targets`, whose state it then
 * frees) when it would duplicate one in place or grow the controls past the limit, or
 * when one of its controls shares a name with another control.
 */
export function checkNewBending(
  bendings: readonly Bending[],
  knownControls: ReadonlyMap<string, BendingParameter>,
  callback: BendingCallback,
  targets: BoundTarget[],
  reached: string[],
): void {
  const refuse = (message: string): never => {
    for (const t of targets) callback.disposeState(t.state);
    throw new BendingError(message);
  };
  const duplicate = identicalBending(bendings, callback, reached);
  if (duplicate !== null) {
    refuse(`${callback} is already bent on ${reached.join(", ")} (bending ${duplicate.id}: ${duplicate.callback} on ${duplicate.patterns.join(", ")}); an identical bending would stack on it. Unbend it first, or change an argument`);
  }
  const newControls = new Set(callback.controls().filter((c) => !knownControls.has(c.name)).map((c) => c.name));
  if (knownControls.size + newControls.size > BENDING_LIMITS.controlsPerModel) {
    refuse(`this model has ${knownControls.size} controls, and ${callback} would add ${newControls.size}: at most ${BENDING_LIMITS.controlsPerModel} controls per model`);
  }
  for (const c of callback.controls()) {
    const known = knownControls.get(c.name);
    if (known !== undefined && known !== c) {
      refuse(`another control named '${c.name}' exists; reuse it (bended.controlFor('${c.name}', ...)) or choose another name`);
    }
  }
}

/**
 * A bending with an equal callback (same type, arguments and seed: two Scale(2) are equal,
 * two Masks drawn from different seeds are not, a Lambda only equals itself) on exactly the
 * same targets, or null.
 */
function identicalBending(bendings: readonly Bending[], callback: BendingCallback, keys: string[]): Bending | null {
  const wanted = [...keys].sort().join("\n");
  for (const b of bendings) {
    if (b.callback !== callback && !sameCallback(b.callback, callback)) continue;
    const have = b.targets.map((t) => targetKey(t.target)).sort().join("\n");
    if (have === wanted) return b;
  }
  return null;
}

/** BendingCallback.equals, where code callbacks (a Lambda, a chain holding one) cannot be compared: not equal. */
function sameCallback(a: BendingCallback, b: BendingCallback): boolean {
  try {
    return a.equals(b) && b.equals(a);
  } catch {
    return false;
  }
}
