// Strings built by interpreted code, each bounded before it is built: Python's str() of a
// value (lists may hold the same big list a million times, so the text is cut off rather
// than built), concatenation, repetition, join and slicing (without copying the string
// into an array of characters first).
import { tf } from "../tf.js";
import { clampSliceBound } from "../util/python.js";
import { CALL_LIMITS } from "./budget.js";
import { checkStringLength, type CallContext } from "./context.js";

/** Python's str() of a value; at most `limit` characters, then "...". */
export function formatValue(v: unknown, limit: number = CALL_LIMITS.stringLength): string {
  const out: string[] = [];
  let length = 0;
  const put = (s: string): boolean => {
    if (length + s.length > limit) {
      out.push(s.slice(0, Math.max(0, limit - length)), "...");
      length = limit + 1;
      return false;
    }
    out.push(s);
    length += s.length;
    return true;
  };
  const visit = (x: unknown): boolean => {
    if (x === null) return put("None");
    if (typeof x === "boolean") return put(x ? "True" : "False");
    if (x instanceof tf.Tensor) return put(`tensor(shape=[${x.shape.join(", ")}])`);
    if (Array.isArray(x)) {
      if (!put("[")) return false;
      for (let i = 0; i < x.length; i++) if ((i > 0 && !put(", ")) || !visit(x[i])) return false;
      return put("]");
    }
    return put(String(x));
  };
  visit(v);
  return out.join("");
}

/** `a + b` on strings. */
export function concatStrings(a: string, b: string, ctx: CallContext | null): string {
  checkStringLength(a.length + b.length, "string +", ctx);
  return a + b;
}

/** `s * n`. */
export function repeatString(s: string, times: number, ctx: CallContext | null): string {
  const n = Math.max(0, Math.floor(times));
  checkStringLength(s.length * n, "string *", ctx);
  return s.repeat(n);
}

/** `sep.join(values)`: the length is known before anything is joined. */
export function joinStrings(separator: string, values: unknown[], ctx: CallContext | null): string {
  const parts = values.map((v) => (typeof v === "string" ? v : formatValue(v)));
  let length = Math.max(0, parts.length - 1) * separator.length;
  for (const p of parts) length += p.length;
  checkStringLength(length, "str.join()", ctx);
  return parts.join(separator);
}

/** `s[start:stop:step]` (step > 0) by code points, without building an array of the string's characters. */
export function sliceString(s: string, start: number | null, stop: number | null, step: number): string {
  const astral = /[\uD800-\uDFFF]/.test(s);
  let n = s.length;
  if (astral) {
    n = 0;
    for (const _ of s) n++;
  }
  const from = clampSliceBound(start, n, 0);
  const to = Math.max(from, clampSliceBound(stop, n, n));
  if (!astral && step === 1) return s.slice(from, to);
  let out = "";
  if (!astral) {
    for (let i = from; i < to; i += step) out += s[i];
    return out;
  }
  let i = 0;
  for (const ch of s) {
    if (i >= to) break;
    if (i >= from && (i - from) % step === 0) out += ch;
    i++;
  }
  return out;
}
