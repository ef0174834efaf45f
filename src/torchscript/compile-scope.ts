// A compiled function's locals: each name a frame slot, found before the body is compiled
// (assignments, loop and `with` targets), so that reads and writes index an array.
import type { Expr, Stmt } from "./syntax.js";
import type { CompiledFunction } from "./script-class.js";

export class Scope {
  private readonly slots = new Map<string, number>();
  constructor(readonly fn: CompiledFunction | null, readonly label: string) {}
  slot(name: string): number {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = this.slots.size;
      this.slots.set(name, s);
    }
    return s;
  }
  lookup(name: string): number | undefined {
    return this.slots.get(name);
  }
  get size(): number {
    return this.slots.size;
  }
}

export function collectLocals(stmts: Stmt[], scope: Scope): void {
  const target = (t: Expr): void => {
    if (t.k === "name") scope.slot(t.id);
    else if (t.k === "tuple" || t.k === "list") t.items.forEach(target);
  };
  for (const s of stmts) {
    if (s.k === "assign") s.targets.forEach(target);
    else if (s.k === "augassign") target(s.target);
    else if (s.k === "for") {
      target(s.target);
      collectLocals(s.body, scope);
    } else if (s.k === "while") collectLocals(s.body, scope);
    else if (s.k === "with") {
      for (const item of s.items) if (item.target !== null) target(item.target);
      collectLocals(s.body, scope);
    }
    else if (s.k === "if") {
      collectLocals(s.body, scope);
      collectLocals(s.orelse, scope);
    }
  }
}
