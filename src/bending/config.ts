// BendingConfig: bendings as an object — (callback, pattern) pairs that can be bound to
// a module (patterns resolved to concrete weights and activations), added, compared,
// printed like the seed, and saved/loaded as JSON with each callback's seed.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { BendingError } from "../errors.js";
import { pyString } from "../util/format.js";
import { replaceFileSync } from "../formats/replace-file.js";
import { BendingCallback, callbackFromJSON, type CallbackJSON, type ControlResolver } from "./callback.js";
import { BendingParameter, type ParameterOptions } from "./parameter.js";

/** What a config binds to: resolves patterns to target keys (BendedModule implements it). */
export interface PatternResolver {
  /** Target keys a pattern reaches (weights by name, activations by node name). */
  resolvePattern(pattern: string): string[];
  /** "Stanley(id = 5501192016)" */
  describeModule(): string;
  /** The live control a saved config refers to (the module's own, if it has one). */
  controlFor?(name: string, value: number, options: ParameterOptions): BendingParameter;
}

export interface ConfigEntry {
  callback: BendingCallback;
  pattern: string;
}

export type ConfigTuple = [BendingCallback, ...string[]];

interface ConfigJSON {
  format: "tfbend-config";
  version: 1;
  callbacks: CallbackJSON[];
  entries: { callback: number; pattern: string }[];
}

export class BendingConfig {
  readonly entries: ConfigEntry[] = [];
  private resolver: PatternResolver | null = null;
  private targets: string[][] = [];

  constructor(...tuples: ConfigTuple[]) {
    for (const [callback, ...patterns] of tuples) {
      if (!(callback instanceof BendingCallback)) throw new BendingError("a BendingConfig entry starts with a bending callback");
      if (patterns.length === 0) throw new BendingError(`${callback} has no pattern in this BendingConfig entry`);
      for (const pattern of patterns) this.entries.push({ callback, pattern });
    }
  }

  static fromEntries(entries: ConfigEntry[]): BendingConfig {
    const config = new BendingConfig();
    config.entries.push(...entries);
    return config;
  }

  get isBound(): boolean {
    return this.resolver !== null;
  }

  /** Resolves every pattern against `resolver` (a BendedModule); returns this config. */
  bind(resolver: PatternResolver): this {
    this.targets = this.entries.map((e) => resolver.resolvePattern(e.pattern));
    this.resolver = resolver;
    return this;
  }

  /** The concatenation of both configs (bound to this one's module, if any). */
  add(other: BendingConfig): BendingConfig {
    const sum = BendingConfig.fromEntries([...this.entries, ...other.entries]);
    const resolver = this.resolver ?? other.resolver;
    return resolver ? sum.bind(resolver) : sum;
  }

  /** Distinct callbacks in order of first appearance. */
  callbacks(): BendingCallback[] {
    return [...new Set(this.entries.map((e) => e.callback))];
  }

  /** Targets reached by each callback (bound configs). */
  private groups(): [BendingCallback, string[]][] {
    return this.callbacks().map((cb) => {
      const keys: string[] = [];
      this.entries.forEach((e, i) => {
        if (e.callback !== cb) return;
        for (const k of this.targets[i] ?? []) if (!keys.includes(k)) keys.push(k);
      });
      return [cb, keys];
    });
  }

  /** Callbacks that act on `key`, in the order they chain. */
  opFromKey(key: string): BendingCallback[] {
    const out: BendingCallback[] = [];
    this.entries.forEach((e, i) => {
      const hit = this.resolver ? this.targets[i].includes(key) : e.pattern === key || anchored(e.pattern)?.test(key);
      if (hit && !out.includes(e.callback)) out.push(e.callback);
    });
    return out;
  }

  equals(other: BendingConfig): boolean {
    if (this.isBound !== other.isBound) return false;
    if (!this.isBound) {
      return (
        this.entries.length === other.entries.length &&
        this.entries.every((e, i) => e.pattern === other.entries[i].pattern && e.callback.equals(other.entries[i].callback))
      );
    }
    const a = this.groups();
    const b = other.groups();
    return (
      a.length === b.length &&
      a.every(([cb, keys], i) => cb.equals(b[i][0]) && keys.length === b[i][1].length && keys.every((k) => b[i][1].includes(k)))
    );
  }

