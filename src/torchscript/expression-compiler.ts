// The expression compiler: each expression to a closure over a frame (constants, names,
// tuples, lists, dicts, boolean and comparison chains, operators, subscripts, slices,
// attributes). The base of the program compiler: it holds the tables that compiling fills
// (classes, functions, ops the table lacks); calls are compiled by call-compiler.ts, which
// extends it, and statements by statement-compiler.ts.
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";
import type { Expr, Loc } from "./syntax.js";
import { findOp } from "./op-table.js";
import type { CallContext } from "./context.js";
import { atCallSite, trackingCallSites } from "./call-sites.js";
import { isInstance, type CompiledFunction, type Eval, type ScriptClass, type ScriptInstance, type Value } from "./script-class.js";
import { contains, describe, ELLIPSIS, SliceValue, truthy } from "./script-values.js";
import { dottedName, NAMED_CONSTANTS, NAMESPACES } from "./script-names.js";
import { BoundOp, type MissingOp } from "./bound-op.js";
import type { Scope } from "./compile-scope.js";

export abstract class ExpressionCompiler {
  readonly classes = new Map<string, ScriptClass>();
  readonly functions = new Map<string, CompiledFunction>();
  readonly missing: MissingOp[] = [];

  constructor(readonly constants: Value[]) {}

  protected inPlaceCount = 0;

  /** Makes an instance of a scripted class (`__torch__.X.__new__`); set by the runtime that runs the program. */
  newObject: ((cls: ScriptClass) => ScriptInstance) | null = null;

  /** Compiled by the call compiler (call-compiler.ts). */
  protected abstract compileCall(e: Extract<Expr, { k: "call" }>, scope: Scope): Eval;

  protected binaryOp(op: string, loc: Loc, scope: Scope): BoundOp {
    const name = BINARY[op];
    if (name === undefined) {
      this.missing.push({ op: `operator ${op}`, where: `${scope.label} (${loc.file}:${loc.line})` });
      return new BoundOp(null, `operator ${op}`);
    }
    return new BoundOp(findOp(name), name);
  }

  compileExpr(e: Expr, scope: Scope): Eval {
    switch (e.k) {
      case "const": {
        const v = e.value;
        return () => v;
      }
      case "name": return this.compileName(e.id, e.loc, scope);
      case "tuple":
      case "list": {
        const items = e.items.map((i) => this.compileExpr(i, scope));
        return (f) => items.map((i) => i(f));
      }
      case "dict": {
        const keys = e.keys.map((i) => this.compileExpr(i, scope));
        const values = e.values.map((i) => this.compileExpr(i, scope));
        return (f) => new Map(keys.map((k, i) => [k(f), values[i](f)]));
      }
      case "ifexp": {
        const test = this.compileExpr(e.test, scope);
        const body = this.compileExpr(e.body, scope);
        const orelse = this.compileExpr(e.orelse, scope);
        return (f) => (truthy(test(f)) ? body(f) : orelse(f));
      }
      case "bool": {
        const left = this.compileExpr(e.left, scope);
        const right = this.compileExpr(e.right, scope);
        return e.op === "and" ? (f) => { const l = left(f); return truthy(l) ? right(f) : l; }
          : (f) => { const l = left(f); return truthy(l) ? l : right(f); };
      }
      case "unary": {
        const operand = this.compileExpr(e.operand, scope);
        if (e.op === "not") return (f) => !truthy(operand(f));
        if (e.op === "+") return operand;
        const op = new BoundOp(findOp(e.op === "-" ? "neg" : "bitwise_not"), e.op === "-" ? "neg" : "bitwise_not");
        return (f) => op.call([operand(f)], f.ctx);
      }
      case "binary": {
        const left = this.compileExpr(e.left, scope);
        const right = this.compileExpr(e.right, scope);
        const op = this.binaryOp(e.op, e.loc, scope);
        return (f) => op.call([left(f), right(f)], f.ctx);
      }
      case "compare": {
        const operands = e.operands.map((o) => this.compileExpr(o, scope));
        const ops = e.ops.map((o) => compareFn(o));
        if (ops.length === 1) {
          const [a, b] = operands;
          const op = ops[0];
          return (f) => op(a(f), b(f), f.ctx);
        }
        return (f) => {
          let left = operands[0](f);
          for (let i = 0; i < ops.length; i++) {
            const right = operands[i + 1](f);
            if (!truthy(ops[i](left, right, f.ctx))) return false;
            left = right;
          }
          return true;
        };
      }
      case "index": {
        const obj = this.compileExpr(e.obj, scope);
        const index = this.compileExpr(e.index, scope);
        const op = new BoundOp(findOp("__getitem__"), "__getitem__");
        return (f) => op.call([obj(f), index(f)], f.ctx);
      }
      case "slice": {
        const parts = [e.lower, e.upper, e.step].map((p) => (p === null ? null : this.compileExpr(p, scope)));
        return (f) => new SliceValue(parts[0]?.(f) as number | null ?? null, parts[1]?.(f) as number | null ?? null, parts[2]?.(f) as number | null ?? null);
      }
      case "attr": return this.compileAttr(e, scope);
      case "call": return this.sited(e, scope, this.compileCall(e, scope));
    }
  }

