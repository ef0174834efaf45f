// A bending callback from a command's atoms (`mask prob 0.4 dim -2`, `scale scale @gain=1.5`),
// checked against the callback's declared arguments where it enters.
import { BendingError } from "../errors.js";
import {
  callbackArguments,
  callbackFromJSON,
  checkArgumentNames,
  checkDomain,
  registeredCallbacks,
  type ArgJSON,
  type ArgumentSpec,
  type CallbackJSON,
} from "../bending/callback.js";
import { BendingParameter } from "../bending/parameter.js";
import type { BendedModule } from "../bended/bended-module.js";
import { numericAtom, type Atom } from "../protocol/atoms.js";
import { describeAtom, number, symbol } from "./command-args.js";

/** A name as a patch may write it (case-insensitive, underscores optional): "mask" → "Mask". */
function callbackType(word: string): string {
  const wanted = word.toLowerCase().replace(/_/g, "");
  const found = registeredCallbacks().find((t) => t.toLowerCase() === wanted);
  if (!found || found === "Lambda") {
    const known = registeredCallbacks().filter((t) => t !== "Lambda").map((t) => t.toLowerCase());
    throw new BendingError(`unknown callback '${word}' (callbacks: ${known.join(", ")})`);
  }
  return found;
}

/**
 * A callback from `<type> [arg value]...`. A value `@name` binds the argument to the live
 * control `name` (created with the argument's value if it does not exist: `@keep=0.3`, and
 * with the argument's domain as its range). Every value is checked against the callback's
 * declared arguments here, where it enters, so the reply says what to send.
 */
export function callbackFromAtoms(bended: BendedModule, atoms: Atom[]): ReturnType<typeof callbackFromJSON> {
  const type = callbackType(symbol(atoms, 0, "callback"));
  if ((atoms.length - 1) % 2 !== 0) throw new BendingError(`callback arguments come in pairs: <name> <value>`);
  const specs = callbackArguments(type);
  const keys = atoms.filter((_, i) => i % 2 === 1).map((_, k) => symbol(atoms, 1 + 2 * k, "argument name"));
  checkArgumentNames(type, keys, ["seed"]);
  const args: Record<string, ArgJSON> = {};
  const lists: Record<string, number[]> = {};
  let seed: number | undefined;
  for (let i = 1; i < atoms.length; i += 2) {
    const key = atoms[i] as string;
    const value = atoms[i + 1];
    if (key === "seed") {
      seed = number(atoms, i + 1, "seed");
      if (!Number.isInteger(seed) || seed < 0) throw new BendingError(`seed must be a non-negative integer, got ${seed}`);
      continue;
    }
    const spec = specs[key];
    const label = `${type} ${key}`;
    if (spec.kind === "dim" || spec.kind === "numbers") {
      const n = numericAtom(value);
      const what = spec.kind === "dim" ? "an integer axis (e.g. dim -2; repeat dim for several axes)" : "a number (repeat it for a list)";
      if (n === undefined || !Number.isFinite(n) || (spec.kind === "dim" && !Number.isInteger(n))) {
        throw new BendingError(`${label} must be ${what}, got ${describeAtom(value)}`);
      }
      (lists[key] ??= []).push(n);
      continue;
    }
    if (spec.kind === "word") {
      if (typeof value !== "string" || !spec.words!.includes(value)) {
        throw new BendingError(`${label} must be one of ${spec.words!.join(", ")}, got ${describeAtom(value)}`);
      }
      args[key] = value;
      continue;
    }
    if (spec.kind === "text") {
      if (typeof value !== "string" || value.length === 0) throw new BendingError(`${label} must be a name (e.g. a cluster: net_6:c0), got ${describeAtom(value)}`);
      args[key] = value;
      continue;
    }
    if (typeof value === "string" && value.startsWith("@")) {
      args[key] = boundControl(bended, type, key, spec, value);
      continue;
    }
    const n = numericAtom(value);
    if (n === undefined) throw new BendingError(`${label} must be a number or @control, got ${describeAtom(value)}`);
    if (!Number.isFinite(n)) throw new BendingError(`${label} must be a finite number, got ${n}`);
    if (spec.kind === "integer" && !Number.isInteger(n)) throw new BendingError(`${label} must be an integer, got ${n}`);
    checkDomain(type, key, spec, n);
    args[key] = n;
  }
  for (const [key, list] of Object.entries(lists)) args[key] = specs[key].kind === "dim" && list.length === 1 ? list[0] : list;
  const json: CallbackJSON = { type, args, seed: seed ?? Math.floor(Math.random() * 2 ** 31) };
  // Controls named in the message are the module's own when they exist already.
  return callbackFromJSON(json, (p) => bended.controlFor(p.control, p.value, { range: p.range ?? undefined, clamp: p.clamp }));
}

/** `@name` or `@name=value`: the existing control, or a new one ranged over the argument's domain. */
function boundControl(bended: BendedModule, type: string, key: string, spec: ArgumentSpec, word: string): ArgJSON {
  const [name, initial, ...rest] = word.slice(1).split("=");
  const start = initial === undefined ? undefined : numericAtom(initial);
  if (rest.length > 0 || (initial !== undefined && (start === undefined || !Number.isFinite(start)))) {
    throw new BendingError(`control value in '${word}' is not a number (write @name or @name=0.3)`);
  }
  const existing = bended.controls().find((c) => c.name === name);
  if (existing) return existing.toJSON();
  const lo = spec.min ?? -Infinity;
  const hi = spec.max ?? Infinity;
  // without a value, the default 0.5 moved into the domain
  const value = start ?? Math.min(hi, Math.max(lo, 0.5));
  checkDomain(type, key, spec, value, `control '${name}' =`);
  const range: [number, number] | undefined = spec.min !== undefined || spec.max !== undefined ? [lo, hi] : undefined;
  return new BendingParameter(name, value, { range }).toJSON();
}
