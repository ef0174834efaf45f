// The call compiler: a call expression to a closure, resolved once at compile time: an op
// of the table (`torch.x`, `ops.aten.x`, tensor/list/str methods), a function or class of
// the archive, a module method, or a builtin with its own evaluation (isinstance, getattr,
// range...); keyword arguments bound to positions. Extends the expression compiler.
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";
import type { Expr } from "./syntax.js";
import { findOp } from "./op-table.js";
import { checkListLength } from "./context.js";
import { isInstance, type CompiledFunction, type Eval, type Frame, type ScriptClass, type Value } from "./script-class.js";
import { describe, isOfType } from "./script-values.js";
import { dottedName, NAMESPACES, opNameOf, typeNames } from "./script-names.js";
import { BoundOp } from "./bound-op.js";
import type { Scope } from "./compile-scope.js";
import { ExpressionCompiler, valueAttribute } from "./expression-compiler.js";

export abstract class CallCompiler extends ExpressionCompiler {
  protected override compileCall(e: Extract<Expr, { k: "call" }>, scope: Scope): Eval {
    const out = e.kwargs.findIndex(([k]) => k === "out");
    if (out >= 0) {
      // `torch.div(a, b, out=c)`: the op's result written into c in place (as copy_ does); c is the value
      const target = this.compileExpr(e.kwargs[out][1], scope);
      const compute = this.compileCall({ ...e, kwargs: e.kwargs.filter((_, i) => i !== out) }, scope);
      const copy = new BoundOp(findOp("copy_"), "copy_");
      this.inPlaceCount++;
      return (f) => {
        const result = compute(f);
        const into = target(f);
        if (into === null) return result;
        if (!(into instanceof tf.Tensor) || !(result instanceof tf.Tensor)) throw new BendingError(`out= needs tensors, got ${describe(into)} and ${describe(result)}`);
        return copy.call([into, result], f.ctx);
      };
    }
    const where = `${scope.label} (${e.loc.file}:${e.loc.line})`;
    const args = e.args.map((a) => this.compileExpr(a, scope));
    const kwNames = e.kwargs.map(([k]) => k);
    const kwValues = e.kwargs.map(([, v]) => this.compileExpr(v, scope));
    const fn = e.fn;
    // builtins with special evaluation
    if (fn.k === "name" && scope.lookup(fn.id) === undefined) {
      const special = this.compileBuiltin(fn.id, e, scope, args);
      if (special !== null) return special;
    }
    const dotted = fn.k === "attr" || fn.k === "name" ? dottedName(fn) : null;
    const root = dotted?.split(".")[0];
    if (dotted !== null && root !== undefined && scope.lookup(root) === undefined && (root === "torch" || root === "ops" || root === "math" || NAMESPACES.has(dotted))) {
      const opName = opNameOf(dotted);
      const def = findOp(opName);
      if (def === null) {
        this.missing.push({ op: dotted, where });
        return () => {
          throw new BendingError(`TorchScript op '${dotted}' is not supported by tfbend`);
        };
      }
      if (def.inPlace) this.inPlaceCount++;
      const op = new BoundOp(def, opName);
      const positions = op.bindKeywords(kwNames, dotted, where, this.missing);
      return this.callOp(op, args, positions, kwValues);
    }
    if (dotted !== null && root === "__torch__" && scope.lookup(root) === undefined && dotted.endsWith(".__new__")) {
      // `__torch__.X.__new__(__torch__.X)`, then `(obj).__init__(...)`: a scripted class built at run time
      const cls = this.classes.get(dotted.slice(0, -".__new__".length));
      if (cls === undefined) {
        this.missing.push({ op: `constructing ${dotted.slice(0, -".__new__".length)}`, where });
        return () => {
          throw new BendingError(`'${dotted}' constructs a class the archive does not define`);
        };
      }
      return () => {
        if (this.newObject === null) throw new BendingError(`cannot construct ${cls.name} outside a loaded model`);
        return this.newObject(cls);
      };
    }
    if (dotted !== null && root === "__torch__" && scope.lookup(root) === undefined) {
      const target = this.functions.get(dotted);
      if (target === undefined) {
        if (this.classes.has(dotted)) this.missing.push({ op: `constructing ${dotted}`, where });
        else this.missing.push({ op: dotted, where });
        return () => {
          throw new BendingError(`'${dotted}' is not defined in the archive`);
        };
      }
      const kwPositions = kwNames.map((k) => {
        const i = target.def.params.findIndex((p) => p.name === k);
        if (i < 0) this.missing.push({ op: `${dotted}(${k}=...)`, where });
        return i;
      });
      return (f) => target.invoke(f.ctx, null, gatherArgs(f, args, kwPositions, kwValues, 0));
    }
    if (fn.k === "name" && scope.lookup(fn.id) !== undefined) {
      // a local holding a function (`_0 = __torch__.torch.nn.functional.leaky_relu; _0(x)`)
      const callee = this.compileExpr(fn, scope);
      return (f) => {
        const c = callee(f);
        const target = typeof c === "string" ? this.functions.get(c) : undefined;
        if (target === undefined) throw new BendingError(`${describe(c)} is not callable`);
        return target.invoke(f.ctx, null, gatherArgs(f, args, kwNames.map((k) => target.def.params.findIndex((p) => p.name === k)), kwValues, 0));
      };
    }
    if (fn.k === "attr") {
      // a method call on a value: module method, or a tensor/list/str method from the op table
      const obj = this.compileExpr(fn.obj, scope);
      const method = fn.name;
      const valueOp = findOp(method);
      const bound = valueOp === null ? null : new BoundOp(valueOp, method);
      const valuePositions = bound === null ? [] : bound.bindKeywords(kwNames, method, where, null);
      let cachedClass: ScriptClass | null = null;
      let cached: CompiledFunction | null = null;
      let kwPositions: number[] = [];
      return (f) => {
        const o = obj(f);
        if (isInstance(o)) {
          if (method === "forward" && kwNames.length === 0) return o.callForward(args.map((a) => a(f)));
          if (o.scriptClass !== cachedClass) {
            cached = o.scriptClass.methods.get(method) ?? null;
            cachedClass = o.scriptClass;
            if (cached !== null) {
              const c = cached;
              kwPositions = kwNames.map((k) => c.def.params.findIndex((p) => p.name === k) - 1);
            }
          }
          if (cached === null) throw new BendingError(`${o.scriptClass.shortName} has no method '${method}'`);
          if (method === "forward") return o.callForward(gatherArgs(f, args, kwPositions, kwValues, 0));
          return cached.invoke(f.ctx, o, gatherArgs(f, args, kwPositions, kwValues, 0));
        }
        if (bound === null) throw new BendingError(`${describe(o)} has no method '${method}'`);
        const a = gatherArgs(f, args, valuePositions.map((p) => p - 1), kwValues, 0);
        return bound.call([o, ...a], f.ctx);
      };
    }
    this.missing.push({ op: `call of ${fn.k}`, where });
    return () => {
      throw new BendingError("unsupported call");
    };
  }

