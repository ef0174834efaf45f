// Activation bendings written into a TorchScript file's code (issue 20): each catalogue
// bending that TorchScript can express becomes one statement after the statement that
// computes the activation (`_3 = torch.tanh(_2)` → `_3 = torch.mul(_3, 2.)` below it),
// its controls baked at their current values and its drawn state (a mask, an order) as a
// constant tensor in the code. Which statement computes an activation is read by tracing
// the method again with call sites recorded (torchscript/call-sites.ts): the trace names
// nodes as the user's trace did. A bending is refused, with the reason, when its code is
// shared (a class several modules use, a helper function, a loop that runs it more than
// once), when the value is used inside a larger expression, or when TorchScript cannot
// express the callback; nothing is ever dropped silently. A bending written into code
// applies wherever that code runs: every method of the file that reaches the statement.
import { tf, type Tensor } from "../tf.js";
import { childExprs } from "../torchscript/expr-walk.js";
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import type { PlannedBending } from "../bended/bendings.js";
import type { Node } from "../graph/graph.js";
import { trace } from "../graph/tracer.js";
import { Mask } from "../bending/mask.js";
import { Affine, Bias, Clamp, OrderedMask, Permute, Reverse, Scale, ThresholdActivation } from "../bending/catalogue.js";
import { resolveControl, type Controllable } from "../bending/parameter.js";
import type { TargetState } from "../bending/callback.js";
import { TorchScriptModule, type TorchScriptRoot } from "../torchscript/module.js";
import { currentCallSite, withCallSites, type CallSite } from "../torchscript/call-sites.js";
import { parseWholeExpression } from "../torchscript/parser.js";
import type { Expr, Stmt } from "../torchscript/syntax.js";

/**
 * One statement to add to a code file: after `line` (1-based) when the statement there
 * assigns the value to a name, or, when the value is a call inside the statement (a `return`,
 * an argument of another call), before it: the call moved into a local that is bent, and the
 * statement reading the local.
 */
export interface CodeEdit {
  /** The code file, as the archive's `code` map names it (`__torch__/model.py`). */
  file: string;
  line: number;
  /** The name the statement assigns (`_3`), or null when the call is moved out of the line. */
  assigned: string | null;
  /** The call's columns in the line (start, end exclusive) when it is moved out. */
  span: [number, number] | null;
  /** The bendings as expressions of the value (`v` → `torch.mul(v, 2.)`), in order. */
  bend: ((v: string) => string)[];
  /** What it writes, for messages: "Scale(2) on decoder_act". */
  what: string[];
}

export interface ActivationEdits {
  edits: CodeEdit[];
  /** Bendings that cannot be written, each with the reason. */
  refused: string[];
}

/** A TorchScript float literal (`2.`, `-0.5`, `1e-07`); infinities are handled by the callers. */
function float(n: number): string {
  if (!Number.isFinite(n)) throw new BendingError(`cannot write ${n} into TorchScript code`);
  const text = String(n);
  return /[.eE]/.test(text) ? text : `${text}.`;
}

function stateTensor(state: TargetState, key: string): Tensor {
  const t = state[key];
  if (!(t instanceof tf.Tensor)) throw new BendingError(`bending state '${key}' is missing`);
  return t;
}

/** A constant tensor in code: a list literal, reshaped, on the value's device. */
function constant(values: ArrayLike<number>, shape: number[], dtype: "float" | "long", like: string): string {
  const list = Array.from(values, (v) => (dtype === "float" ? float(v) : String(Math.trunc(v)))).join(", ");
  // dtype codes: 6 float32, 4 int64 (what torch.jit.save prints for dtypes)
  const t = `torch.tensor([${list}], dtype=${dtype === "float" ? 6 : 4}, device=ops.prim.device(${like}))`;
  return shape.length === 1 ? t : `torch.reshape(${t}, [${shape.join(", ")}])`;
}

const clampUnit = (v: number): number => Math.min(1, Math.max(0, v));
const value = (c: Controllable): number => resolveControl(c);