  private compileName(id: string, loc: Loc, scope: Scope): Eval {
    const slot = scope.lookup(id);
    if (slot !== undefined) {
      return (f) => {
        const v = f.s[slot];
        if (v === undefined) throw new BendingError(`local variable '${id}' is read before it is assigned`);
        return v;
      };
    }
    if (id === "Ellipsis") return () => ELLIPSIS;
    // torch prints float constants as `inf`, `-inf` and `nan`
    if (id === "inf") return () => Infinity;
    if (id === "nan") return () => NaN;
    if (NAMESPACES.has(id)) return () => id;
    this.missing.push({ op: `name ${id}`, where: `${scope.label} (${loc.file}:${loc.line})` });
    return () => {
      throw new BendingError(`unknown name '${id}'`);
    };
  }

  private compileAttr(e: Extract<Expr, { k: "attr" }>, scope: Scope): Eval {
    const dotted = dottedName(e);
    if (dotted !== null && scope.lookup(dotted.split(".")[0]) === undefined) {
      const root = dotted.split(".")[0];
      if (root === "CONSTANTS") {
        const m = /^CONSTANTS\.c(\d+)$/.exec(dotted);
        if (m === null || Number(m[1]) >= this.constants.length) {
          this.missing.push({ op: dotted, where: `${scope.label} (${e.loc.file}:${e.loc.line})` });
          return () => null;
        }
        const v = this.constants[Number(m[1])];
        return () => v;
      }
      if (dotted in NAMED_CONSTANTS) {
        const v = NAMED_CONSTANTS[dotted];
        return () => v;
      }
      if (root === "torch" || root === "ops" || root === "__torch__" || root === "math") return () => dotted;
    }
    const obj = this.compileExpr(e.obj, scope);
    const name = e.name;
    return (f) => {
      const o = obj(f);
      if (isInstance(o)) return o.getField(name, f.ctx);
      return valueAttribute(o, name, f.ctx);
    };
  }

  /** A call that puts its site on the stack while call sites are recorded (see call-sites.ts). */
  private sited(e: Extract<Expr, { k: "call" }>, scope: Scope, call: Eval): Eval {
    const fn = scope.fn;
    if (fn === null) return call;
    return (f) => (trackingCallSites() ? atCallSite({ expr: e, def: fn.def, owner: fn.owner, self: fn.isMethod ? f.s[0] : null }, () => call(f)) : call(f));
  }
}

/** Binary operators to the op table's names. */
const BINARY: Record<string, string> = {
  "+": "add", "-": "sub", "*": "mul", "/": "div", "//": "floordiv", "%": "remainder", "**": "pow", "@": "matmul",
  "&": "__and__", "|": "__or__", "^": "__xor__", "<<": "__lshift__", ">>": "__rshift__",
};

/** A comparison; tensor comparisons are ops charged to the call's budget like any other. */
function compareFn(op: string): (a: Value, b: Value, ctx: CallContext) => Value {
  const byOp: Record<string, string> = { "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };
  if (op in byOp) {
    const def = findOp(byOp[op])!;
    const bound = new BoundOp(def, byOp[op]);
    return (a, b, ctx) => bound.call([a, b], ctx);
  }
  switch (op) {
    case "is": return (a, b) => a === b;
    case "is not": return (a, b) => a !== b;
    case "in": return (a, b) => contains(b, a);
    case "not in": return (a, b) => !contains(b, a);
    default: throw new BendingError(`unknown comparison ${op}`);
  }
}

/** `x.shape`, `x.dtype`, ... on non-module values. */
export function valueAttribute(o: Value, name: string, ctx: CallContext): Value {
  if (o instanceof tf.Tensor) {
    const def = findOp(name === "shape" ? "size" : name === "T" ? "t" : `prim::${name}`);
    if (def !== null) return new BoundOp(def, name).call([o], ctx);
  }
  throw new BendingError(`${describe(o)} has no attribute '${name}'`);
}