  private callOp(op: BoundOp, args: Eval[], positions: number[], kwValues: Eval[]): Eval {
    const n = args.length;
    if (positions.length === 0) {
      if (n === 1) {
        const a0 = args[0];
        return (f) => op.call([a0(f)], f.ctx);
      }
      if (n === 2) {
        const [a0, a1] = args;
        return (f) => op.call([a0(f), a1(f)], f.ctx);
      }
      return (f) => {
        const a = new Array<Value>(n);
        for (let i = 0; i < n; i++) a[i] = args[i](f);
        return op.call(a, f.ctx);
      };
    }
    return (f) => op.call(gatherArgs(f, args, positions, kwValues, 0), f.ctx);
  }

  private compileBuiltin(id: string, e: Extract<Expr, { k: "call" }>, scope: Scope, args: Eval[]): Eval | null {
    const where = `${scope.label} (${e.loc.file}:${e.loc.line})`;
    switch (id) {
      case "annotate":
      case "unchecked_cast":
        return args[1];
      case "uninitialized":
        return () => null;
      case "isinstance": {
        const value = args[0];
        const types = typeNames(e.args[1]);
        return (f) => types.some((t) => isOfType(value(f), t));
      }
      case "getattr": {
        const [obj, name] = args;
        const dflt = args[2];
        return (f) => {
          const o = obj(f);
          const n = name(f) as string;
          if (isInstance(o)) return o.getField(n, f.ctx);
          if (dflt !== undefined) return dflt(f);
          return valueAttribute(o, n, f.ctx);
        };
      }
      case "hasattr": {
        const [obj, name] = args;
        return (f) => {
          const o = obj(f);
          if (!isInstance(o)) return false;
          try {
            o.getField(name(f) as string, f.ctx);
            return true;
          } catch {
            return false;
          }
        };
      }
      case "range": {
        return (f) => {
          const v = args.map((a) => a(f) as number);
          const [start, stop, step] = v.length === 1 ? [0, v[0], 1] : [v[0], v[1], v[2] ?? 1];
          if (step === 0) throw new BendingError("range() step must not be zero");
          checkListLength(Math.max(0, Math.ceil((stop - start) / step)), "range()", f.ctx);
          const out: number[] = [];
          for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
          return out;
        };
      }
      case "print":
        return () => null;
      default: {
        const def = findOp(`builtins.${id}`);
        if (def === null) {
          if (this.functions.has(`__torch__.${id}`)) return null;
          this.missing.push({ op: id, where });
          return () => {
            throw new BendingError(`'${id}' is not supported`);
          };
        }
        const op = new BoundOp(def, id);
        return this.callOp(op, args, op.bindKeywords(e.kwargs.map(([k]) => k), id, where, this.missing), e.kwargs.map(([, v]) => this.compileExpr(v, scope)));
      }
    }
  }
}

/** Positional values plus keyword values put at their parameter positions. */
function gatherArgs(f: Frame, args: Eval[], positions: number[], kwValues: Eval[], offset: number): Value[] {
  const out: Value[] = args.map((a) => a(f));
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i] - offset;
    if (p < 0) throw new BendingError("unknown keyword argument");
    while (out.length < p) out.push(undefined);
    out[p] = kwValues[i](f);
  }
  return out;
}
