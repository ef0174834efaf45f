// The TorchScript interpreter: compiles the parsed source of every class and function
// once, at load, into closures (names resolved to frame slots, ops to table entries,
// keyword arguments to positions), so a call does no string work. Values are tfjs
// tensors, JS numbers/booleans/strings/null, arrays (lists and tuples), Maps (dicts)
// and script instances (modules). Errors name the method and the source file:line.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import type { ClassDef, Expr, FunctionDef, Loc, ParsedFile, Stmt } from "./syntax.js";
import { bindDefaults, findOp, type OpDef } from "./op-table.js";
// every op family registered before the first lookup
import "./ops.js";
import { checkListLength, type CallContext } from "./context.js";
import { formatValue } from "./strings.js";
import { atCallSite, trackingCallSites } from "./call-sites.js";

export type Value = unknown;

/** What the interpreter needs from a module instance (TorchScriptModule implements it). */
export interface ScriptInstance {
  readonly scriptClass: ScriptClass;
  getField(name: string, ctx: CallContext): Value;
  setField(name: string, value: Value, ctx: CallContext): void;
  /** Calls `forward` as torch's __call__ (a call_module node for leaf modules). */
  callForward(args: Value[]): Value;
}

export const SCRIPT_INSTANCE = Symbol("tfbend.torchscript.instance");

export function isInstance(v: Value): v is ScriptInstance {
  return typeof v === "object" && v !== null && (v as { [SCRIPT_INSTANCE]?: true })[SCRIPT_INSTANCE] === true;
}

/** Frame of one function call: local slots and the return value. */
export interface Frame {
  s: Value[];
  ret: Value;
  ctx: CallContext;
}

type Eval = (f: Frame) => Value;
/** Statement result: 0 go on, 1 return, 2 break, 3 continue. */
type Exec = (f: Frame) => number;

export class CompiledFunction {
  body: Exec = () => 0;
  defaults: (Eval | null)[] = [];
  slotCount = 0;
  constructor(readonly def: FunctionDef, readonly owner: string, readonly isMethod: boolean) {}

  get label(): string {
    return `${this.owner}.${this.def.name}`;
  }

  /** Parameter names after `self`. */
  get argumentNames(): string[] {
    return this.def.params.slice(this.isMethod ? 1 : 0).map((p) => p.name);
  }

  invoke(ctx: CallContext, self: ScriptInstance | null, args: Value[]): Value {
    const params = this.def.params;
    const s = new Array<Value>(this.slotCount);
    let p = 0;
    if (this.isMethod) s[p++] = self;
    const frame: Frame = { s, ret: null, ctx };
    const given = args.length;
    const total = params.length - (this.isMethod ? 1 : 0);
    if (given > total) throw new BendingError(`${this.label}() takes ${total} arguments, got ${given}`);
    for (let i = 0; i < total; i++, p++) {
      if (i < given && args[i] !== undefined) s[p] = args[i];
      else {
        const d = this.defaults[p];
        if (d === null || d === undefined) throw new BendingError(`${this.label}() is missing argument '${params[p].name}'`);
        s[p] = d(frame);
      }
    }
    const depth = ctx.budget.limits.depth;
    if (ctx.frames.length >= depth) throw new BendingError(`${this.label}() nests more than ${depth} calls deep (endless recursion?)`);
    countStep(ctx);
    ctx.frames.push(s);
    try {
      this.body(frame);
    } finally {
      ctx.frames.pop();
    }
    return frame.ret;
  }
}

export class ScriptClass {
  readonly methods = new Map<string, CompiledFunction>();
  readonly constants = new Map<string, Value>();
  /** Buffers this class writes (in-place ops or assignments in its methods): streaming state. */
  mutatesState = false;
  constructor(readonly def: ClassDef, readonly file: string) {}
  get name(): string {
    return this.def.qualifiedName;
  }
  /** The short class name (`Conv1d`). */
  get shortName(): string {
    return this.def.name;
  }
}

/** An op the table lacks, with where the code uses it. */
export interface MissingOp {
  op: string;
  where: string;
}

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

const NAMESPACES = new Set(["torch", "ops", "__torch__", "CONSTANTS", "math", "builtins", "Tensor", "List", "Tuple", "Dict", "Optional",
  "Final", "int", "float", "bool", "str", "NoneType", "Any", "number", "Device", "Future", "Union"]);

