// Pattern resolution: which weights and (method, activation) pairs a bending pattern reaches.
import { BendingError } from "../errors.js";
import type { Module } from "../nn/module.js";
import { MAX_PATTERN_LENGTH, anchored } from "../bending/config.js";
import { DEFAULT_FN, type Traces } from "./traces.js";

/** `fn:pattern` scopes a pattern to the activations of one traced method. */
export const FN_SCOPE = /^([A-Za-z_$][\w$]*):(.+)$/;

export interface ResolvedPattern {
  weights: string[];
  /** (method, activation name) pairs. */
  activations: [string, string][];
}

/** The target key of an activation: its name for `forward`, `fn:name` otherwise. */
export function activationKey(fn: string, name: string): string {
  return fn === DEFAULT_FN ? name : `${fn}:${name}`;
}

export function compilePattern(pattern: string): RegExp {
  const re = anchored(pattern);
  if (re === null) {
    throw new BendingError(`'${pattern}' is not a valid pattern (a regular expression of at most ${MAX_PATTERN_LENGTH} characters, without backreferences or lookarounds)`);
  }
  return re;
}

/** Resolves one pattern into weight names and (fn, activation) pairs. */
export function resolvePatternTargets(module: Module, traces: Traces, pattern: string): ResolvedPattern {
  const weights = module.namedParameters().map(([n]) => n);
  const scoped = FN_SCOPE.exec(pattern);
  if (scoped && traces.has(scoped[1])) {
    const [, fn, inner] = scoped;
    const names = traces.activationNames(fn);
    if (names.includes(inner)) return { weights: [], activations: [[fn, inner]] };
    const re = compilePattern(inner);
    return { weights: [], activations: names.filter((n) => re.test(n)).map((n) => [fn, n]) };
  }
  if (scoped && !weights.includes(pattern) && module.findMethod(scoped[1]) !== null) {
    throw new BendingError(`'${pattern}' scopes method '${scoped[1]}', which is not traced; call trace('${scoped[1]}', inputs) first`);
  }
  const exactActivations: [string, string][] = [];
  for (const fn of traces.names()) {
    const node = traces.get(fn).graph.find(pattern);
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
  const re = compilePattern(pattern);
  const activations: [string, string][] = [];
  for (const fn of traces.names()) for (const n of traces.activationNames(fn)) if (re.test(n)) activations.push([fn, n]);
  return { weights: weights.filter((w) => re.test(w)), activations };
}
