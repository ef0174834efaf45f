// Checks of a command's atoms, with errors that say what to send instead.
import { BendingError } from "../errors.js";
import { numericAtom, quoted, type Atom } from "../protocol/atoms.js";

export function symbol(args: Atom[], i: number, name: string): string {
  const v = args[i];
  if (v === undefined) throw new BendingError(`missing ${name}`);
  if (typeof v !== "string") throw new BendingError(`${name} must be a word, got ${v}`);
  return v;
}

export function optionalSymbol(args: Atom[], i: number, name: string): string | undefined {
  return args[i] === undefined ? undefined : symbol(args, i, name);
}

export function number(args: Atom[], i: number, name: string): number {
  const v = args[i];
  if (v === undefined) throw new BendingError(`missing ${name}`);
  const n = numericAtom(v);
  if (n === undefined) throw new BendingError(`${name} must be a number, got ${describeAtom(v)}`);
  if (!Number.isFinite(n)) throw new BendingError(`${name} must be a finite number, got ${n}`);
  return n;
}

/** An atom as an error message names it: the word 'abc', the number 3. */
export function describeAtom(v: Atom): string {
  return typeof v === "number" ? `the number ${v}` : `the word '${quoted(v, 40)}'`;
}

/** Longest preset or version name (a preset's becomes a file name). */
const MAX_NAME = 64;

/** A preset or version name that is a plain file name: letters, digits, _ . -, not starting with a dot. */
export function plainName(name: string, what: "config" | "version"): string {
  if (!/^[\w-][\w.-]*$/.test(name) || name.length > MAX_NAME) {
    throw new BendingError(`${what} names are 1 to ${MAX_NAME} letters, digits, _ . - and do not start with a dot; got '${quoted(name)}'`);
  }
  return name;
}

export function noMore(args: Atom[], count: number, usage: string): void {
  if (args.length > count) throw new BendingError(`too many arguments; usage: ${usage}`);
}

/** A range end for a reply: the number, or `open` for none or an infinite end. */
export function finiteOr<T>(v: number | undefined, open: T): number | T {
  return v !== undefined && Number.isFinite(v) ? v : open;
}