/** Counts one loop iteration or call against the top-level call's budget. */
function countStep(ctx: CallContext): void {
  if (++ctx.steps > ctx.budget.limits.steps) {
    throw new BendingError(`the model ran more than ${ctx.budget.limits.steps.toLocaleString("en")} loop iterations and calls in one call (an endless loop?)`);
  }
}

/** Calls a context manager's `__enter__`/`__exit__` when its class defines one (a `with` block). */
function contextMethod(manager: Value, name: "__enter__" | "__exit__", args: Value[], ctx: CallContext): Value {
  if (!isInstance(manager)) return undefined;
  const method = manager.scriptClass.methods.get(name);
  return method === undefined ? undefined : method.invoke(ctx, manager, args);
}

/** Python truthiness (a tensor must have one element). */
export function truthy(v: Value): boolean {
  if (v instanceof tf.Tensor) {
    if (v.size !== 1) throw new BendingError(`the truth value of a tensor with ${v.size} elements is ambiguous`);
    return v.dataSync()[0] !== 0;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === "string") return v.length > 0;
  return Boolean(v);
}

/** Python equality for the values TorchScript compares (numbers, strings, None, lists). */
export function pyEquals(a: Value, b: Value): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  return a === b;
}

/** Compiles a whole archive's code: every class and function, with one op table. */
export class Program {
  readonly classes = new Map<string, ScriptClass>();
  readonly functions = new Map<string, CompiledFunction>();
  readonly missing: MissingOp[] = [];
  /** Whether any code writes tensors in place (then views are tracked). */
  hasInPlace = false;
  private readonly functionDefs = new Map<string, [FunctionDef, string]>();

