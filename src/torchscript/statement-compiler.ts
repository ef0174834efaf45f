// The statement compiler: each statement to a closure that returns how control goes on
// (0 next, 1 return, 2 break, 3 continue): assignments and their targets, if/while/for
// (each iteration counted against the call's step budget), with blocks, raise and assert.
// Errors leave a block with the method and file:line added once. Extends the call compiler.
import { BendingError } from "../errors.js";
import type { Expr, Loc, Stmt } from "./syntax.js";
import { countStep, type CallContext } from "./context.js";
import { formatValue } from "./strings.js";
import { isInstance, type Exec, type Frame, type Value } from "./script-class.js";
import { describe, iterable, truthy } from "./script-values.js";
import type { Scope } from "./compile-scope.js";
import { CallCompiler } from "./call-compiler.js";

class RaisedError extends BendingError {}

/** A BendingError with the TorchScript location appended once. */
function located(e: unknown, label: string, loc: Loc): Error {
  if (e instanceof Error && (e as { tsLocated?: boolean }).tsLocated) return e;
  const message = e instanceof Error ? e.message : String(e);
  const err = e instanceof RaisedError ? e : new BendingError(`${message} (in ${label}, ${loc.file}:${loc.line})`);
  if (e instanceof RaisedError) err.message = `${message} (raised in ${label}, ${loc.file}:${loc.line})`;
  (err as { tsLocated?: boolean }).tsLocated = true;
  return err;
}

/** Calls a context manager's `__enter__`/`__exit__` when its class defines one (a `with` block). */
function contextMethod(manager: Value, name: "__enter__" | "__exit__", args: Value[], ctx: CallContext): Value {
  if (!isInstance(manager)) return undefined;
  const method = manager.scriptClass.methods.get(name);
  return method === undefined ? undefined : method.invoke(ctx, manager, args);
}

export abstract class StatementCompiler extends CallCompiler {
  protected compileBlock(stmts: Stmt[], scope: Scope): Exec {
    const compiled = stmts.map((s) => this.compileStmt(s, scope));
    const locs = stmts.map((s) => s.loc);
    const label = scope.label;
    const n = compiled.length;
    return (f) => {
      let i = 0;
      try {
        for (; i < n; i++) {
          const r = compiled[i](f);
          if (r !== 0) return r;
        }
      } catch (e) {
        throw located(e, label, locs[i]);
      }
      return 0;
    };
  }

