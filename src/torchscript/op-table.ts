// The one op table: TorchScript ops (`torch.x`, `ops.prim.x`, builtins, tensor and list
// methods) with their schema's parameter names and defaults, onto tfbend's F ops (so
// tracing sees call_function nodes) or plain JS for shapes, ints, lists and strings.
// In-place ops (`copy_`, `add_`, `zero_`, and `<op>_` of any tensor op here) write
// through CallContext.assign, which updates the buffer a view was taken from.
// This file holds the table and its registration and lookup; the ops themselves are
// registered by the ops-*.ts family files (ops.ts imports them all).
import type { Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import type { CallContext } from "./context.js";
import { inPlace } from "./tensor-views.js";

type Value = unknown;
export type OpFn = (a: Value[], ctx: CallContext) => Value;

export interface OpDef {
  name: string;
  params: string[];
  defaults: Value[];
  fn: OpFn;
  inPlace: boolean;
}

const REQUIRED = Symbol("required");
/** Ops that write their first argument. */
const IN_PLACE = new Set(["copy_", "zero_", "fill_"]);
const TABLE = new Map<string, OpDef>();

function literal(text: string): Value {
  const t = text.trim();
  if (t === "None") return null;
  if (t === "True") return true;
  if (t === "False") return false;
  const list = /^\[(.*)\]$/.exec(t);
  if (list !== null) return Object.freeze(list[1].trim() === "" ? [] : list[1].split(";").map(literal));
  if (/^".*"$/.test(t)) return t.slice(1, -1);
  const n = Number(t);
  if (Number.isNaN(n)) throw new Error(`bad default ${t}`);
  return n;
}

/** Registers `fn` under each name, with a schema like "self, dim=0, start=None". */
function op(names: string | string[], signature: string, fn: OpFn): void {
  const params: string[] = [];
  const defaults: Value[] = [];
  for (const part of signature.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    params.push(eq < 0 ? part : part.slice(0, eq).trim());
    defaults.push(eq < 0 ? REQUIRED : literal(part.slice(eq + 1)));
  }
  for (const name of typeof names === "string" ? [names] : names) {
    if (TABLE.has(name)) throw new BendingError(`the TorchScript op '${name}' is defined twice`);
    TABLE.set(name, { name, params, defaults, fn, inPlace: IN_PLACE.has(name) });
  }
}

/** Fills missing arguments from the defaults (in place; `args` is fresh per call). */
export function bindDefaults(def: OpDef, args: Value[]): Value[] {
  const n = def.params.length;
  for (let i = 0; i < n; i++) {
    if (args[i] === undefined) {
      const d = def.defaults[i];
      if (d === REQUIRED) throw new BendingError(`${def.name}() is missing argument '${def.params[i]}'`);
      args[i] = d;
    }
  }
  return args;
}

/** The op for a name, including the in-place form `<op>_` of a tensor op. */
export function findOp(name: string): OpDef | null {
  const hit = TABLE.get(name);
  if (hit !== undefined) return hit;
  if (name.endsWith("_") && !name.endsWith("__")) {
    const base = TABLE.get(name.slice(0, -1));
    if (base === undefined || !TENSOR_OPS.has(base.name)) return null;
    const def: OpDef = {
      name, params: base.params, defaults: base.defaults, inPlace: true,
      fn: (a, ctx) => inPlace(name, a, ctx, () => base.fn(a, ctx) as Tensor),
    };
    TABLE.set(name, def);
    return def;
  }
  return null;
}

/** Names of every op in the table (for the README's coverage list and tests). */
export function opNames(): string[] {
  return [...TABLE.keys()].sort();
}

/** Ops whose first argument is the tensor an in-place form writes. */
const TENSOR_OPS = new Set<string>();

function tensorOp(names: string | string[], signature: string, fn: OpFn): void {
  op(names, signature, fn);
  for (const n of typeof names === "string" ? [names] : names) TENSOR_OPS.add(n);
}

// For the op family files (ops-*.ts, ops-torch2.ts), which register into this table.
export { op as registerOp, tensorOp as registerTensorOp };
