// What compiled TorchScript is at run time: a compiled function (its frame slots, default
// closures and body closure, and how a call binds arguments and enters a frame), a
// scripted class with its compiled methods and constants, and the instance interface
// that modules implement. The compilers (expression-, call-, statement-compiler.ts and
// interpreter.ts) fill these in; modules and objects (module.ts, objects.ts) run them.
import { BendingError } from "../errors.js";
import type { ClassDef, FunctionDef } from "./syntax.js";
import { countStep, type CallContext } from "./context.js";

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

export type Eval = (f: Frame) => Value;
/** Statement result: 0 go on, 1 return, 2 break, 3 continue. */
export type Exec = (f: Frame) => number;

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
