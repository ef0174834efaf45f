// Node names, shared by the tracer and the hooked executor: both see the same calls in
// the same order, so both give them the same names (conv_modules.0 → conv_modules_0,
// a repeated function add → add, add_1, ...).
import type { Module } from "../nn/module.js";
import type { CallKind } from "../nn/hooks.js";
import { snakeCase } from "../util/format.js";

export class Namer {
  private readonly counts = new Map<string, number>();
  private readonly used = new Set<string>();

  /** A fresh name from `base`: base, base_1, base_2, ... never one given before (lin_1 twice → lin_1_1). */
  next(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(\d)/, "_$1") || "node";
    let n = this.counts.get(clean) ?? 0;
    let name = n === 0 ? clean : `${clean}_${n}`;
    while (this.used.has(name)) name = `${clean}_${++n}`;
    this.counts.set(clean, n + 1);
    this.used.add(name);
    return name;
  }
}

/** Dotted path of every module under `root`. */
export function modulePaths(root: Module): Map<Module, string> {
  const paths = new Map<Module, string>();
  for (const [path, mod] of root.namedModules()) if (!paths.has(mod)) paths.set(mod, path);
  return paths;
}

/** The target recorded for a call (module path, op name or method name). */
export function callTarget(kind: CallKind, target: unknown, paths: Map<Module, string>): string {
  if (kind === "call_module") {
    const mod = target as Module;
    return paths.get(mod) || snakeCase(mod.constructor.name);
  }
  return String(target);
}

/** The base a node's name is made from. */
export function nameBase(kind: CallKind | "get_attr" | "kernel", target: string): string {
  if (kind === "call_module" || kind === "get_attr") return target.replace(/\./g, "_");
  return snakeCase(target);
}

/** Parameter names of a method, from its source (like Python's inspect.signature). */
export function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const open = source.indexOf("(");
  if (open < 0) return [];
  let depth = 0;
  let end = open;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) {
        end = i;
        break;
      }
    }
  }
  const inner = source.slice(open + 1, end);
  const parts: string[] = [];
  let current = "";
  depth = 0;
  for (const c of inner) {
    if (c === "(" || c === "[" || c === "{") depth++;
    if (c === ")" || c === "]" || c === "}") depth--;
    if (c === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  if (current.trim() !== "") parts.push(current);
  return parts.map((p, i) => {
    const m = /^\s*(?:\.\.\.)?\s*([A-Za-z_$][\w$]*)/.exec(p);
    return m ? m[1] : `arg${i}`;
  });
}