  private compileStmt(s: Stmt, scope: Scope): Exec {
    switch (s.k) {
      case "expr": {
        const e = this.compileExpr(s.value, scope);
        return (f) => {
          e(f);
          return 0;
        };
      }
      case "pass": return () => 0;
      case "break": return () => 2;
      case "continue": return () => 3;
      case "return": {
        const e = s.value === null ? null : this.compileExpr(s.value, scope);
        return (f) => {
          f.ret = e === null ? null : e(f);
          return 1;
        };
      }
      case "raise": {
        const e = s.value === null ? null : this.compileExpr(s.value, scope);
        return (f) => {
          throw new RaisedError(`exception raised by the model: ${e === null ? "" : formatValue(e(f), 1000)}`);
        };
      }
      case "assert": {
        const test = this.compileExpr(s.test, scope);
        const msg = s.msg === null ? null : this.compileExpr(s.msg, scope);
        return (f) => {
          if (!truthy(test(f))) throw new RaisedError(`assertion failed${msg === null ? "" : `: ${formatValue(msg(f), 1000)}`}`);
          return 0;
        };
      }
      case "assign": {
        const value = this.compileExpr(s.value, scope);
        const stores = s.targets.map((t) => this.compileStore(t, scope));
        if (stores.length === 1) {
          const store = stores[0];
          return (f) => {
            store(f, value(f));
            return 0;
          };
        }
        return (f) => {
          const v = value(f);
          for (const store of stores) store(f, v);
          return 0;
        };
      }
      case "augassign": {
        const read = this.compileExpr(s.target, scope);
        const value = this.compileExpr(s.value, scope);
        const op = this.binaryOp(s.op, s.loc, scope);
        const store = this.compileStore(s.target, scope);
        return (f) => {
          store(f, op.call([read(f), value(f)], f.ctx));
          return 0;
        };
      }
      case "if": {
        const test = this.compileExpr(s.test, scope);
        const body = this.compileBlock(s.body, scope);
        const orelse = this.compileBlock(s.orelse, scope);
        return (f) => (truthy(test(f)) ? body(f) : orelse(f));
      }
      case "while": {
        const test = this.compileExpr(s.test, scope);
        const body = this.compileBlock(s.body, scope);
        return (f) => {
          while (truthy(test(f))) {
            countStep(f.ctx);
            const r = body(f);
            if (r === 1) return 1;
            if (r === 2) break;
          }
          return 0;
        };
      }
      case "with": {
        const contexts = s.items.map((i) => this.compileExpr(i.context, scope));
        const stores = s.items.map((i) => (i.target === null ? null : this.compileStore(i.target, scope)));
        const body = this.compileBlock(s.body, scope);
        return (f) => {
          const entered: Value[] = [];
          try {
            for (let i = 0; i < contexts.length; i++) {
              const manager = contexts[i](f);
              const value = contextMethod(manager, "__enter__", [], f.ctx);
              entered.push(manager);
              stores[i]?.(f, value === undefined ? manager : value);
            }
            return body(f);
          } finally {
            for (const manager of entered.reverse()) contextMethod(manager, "__exit__", [null, null, null], f.ctx);
          }
        };
      }
      case "for": {
        const store = this.compileStore(s.target, scope);
        const body = this.compileBlock(s.body, scope);
        const iter = s.iter;
        if (iter.k === "call" && iter.fn.k === "name" && iter.fn.id === "range" && iter.kwargs.length === 0) {
          const args = iter.args.map((a) => this.compileExpr(a, scope));
          return (f) => {
            const v = args.map((a) => a(f) as number);
            const [start, stop, step] = v.length === 1 ? [0, v[0], 1] : [v[0], v[1], v[2] ?? 1];
            if (step === 0) throw new BendingError("range() step must not be zero");
            for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
              countStep(f.ctx);
              store(f, i);
              const r = body(f);
              if (r === 1) return 1;
              if (r === 2) break;
            }
            return 0;
          };
        }
        const items = this.compileExpr(iter, scope);
        return (f) => {
          const seq = items(f);
          const list = iterable(seq);
          for (const item of list) {
            countStep(f.ctx);
            store(f, item);
            const r = body(f);
            if (r === 1) return 1;
            if (r === 2) break;
          }
          return 0;
        };
      }
    }
  }

  private compileStore(t: Expr, scope: Scope): (f: Frame, v: Value) => void {
    if (t.k === "name") {
      const slot = scope.slot(t.id);
      return (f, v) => {
        f.s[slot] = v;
      };
    }
    if (t.k === "tuple" || t.k === "list") {
      const stores = t.items.map((i) => this.compileStore(i, scope));
      return (f, v) => {
        const items = iterable(v);
        if (items.length !== stores.length) throw new BendingError(`cannot unpack ${items.length} values into ${stores.length} names`);
        for (let i = 0; i < stores.length; i++) stores[i](f, items[i]);
      };
    }
    if (t.k === "attr") {
      const obj = this.compileExpr(t.obj, scope);
      const name = t.name;
      return (f, v) => {
        const o = obj(f);
        if (!isInstance(o)) throw new BendingError(`cannot set attribute '${name}' on ${describe(o)}`);
        o.setField(name, v, f.ctx);
      };
    }
    if (t.k === "index") {
      const obj = this.compileExpr(t.obj, scope);
      const index = this.compileExpr(t.index, scope);
      return (f, v) => {
        const o = obj(f);
        const i = index(f);
        if (Array.isArray(o) && typeof i === "number") {
          const at = i < 0 ? i + o.length : i;
          if (at < 0 || at >= o.length) throw new BendingError(`list index ${i} out of range`);
          o[at] = v;
        } else if (o instanceof Map) o.set(i, v);
        else throw new BendingError(`cannot assign an item of ${describe(o)}`);
      };
    }
    throw new BendingError(`cannot assign to this expression (${t.loc.file}:${t.loc.line})`);
  }
}