/** The callback as a TorchScript expression of `v`, or a reason it cannot be one. */
function lowering(b: PlannedBending): ((v: string) => string) | string {
  const c = b.callback;
  if (c instanceof Scale) return (v) => `torch.mul(${v}, ${float(value(c.scale))})`;
  if (c instanceof Bias) return (v) => `torch.add(${v}, ${float(value(c.bias))})`;
  if (c instanceof Affine) return (v) => `torch.add(torch.mul(${v}, ${float(value(c.scale))}), ${float(value(c.bias))})`;
  if (c instanceof Clamp) {
    const lo = value(c.min);
    const hi = value(c.max);
    const bound = (x: number) => (Number.isFinite(x) ? float(x) : "None");
    return (v) => `torch.clamp(${v}, ${bound(lo)}, ${bound(hi)})`;
  }
  if (c instanceof ThresholdActivation) {
    const t = value(c.threshold);
    if (t === -Infinity) return (v) => v;
    if (!Number.isFinite(t)) return `a threshold of ${t} cannot be written`;
    return (v) => `torch.masked_fill(${v}, torch.lt(${v}, ${float(t)}), ${float(value(c.value))})`;
  }
  if (c instanceof Reverse) {
    const dims = typeof c.dim === "number" ? [c.dim] : c.dim;
    return (v) => `torch.flip(${v}, [${dims.join(", ")}])`;
  }
  if (c instanceof Permute) {
    const indices = stateTensor(b.state, "indices");
    const order = Array.from(indices.dataSync());
    return (v) => `torch.index_select(${v}, ${c.dim}, ${constant(order, [order.length], "long", v)})`;
  }
  if (c instanceof Mask) {
    const field = stateTensor(b.state, "field");
    const prob = clampUnit(value(c.prob));
    const mask = Float32Array.from(field.dataSync(), (u) => (u < prob ? 1 : 0));
    return (v) => `torch.mul(${v}, ${constant(mask, field.shape, "float", v)})`;
  }
  if (c instanceof OrderedMask) {
    const rank = stateTensor(b.state, "rank");
    const k = Math.round(clampUnit(value(c.prob)) * rank.size);
    const mask = Float32Array.from(rank.dataSync(), (r) => (r < k ? 1 : 0));
    return (v) => `torch.mul(${v}, ${constant(mask, rank.shape, "float", v)})`;
  }
  return `${c.type} cannot be written into TorchScript code (written: Mask, OrderedMask, Scale, Bias, Affine, Clamp, ThresholdActivation, Permute, Reverse)`;
}


/** The path from `root` down to `target` (both included), or null. */
function pathTo(root: Expr, target: Expr): Expr[] | null {
  if (root === target) return [root];
  for (const c of childExprs(root)) {
    const p = pathTo(c, target);
    if (p !== null) return [root, ...p];
  }
  return null;
}