  constructor(files: ParsedFile[], readonly constants: Value[]) {
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

  private inPlaceCount = 0;

  /** Makes an instance of a scripted class (`__torch__.X.__new__`); set by the runtime that runs the program. */
  newObject: ((cls: ScriptClass) => ScriptInstance) | null = null;

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

  // --- statements -----------------------------------------------------------------

  private compileBlock(stmts: Stmt[], scope: Scope): Exec {
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

  // --- expressions ----------------------------------------------------------------

  private binaryOp(op: string, loc: Loc, scope: Scope): BoundOp {
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
          return (f) => op(a(f), b(f));
        }
        return (f) => {
          let left = operands[0](f);
          for (let i = 0; i < ops.length; i++) {
            const right = operands[i + 1](f);
            if (!truthy(ops[i](left, right))) return false;
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
      return valueAttribute(o, name);
    };
  }

  /** A call that puts its site on the stack while call sites are recorded (see call-sites.ts). */
  private sited(e: Extract<Expr, { k: "call" }>, scope: Scope, call: Eval): Eval {
    const fn = scope.fn;
    if (fn === null) return call;
    return (f) => (trackingCallSites() ? atCallSite({ expr: e, def: fn.def, owner: fn.owner, self: fn.isMethod ? f.s[0] : null }, () => call(f)) : call(f));
  }

  private compileCall(e: Extract<Expr, { k: "call" }>, scope: Scope): Eval {
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
          return valueAttribute(o, n);
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

/** Binary operators to the op table's names. */
const BINARY: Record<string, string> = {
  "+": "add", "-": "sub", "*": "mul", "/": "div", "//": "floordiv", "%": "remainder", "**": "pow", "@": "matmul",
  "&": "__and__", "|": "__or__", "^": "__xor__", "<<": "__lshift__", ">>": "__rshift__",
};

function compareFn(op: string): (a: Value, b: Value) => Value {
  const byOp: Record<string, string> = { "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };
  if (op in byOp) {
    const def = findOp(byOp[op])!;
    const bound = new BoundOp(def, byOp[op]);
    return (a, b) => bound.call([a, b], null as unknown as CallContext);
  }
  switch (op) {
    case "is": return (a, b) => a === b;
    case "is not": return (a, b) => a !== b;
    case "in": return (a, b) => contains(b, a);
    case "not in": return (a, b) => !contains(b, a);
    default: throw new BendingError(`unknown comparison ${op}`);
  }
}

function contains(container: Value, item: Value): boolean {
  if (Array.isArray(container)) return container.some((x) => pyEquals(x, item));
  if (container instanceof Map) return container.has(item);
  if (typeof container === "string") return container.includes(String(item));
  throw new BendingError(`'in' is not supported on ${describe(container)}`);
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

/** An op with its defaults filled in. */
export class BoundOp {
  constructor(readonly def: OpDef | null, readonly name: string) {}

  bindKeywords(kwNames: string[], label: string, where: string, missing: MissingOp[] | null): number[] {
    const def = this.def;
    if (def === null) return [];
    return kwNames.map((k) => {
      const i = def.params.indexOf(k);
      if (i < 0 && missing !== null) missing.push({ op: `${label}(${k}=...)`, where });
      return i;
    });
  }

  call(args: Value[], ctx: CallContext): Value {
    const def = this.def;
    if (def === null) throw new BendingError(`'${this.name}' is not supported`);
    const out = def.fn(bindDefaults(def, args), ctx);
    if (ctx) ctx.budget.check(this.name);
    return out;
  }
}

/** A Python slice object `a:b:c`. */
export class SliceValue {
  constructor(readonly start: number | null, readonly stop: number | null, readonly step: number | null) {}
}

export const ELLIPSIS = Symbol("Ellipsis");

/** Scalar constants the code refers to by name. */
const NAMED_CONSTANTS: Record<string, Value> = {
  "math.pi": Math.PI, "math.e": Math.E, "math.inf": Infinity, "math.nan": NaN,
};

function dottedName(e: Expr): string | null {
  if (e.k === "name") return e.id;
  if (e.k === "attr") {
    const head = dottedName(e.obj);
    return head === null ? null : `${head}.${e.name}`;
  }
  return null;
}

/** `torch.conv1d` → `conv1d`, `ops.prim.RaiseException` → `prim::RaiseException`, `ops.aten.x` → `x`. */
function opNameOf(dotted: string): string {
  if (dotted.startsWith("ops.prim.")) return `prim::${dotted.slice("ops.prim.".length)}`;
  if (dotted.startsWith("ops.aten.")) return dotted.slice("ops.aten.".length);
  if (dotted.startsWith("torch.")) {
    const rest = dotted.slice("torch.".length);
    // torch.nn.functional.x, torch.fft.x, torch.linalg.x, torch._C._nn.x: the last part
    if (rest.startsWith("fft.")) return `fft_${rest.slice(4)}`;
    if (rest.startsWith("linalg.")) return `linalg_${rest.slice(7)}`;
    const parts = rest.split(".");
    return parts[parts.length - 1];
  }
  if (dotted.startsWith("math.")) return `math.${dotted.slice(5)}`;
  return dotted;
}

class Scope {
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

function collectLocals(stmts: Stmt[], scope: Scope): void {
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

function iterable(v: Value): Value[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys()];
  if (typeof v === "string") return [...v];
  if (v instanceof tf.Tensor) return tf.unstack(v);
  throw new BendingError(`${describe(v)} is not iterable`);
}

export function describe(v: Value): string {
  if (v === null) return "None";
  if (v instanceof tf.Tensor) return `a tensor of shape [${v.shape.join(", ")}]`;
  if (Array.isArray(v)) return "a list";
  if (isInstance(v)) return `a ${v.scriptClass.shortName} module`;
  if (v instanceof Map) return "a dict";
  return `a ${typeof v} (${String(v)})`;
}

function typeNames(e: Expr): string[] {
  if (e.k === "tuple") return e.items.flatMap(typeNames);
  const d = dottedName(e.k === "index" ? e.obj : e);
  return d === null ? [] : [d];
}

function isOfType(v: Value, type: string): boolean {
  switch (type) {
    case "Tensor": return v instanceof tf.Tensor;
    case "int": return typeof v === "number" && Number.isInteger(v);
    case "float": return typeof v === "number";
    case "bool": return typeof v === "boolean";
    case "str": return typeof v === "string";
    case "List": case "Tuple": case "list": case "tuple": return Array.isArray(v);
    case "Dict": case "dict": return v instanceof Map;
    case "NoneType": case "None": return v === null;
    default: return isInstance(v) && (v.scriptClass.name === type || v.scriptClass.shortName === type.split(".").pop());
  }
}

/** `x.shape`, `x.dtype`, ... on non-module values. */
function valueAttribute(o: Value, name: string): Value {
  if (o instanceof tf.Tensor) {
    const def = findOp(name === "shape" ? "size" : name === "T" ? "t" : `prim::${name}`);
    if (def !== null) return def.fn(bindDefaults(def, [o]), null as unknown as CallContext);
  }
  throw new BendingError(`${describe(o)} has no attribute '${name}'`);
}

/** Keeps the compiler's tensor constants alive with the program; frees them with it. */
export function disposeValues(values: Value[]): void {
  for (const v of values) {
    if (v instanceof tf.Tensor) v.dispose();
    else if (Array.isArray(v)) disposeValues(v);
  }
}

export type { Tensor };
