// The types of nn~ attributes as TorchScript prints them (`bool`, `int`, `float`, `str`,
// `List[float]`, `Tuple[int, float]`, `Optional[str]`; nn~ keeps most attributes as tuples,
// so `Tuple[int, float]` is common) and the atoms a patch sends for them: one atom per
// value, a tuple's values in order, each checked against its own type.
import { BendingError } from "../errors.js";
import type { AttributeValue } from "../nn/method-spec.js";
import type { Atom } from "../protocol/atoms.js";

type Scalar = "bool" | "int" | "float" | "str" | "any";

/** One value (scalar), any number of one type (list), or a fixed row of types (tuple). */
export type AttributeType =
  | { kind: "scalar"; type: Scalar }
  | { kind: "list"; element: Scalar }
  | { kind: "tuple"; items: Scalar[] };

/** Splits at commas outside brackets. */
function topLevelParts(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[" || text[i] === "(") depth++;
    else if (text[i] === "]" || text[i] === ")") depth--;
    else if (text[i] === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== "");
}

function scalar(text: string): Scalar {
  const t = text.trim().replace(/^Optional\[(.*)\]$/, "$1").toLowerCase();
  if (t === "bool" || t === "int" || t === "float" || t === "str") return t;
  if (t === "string") return "str";
  if (t === "number") return "float";
  return "any";
}

/** The structure of a printed TorchScript type (nested containers count as any). */
export function attributeType(type: string): AttributeType {
  const t = type.trim().replace(/^Optional\[(.*)\]$/, "$1");
  const container = /^(List|Tuple|list|tuple)\s*\[(.*)\]$/.exec(t);
  if (container) {
    const items = topLevelParts(container[2]).map(scalar);
    if (/^list$/i.test(container[1])) return { kind: "list", element: items[0] ?? "any" };
    return { kind: "tuple", items };
  }
  const parts = topLevelParts(t);
  if (parts.length > 1) return { kind: "tuple", items: parts.map(scalar) };
  return { kind: "scalar", type: scalar(t) };
}

function one(name: string, type: Scalar, a: Atom, position: string): boolean | number | string {
  if (type === "str") return String(a);
  if (type === "any") return a;
  if (type === "bool" && (a === "true" || a === "false")) return a === "true";
  if (typeof a !== "number" || !Number.isFinite(a)) throw new BendingError(`attribute '${name}'${position} takes ${type === "bool" ? "a bool (0 or 1)" : `a${type === "int" ? "n" : ""} ${type}`}, got '${a}'`);
  if (type === "bool") return a !== 0;
  if (type === "int" && !Number.isInteger(a)) throw new BendingError(`attribute '${name}'${position} takes an int, got ${a}`);
  return a;
}

/** An enum's name from a name or an index into its choices; refuses others, listing the choices. */
function enumName(name: string, choices: string[], atoms: Atom[]): string {
  const list = `${choices.join(", ")} (or an index 0-${choices.length - 1})`;
  if (atoms.length !== 1) throw new BendingError(`attribute '${name}' takes one of ${list}, got ${atoms.length} values`);
  const a = atoms[0];
  if (typeof a === "number" && Number.isInteger(a) && a >= 0 && a < choices.length) return choices[a];
  if (typeof a === "string" && choices.includes(a)) return a;
  throw new BendingError(`attribute '${name}' takes one of ${list}, got '${a}'`);
}

/** The type `attributes` shows: the printed type, or `enum[a,b,c]` for an enum. */
export function attributeTypeName(type: string, choices?: string[]): string {
  return choices === undefined ? type.replace(/\s/g, "") : `enum[${choices.join(",")}]`;
}

/**
 * Atoms as the value of an nn~ attribute of printed type `type`: one value, or one per element
 * of a list or tuple; an enum (`choices`) takes one of its names or the name's index.
 */
export function attributeValue(name: string, type: string, atoms: Atom[], choices?: string[]): AttributeValue {
  if (atoms.length === 0) throw new BendingError(`missing value for attribute '${name}'`);
  if (choices !== undefined) atoms = [enumName(name, choices, atoms)];
  const t = attributeType(type);
  if (t.kind === "list") return atoms.map((a, i) => one(name, t.element, a, ` (value ${i + 1})`));
  if (t.kind === "tuple") {
    if (atoms.length !== t.items.length) throw new BendingError(`attribute '${name}' takes ${t.items.length} value${t.items.length === 1 ? "" : "s"} (${t.items.join(", ")}), got ${atoms.length}`);
    return atoms.map((a, i) => one(name, t.items[i], a, t.items.length > 1 ? ` (value ${i + 1})` : ""));
  }
  if (atoms.length > 1) throw new BendingError(`attribute '${name}' takes one ${type} value, got ${atoms.length}`);
  return one(name, t.type, atoms[0], "");
}