  toString(): string {
    if (!this.resolver) {
      const lines = this.entries.map((e) => `\t(${e.callback}, ${pyString(e.pattern)})`);
      return `BendingConfig(\n${lines.join("\n")}\n)`;
    }
    const lines = this.groups().map(([cb, keys]) => `\t${cb}: [${keys.map(pyString).join(", ")}]`);
    return `BendingConfig(\nmodule = ${this.resolver.describeModule()}\n${lines.join("\n")}\n)`;
  }

  toJSON(): ConfigJSON {
    const callbacks = this.callbacks();
    return {
      format: "tfbend-config",
      version: 1,
      callbacks: callbacks.map((c) => c.toJSON()),
      entries: this.entries.map((e) => ({ callback: callbacks.indexOf(e.callback), pattern: e.pattern })),
    };
  }

  /** Writes the config as JSON, replacing an old file atomically. */
  save(path: string): void {
    replaceFileSync(path, JSON.stringify(this.toJSON(), null, 2));
  }

  static fromJSON(json: unknown, resolver?: PatternResolver): BendingConfig {
    const data = json as Partial<ConfigJSON>;
    if (data?.format !== "tfbend-config" || !Array.isArray(data.callbacks) || !Array.isArray(data.entries)) {
      throw new BendingError("not a tfbend bending config (expected format 'tfbend-config' with callbacks and entries)");
    }
    data.callbacks.forEach((c, i) => checkCallbackJSON(c, `callback #${i}`));
    data.entries.forEach((e, i) => {
      const entry = e as unknown;
      if (!isRecord(entry) || !Number.isInteger(entry.callback) || typeof entry.pattern !== "string") {
        throw new BendingError(`bending config entry #${i} must be {"callback": <index>, "pattern": "<pattern>"}`);
      }
    });
    const controls = new Map<string, BendingParameter>();
    const resolveControl: ControlResolver = (p) => {
      let control = controls.get(p.control);
      if (control === undefined) {
        const options = { range: p.range ?? undefined, clamp: p.clamp };
        control = resolver?.controlFor?.(p.control, p.value, options) ?? new BendingParameter(p.control, p.value, options);
        controls.set(p.control, control);
      }
      return control;
    };
    const callbacks = data.callbacks.map((c) => callbackFromJSON(c, resolveControl));
    const config = BendingConfig.fromEntries(
      data.entries.map((e) => {
        const callback = callbacks[e.callback];
        if (callback === undefined) throw new BendingError(`config entry refers to callback #${e.callback}, which does not exist`);
        return { callback, pattern: e.pattern };
      }),
    );
    return resolver ? config.bind(resolver) : config;
  }

  /** Loads a saved config; bound to `resolver` (a BendedModule) when given. */
  static load(path: string, resolver?: PatternResolver): BendingConfig {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new BendingError(`cannot read bending config '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // JSON.parse quotes the text; an error names the file, never its content.
      throw new BendingError(`bending config '${path}' is not valid JSON`);
    }
    return BendingConfig.fromJSON(json, resolver);
  }
}

// Patterns come from patches: match them with V8's linear-time engine, so that no pattern
// (e.g. "((.*)*)*!") can backtrack for minutes and stall the inference thread.
setFlagsFromString("--enable-experimental-regexp-engine");
let linear = true;
try {
  new RegExp("a", "l");
} catch {
  linear = false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A saved callback's shape (type, args, seed; a Chain's parts too), checked before anything is built from it. */
function checkCallbackJSON(json: unknown, where: string): void {
  if (!isRecord(json) || typeof json.type !== "string") throw new BendingError(`bending config ${where} must be {"type": "<callback>", "args": {...}, "seed": <number>}`);
  if (!isRecord(json.args)) throw new BendingError(`bending config ${where}: "args" must be an object`);
  if (json.seed !== undefined && !Number.isFinite(json.seed)) throw new BendingError(`bending config ${where}: "seed" must be a number`);
  if (json.type === "Chain") {
    const parts = (json.args as Record<string, unknown> | undefined)?.callbacks;
    if (!Array.isArray(parts)) throw new BendingError(`bending config ${where}: a Chain's "args" holds "callbacks": [...]`);
    parts.forEach((c, i) => checkCallbackJSON(c, `${where} part #${i}`));
  }
}

/** Longest pattern accepted (names are short; this bounds the matching work too). */
export const MAX_PATTERN_LENGTH = 256;

/**
 * A pattern as a regular expression matched from the start of a name, or null if it is
 * invalid, too long, or needs backtracking (backreferences, lookarounds).
 */
export function anchored(pattern: string): RegExp | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return null;
  try {
    return new RegExp(`^(?:${pattern})`, linear ? "l" : "");
  } catch {
    return null;
  }
}
