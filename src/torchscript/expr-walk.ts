// Walking the parsed expressions of TorchScript code (syntax.ts): one expression's direct children.
import type { Expr } from "./syntax.js";

/** The expressions directly inside `e`. */
export function childExprs(e: Expr): Expr[] {
  switch (e.k) {
    case "attr": return [e.obj];
    case "call": return [e.fn, ...e.args, ...e.kwargs.map(([, v]) => v)];
    case "index": return [e.obj, e.index];
    case "slice": return [e.lower, e.upper, e.step].filter((x): x is Expr => x !== null);
    case "tuple": case "list": return e.items;
    case "dict": return [...e.keys, ...e.values];
    case "unary": return [e.operand];
    case "binary": case "bool": return [e.left, e.right];
    case "compare": return e.operands;
    case "ifexp": return [e.test, e.body, e.orelse];
    default: return [];
  }
}