/** The statement of `body` (searched through blocks) whose expressions hold `expr`, with the path down to it. */
function statementOf(body: Stmt[], expr: Expr): { st: Stmt; path: Expr[] } | undefined {
  for (const st of body) {
    const own = st.k === "assign" || st.k === "return" || st.k === "expr" ? st.value : st.k === "if" || st.k === "while" ? st.test : st.k === "for" ? st.iter : null;
    const path = own === null ? null : pathTo(own, expr);
    if (path !== null) return { st, path };
    const inner = "body" in st ? statementOf(st.body, expr) ?? ("orelse" in st ? statementOf(st.orelse, expr) : undefined) : undefined;
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/** An expression's structure, locations left out (to compare a parse of a piece of a line with the traced call). */
function shape(e: Expr): string {
  return JSON.stringify(e, (k, v: unknown) => (k === "loc" ? undefined : v));
}

/** The columns of the one piece of `line` that parses as `expr`, or null when none or several do. */
function callColumns(line: string, expr: Expr): [number, number] | null {
  const want = shape(expr);
  const found: [number, number][] = [];
  for (let start = 0; start < line.length; start++) {
    if (!/[A-Za-z_(]/.test(line[start]) || (start > 0 && /[A-Za-z0-9_.]/.test(line[start - 1]))) continue;
    for (let end = line.indexOf(")", start); end >= 0; end = line.indexOf(")", end + 1)) {
      try {
        if (shape(parseWholeExpression(line.slice(start, end + 1))) === want) found.push([start, end + 1]);
      } catch {
        // not an expression
      }
    }
  }
  return found.length === 1 ? found[0] : null;
}

/** The archive's code map key of a parsed file name (`<path>: code/__torch__/x.py` → `__torch__/x.py`). */
function codeFile(locFile: string): string {
  const at = locFile.lastIndexOf(": code/");
  return at >= 0 ? locFile.slice(at + ": code/".length) : locFile.replace(/^code\//, "");
}

/** Where each call node of `fn` is made: traced again on zeros of the user's trace's input shapes, with call sites recorded. */
function callSites(bended: BendedModule, fn: string): Map<string, { site: CallSite | undefined; node: Node }> {
  const shapes = bended.exampleShapes.get(fn);
  if (shapes === undefined) throw new BendingError(`'${fn}' was traced on inputs that are not all tensors; trace it again on tensors`);
  const sites = new Map<string, { site: CallSite | undefined; node: Node }>();
  const zeros = shapes.map((s) => tf.zeros(s));
  try {
    withCallSites(() => trace(bended.module, fn, zeros, (node) => sites.set(node.name, { site: currentCallSite(), node })));
  } finally {
    tf.dispose(zeros);
  }
  return sites;
}

/**
 * The code edits that write the activation bendings of `bended` (a model loaded from a
 * TorchScript file) into its code, and the bendings that cannot be written, with why.
 */
export function activationEdits(bended: BendedModule, root: TorchScriptRoot, sources: ReadonlyMap<string, string>): ActivationEdits {
  const edits = new Map<string, CodeEdit & { fn: string }>();
  const refused: string[] = [];
  const instancesOf = new Map<unknown, string[]>();
  for (const [path, m] of root.namedModules()) {
    if (m instanceof TorchScriptModule) instancesOf.set(m.scriptClass, [...(instancesOf.get(m.scriptClass) ?? []), path || "(root)"]);
  }
  for (const fn of bended.tracedMethods()) {
    const plan = bended.bendingPlan(fn).activations;
    if (plan.size === 0) continue;
    let sites: ReturnType<typeof callSites>;
    try {
      sites = callSites(bended, fn);
    } catch (e) {
      for (const [name, chain] of plan) for (const b of chain) refused.push(`${b.callback} on ${name} of ${fn}: ${(e as Error).message}`);
      continue;
    }
    const bySite = new Map<CallSite["expr"], string[]>();
    for (const [name, { site }] of sites) if (site !== undefined) bySite.set(site.expr, [...(bySite.get(site.expr) ?? []), name]);
    const traced = bended.graph(fn);
    for (const [name, chain] of plan) {
      const refuse = (why: string) => chain.forEach((b) => refused.push(`${b.callback} on ${name} of ${fn}: ${why}`));
      const found = sites.get(name);
      const original = traced.nodes.find((n) => n.name === name);
      if (found === undefined || found.site === undefined || original === undefined || original.target !== found.node.target) {
        refuse("no statement of the file's code computes it alone");
        continue;
      }
      const { site } = found;
      const where = `${site.expr.loc.file.slice(site.expr.loc.file.lastIndexOf(": ") + 2)}:${site.expr.loc.line}`;
      const runs = bySite.get(site.expr) ?? [];
      if (runs.length > 1) {
        refuse(`the code at ${where} runs ${runs.length} times in ${fn} (${runs.join(", ")})`);
        continue;
      }
      if (!(site.self instanceof TorchScriptModule)) {
        refuse(`it is computed in the function ${site.owner}.${site.def.name} (${where}), which other code shares`);
        continue;
      }
      const sharing = instancesOf.get(site.self.scriptClass) ?? [];
      if (sharing.length > 1) {
        refuse(`its code (${site.owner}.${site.def.name}, ${where}) is shared by ${sharing.length} modules (${sharing.join(", ")})`);
        continue;
      }
      const found2 = statementOf(site.def.body, site.expr);
      if (found2 === undefined) {
        refuse(`no statement of ${site.owner}.${site.def.name} holds the call at ${where}`);
        continue;
      }
      const { st: statement, path } = found2;
      const assigned = statement.k === "assign" && path.length === 1 && statement.targets.length === 1 && statement.targets[0].k === "name" ? statement.targets[0].id : null;
      let span: [number, number] | null = null;
      if (assigned === null) {
        // the call is part of the statement: moved into a local before it, when that keeps the statement's meaning
        const line = sources.get(codeFile(statement.loc.file))?.split("\n")[statement.loc.line - 1] ?? "";
        const conditional = path.slice(0, -1).some((e) => e.k === "bool" || e.k === "ifexp");
        span = statement.k === "while" || statement.k === "for" || conditional || /\brand|_\(/.test(line) ? null : callColumns(line, site.expr);
        if (span === null) {
          refuse(`its value is used inside a larger expression at ${where} that tfbend cannot split`);
          continue;
        }
      }
      const lowered = chain.map(lowering);
      const cannot = chain.filter((_, i) => typeof lowered[i] === "string");
      if (cannot.length > 0) {
        cannot.forEach((b) => refused.push(`${b.callback} on ${name} of ${fn}: ${lowered[chain.indexOf(b)] as string}`));
        continue;
      }
      const file = codeFile(statement.loc.file);
      const key = `${file}:${statement.loc.line}`;
      const what = chain.map((b) => `${b.callback} on ${name}`);
      const previous = edits.get(key);
      if (previous !== undefined) {
        if (previous.fn !== fn || previous.what.join() !== what.join()) refuse(`the statement at ${where} already takes another bending (${previous.what.join(", ")} of ${previous.fn}); one per statement`);
        continue;
      }
      edits.set(key, { file, line: statement.loc.line, assigned, span, bend: lowered as ((v: string) => string)[], what, fn });
    }
  }
  return { edits: [...edits.values()].map(({ fn: _fn, ...edit }) => edit), refused };
}

/** `source` with `edits` (all of this file) applied; checks that each line is the statement it should be. */
export function applyCodeEdits(source: string, edits: CodeEdit[], file: string): string {
  const lines = source.split("\n");
  // locals no code of the file uses (torch prints its own as _0, _1, ...; a file tfbend wrote may hold some)
  let fresh = 0;
  const nextLocal = (): string => {
    while (source.includes(`_tfbend_${fresh}`)) fresh++;
    return `_tfbend_${fresh++}`;
  };
  for (const edit of [...edits].sort((a, b) => b.line - a.line)) {
    const text = lines[edit.line - 1] ?? "";
    const indent = /^\s*/.exec(text)![0];
    const chain = (v: string) => edit.bend.reduce((x, f) => f(x), v);
    if (edit.assigned !== null) {
      if (!text.startsWith(`${indent}${edit.assigned} = `)) throw new BendingError(`${file}:${edit.line} is not the statement '${edit.assigned} = ...' (${edit.what.join(", ")})`);
      lines.splice(edit.line, 0, `${indent}${edit.assigned} = ${chain(edit.assigned)}`);
    } else if (edit.span !== null) {
      const [start, end] = edit.span;
      const local = nextLocal();
      lines.splice(edit.line - 1, 1, `${indent}${local} = ${text.slice(start, end)}`, `${indent}${local} = ${chain(local)}`, `${text.slice(0, start)}${local}${text.slice(end)}`);
    }
  }
  return lines.join("\n");
}
