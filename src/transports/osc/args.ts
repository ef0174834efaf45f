// tfbend's atoms as OSC arguments and back. Numbers go out as OSC floats ('f'), never
// silently as ints; coming in, every numeric type, strings and booleans are atoms.
import type { Atom } from "../../protocol/index.js";

export interface OscArg {
  type: string;
  value: unknown;
}

export interface OscMessage {
  address: string;
  args: OscArg[];
}

/** Every tfbend address is this prefix and a command: /tfbend/bend, /tfbend/ok, ... */
export const OSC_PREFIX = "/tfbend/";

export function toOscArgs(values: Atom[]): OscArg[] {
  return values.map((v) => (typeof v === "number" ? { type: "f", value: v } : { type: "s", value: v }));
}

/** A numeric argument's value; NaN for any other type (or none). */
export function oscNumber(arg: OscArg | undefined): number {
  return arg && ["i", "f", "d", "h"].includes(arg.type) ? Number(arg.value) : NaN;
}

/** Atoms from OSC arguments; anything else (blobs, nil, arrays) is refused. */
export function fromOscArgs(args: OscArg[]): Atom[] {
  return args.map((a) => {
    if (a.type === "f" || a.type === "i" || a.type === "d") return Number(a.value);
    if (a.type === "h") {
      // osc.js reads 64-bit integers as {high, low} (Long)
      const long = a.value as { high?: unknown; low?: unknown };
      return typeof long.high === "number" && typeof long.low === "number" ? long.high * 2 ** 32 + (long.low >>> 0) : Number(a.value);
    }
    if (a.type === "s" || a.type === "S" || a.type === "c") return String(a.value);
    if (a.type === "T") return 1;
    if (a.type === "F") return 0;
    throw new Error(`OSC argument type '${a.type}' is not an atom`);
  });
}
