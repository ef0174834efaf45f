// The TorchScript interpreter: compiles the parsed source of every class and function
// once, at load, into closures (names resolved to frame slots, ops to table entries,
// keyword arguments to positions), so a call does no string work. Values are tfjs
// tensors, JS numbers/booleans/strings/null, arrays (lists and tuples), Maps (dicts)
// and script instances (modules). Errors name the method and the source file:line.
// This file holds the program: what is compiled, in which order, and which classes write
// their state; the compilers it extends hold each kind of code (statement-compiler.ts,
// call-compiler.ts, expression-compiler.ts), the values are in script-class.ts and
// script-values.ts.
import type { FunctionDef, ParsedFile, Stmt } from "./syntax.js";
import type { CallContext } from "./context.js";
// every op family registered before the first lookup
import "./ops.js";
import { CompiledFunction, ScriptClass, type Value } from "./script-class.js";
import { collectLocals, Scope } from "./compile-scope.js";
import { StatementCompiler } from "./statement-compiler.js";

/** Compiles a whole archive's code: every class and function, with one op table. */
export class Program extends StatementCompiler {
  /** Whether any code writes tensors in place (then views are tracked). */
  hasInPlace = false;
  private readonly functionDefs = new Map<string, [FunctionDef, string]>();

  constructor(files: ParsedFile[], constants: Value[]) {
    super(constants);
    for (const file of files) {
      for (const c of file.classes) this.classes.set(c.qualifiedName, new ScriptClass(c, file.file));
      for (const fn of file.functions) this.functionDefs.set(`${file.qualifier}.${fn.name}`, [fn, file.qualifier]);
    }
    for (const [name, [def, qualifier]] of this.functionDefs) {
      const compiled = new CompiledFunction(def, qualifier, false);
      this.functions.set(name, compiled);
    }
    for (const cls of this.classes.values()) {
      for (const [name, def] of cls.def.methods) cls.methods.set(name, new CompiledFunction(def, cls.shortName, true));
    }
    for (const cls of this.classes.values()) {
      for (const [name, expr] of cls.def.constants) {
        cls.constants.set(name, this.compileExpr(expr, new Scope(null, `${cls.shortName}`))({ s: [], ret: null, ctx: null as unknown as CallContext }));
      }
      for (const fn of cls.methods.values()) {
        const before = this.inPlaceCount;
        this.compileFunction(fn);
        if (this.inPlaceCount > before || this.assignsSelf(fn.def.body, cls.def.buffers)) cls.mutatesState = true;
      }
    }
    for (const fn of this.functions.values()) this.compileFunction(fn);
    this.hasInPlace = this.inPlaceCount > 0;
  }

  /** Whether the code assigns one of the class's buffers (`self.cache = ...`). */
  private assignsSelf(body: Stmt[], buffers: string[]): boolean {
    const visit = (stmts: Stmt[]): boolean => stmts.some((s) => {
      if (s.k === "assign") return s.targets.some((t) => t.k === "attr" && t.obj.k === "name" && t.obj.id === "self" && buffers.includes(t.name));
      if (s.k === "if") return visit(s.body) || visit(s.orelse);
      if (s.k === "for" || s.k === "while" || s.k === "with") return visit(s.body);
      return false;
    });
    return visit(body);
  }

  private compileFunction(fn: CompiledFunction): void {
    const scope = new Scope(fn, fn.label);
    for (const p of fn.def.params) scope.slot(p.name);
    collectLocals(fn.def.body, scope);
    fn.defaults = fn.def.params.map((p) => (p.default === null ? null : this.compileExpr(p.default, scope)));
    fn.body = this.compileBlock(fn.def.body, scope);
    fn.slotCount = scope.size;
  }
}
