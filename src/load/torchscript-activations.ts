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
import type { Stmt } from "../torchscript/parser.js";

/** One statement to add to a code file: after `line` (1-based), or in place of a `return` there. */
export interface CodeEdit {
  /** The code file, as the archive's `code` map names it (`__torch__/model.py`). */
  file: string;
  line: number;
  /** The name the statement assigns (`_3`), or null for a `return <call>`. */
  assigned: string | null;
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

/** The statement of `def` (searched through blocks) whose whole value is the call `expr`: `name = <call>` or `return <call>`. */
function statementOf(body: Stmt[], expr: CallSite["expr"]): Stmt | undefined {
  for (const st of body) {
    if ((st.k === "assign" || st.k === "return") && st.value === expr) return st;
    const inner = "body" in st ? statementOf(st.body, expr) ?? ("orelse" in st ? statementOf(st.orelse, expr) : undefined) : undefined;
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/** The archive's code map key of a parsed file name (`<path>: code/__torch__/x.py` → `__torch__/x.py`). */
function codeFile(locFile: string): string {
  const at = locFile.lastIndexOf(": code/");
  return at >= 0 ? locFile.slice(at + ": code/".length) : locFile.replace(/^code\//, "");
}

/** Where each call node of `fn` is made: traced again on zeros of the user's trace's input shapes, with call sites recorded. */
function callSites(bended: BendedModule, fn: string): Map<string, { site: CallSite | undefined; node: Node }> {
  const shapes = bended.exampleShapes.get(fn);
  if (shapes === undefined) throw new BendingError(`the inputs '${fn}' was traced on are not tensors`);
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
export function activationEdits(bended: BendedModule, root: TorchScriptRoot): ActivationEdits {
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
      const statement = statementOf(site.def.body, site.expr);
      const assigned = statement?.k === "assign" && statement.targets.length === 1 && statement.targets[0].k === "name" ? statement.targets[0].id : null;
      if (statement === undefined || (statement.k === "assign" && assigned === null)) {
        refuse(`its value is used inside a larger expression at ${where}`);
        continue;
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
        if (previous.fn !== fn || previous.what.join() !== what.join()) refuse(`${where} is bent again by ${previous.fn}'s bendings (${previous.what.join(", ")})`);
        continue;
      }
      edits.set(key, { file, line: statement.loc.line, assigned, bend: lowered as ((v: string) => string)[], what, fn });
    }
  }
  return { edits: [...edits.values()].map(({ fn: _fn, ...edit }) => edit), refused };
}

/** `source` with `edits` (all of this file) applied; checks that each line is the statement it should be. */
export function applyCodeEdits(source: string, edits: CodeEdit[], file: string): string {
  const lines = source.split("\n");
  let fresh = 0;
  for (const edit of [...edits].sort((a, b) => b.line - a.line)) {
    const text = lines[edit.line - 1] ?? "";
    const indent = /^\s*/.exec(text)![0];
    const chain = (v: string) => edit.bend.reduce((x, f) => f(x), v);
    if (edit.assigned !== null) {
      if (!text.startsWith(`${indent}${edit.assigned} = `)) throw new BendingError(`${file}:${edit.line} is not the statement '${edit.assigned} = ...' (${edit.what.join(", ")})`);
      lines.splice(edit.line, 0, `${indent}${edit.assigned} = ${chain(edit.assigned)}`);
    } else {
      if (!text.startsWith(`${indent}return `)) throw new BendingError(`${file}:${edit.line} is not a return statement (${edit.what.join(", ")})`);
      const local = `_tfbend_${fresh++}`;
      lines.splice(edit.line - 1, 1, `${indent}${local} = ${text.slice(indent.length + "return ".length)}`, `${indent}${local} = ${chain(local)}`, `${indent}return ${local}`);
    }
  }
  return lines.join("\n");
}
