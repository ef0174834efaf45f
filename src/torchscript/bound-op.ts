// An op-table entry as compiled code calls it: keyword arguments bound to positions once,
// at compile time (unknown ones recorded as missing ops), and a call that fills defaults
// and checks the call's budget after the op.
import { BendingError } from "../errors.js";
import { bindDefaults, type OpDef } from "./op-table.js";
import type { CallContext } from "./context.js";
import type { Value } from "./script-class.js";

/** An op the table lacks, with where the code uses it. */
export interface MissingOp {
  op: string;
  where: string;
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
