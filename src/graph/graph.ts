// The graph IR, after torch.fx: a list of nodes (placeholder | get_attr | call_module |
// call_function | call_method | output), each with a name, a target, its arguments
// (other nodes or constants) and the concrete shape and dtype recorded when traced.
import type { Tensor } from "../tf.js";
import { formatShape, pyString, tabulate } from "../util/format.js";

export type NodeOp = "placeholder" | "get_attr" | "call_module" | "call_function" | "call_method" | "output";

export type Argument =
  | Node
  | number
  | string
  | boolean
  | null
  | undefined
  | Argument[]
  | { [key: string]: Argument };

/** A node's recorded output: one shape, several (for list outputs), or none (non-tensor). */
export type RecordedShape = number[] | number[][] | null;

export class Node {
  readonly users = new Set<Node>();
  shape: RecordedShape = null;
  dtype: string | null = null;

  constructor(
    public op: NodeOp,
    public name: string,
    public target: string,
    public args: Argument[] = [],
    public kwargs: Record<string, Argument> = {},
  ) {}

  /** Nodes this node reads. */
  inputNodes(): Node[] {
    const out: Node[] = [];
    const visit = (a: Argument): void => {
      if (a instanceof Node) out.push(a);
      else if (Array.isArray(a)) a.forEach(visit);
      else if (a !== null && typeof a === "object") Object.values(a).forEach(visit);
    };
    this.args.forEach(visit);
    Object.values(this.kwargs).forEach(visit);
    return out;
  }

  toString(): string {
    return this.name;
  }
}

/** Python-like repr of an argument; `prefix` marks node names ("%" in Graph.toString). */
export function formatArgument(a: Argument, prefix = ""): string {
  if (a instanceof Node) return prefix + a.name;
  if (a === null || a === undefined) return "None";
  if (typeof a === "boolean") return a ? "True" : "False";
  if (typeof a === "number") return String(a);
  if (typeof a === "string") return pyString(a);
  if (Array.isArray(a)) return `[${a.map((x) => formatArgument(x, prefix)).join(", ")}]`;
  return `{${Object.entries(a).map(([k, v]) => `${pyString(k)}: ${formatArgument(v, prefix)}`).join(", ")}}`;
}

function formatArgs(args: Argument[], prefix = ""): string {
  const items = args.map((a) => formatArgument(a, prefix));
  return `(${items.join(", ")}${items.length === 1 ? "," : ""})`;
}

export function formatRecordedShape(shape: RecordedShape): string {
  if (shape === null) return "";
  if (shape.length > 0 && Array.isArray(shape[0])) return `(${(shape as number[][]).map(formatShape).join(", ")})`;
  return formatShape(shape as number[]);
}

export class Graph {
  readonly nodes: Node[] = [];
  /** Tensors the traced code created itself (tf.scalar(2), ...), read by get_attr nodes. */
  readonly constants = new Map<string, Tensor>();
  /** Raw tfjs kernels the code ran outside tb.F / tensor methods (traced as tf.* nodes). */
  readonly untrackedKernels: string[] = [];

  add(node: Node): Node {
    for (const input of node.inputNodes()) input.users.add(node);
    this.nodes.push(node);
    return node;
  }

  find(name: string): Node | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  get placeholders(): Node[] {
    return this.nodes.filter((n) => n.op === "placeholder");
  }

  get outputNode(): Node | undefined {
    return this.nodes.find((n) => n.op === "output");
  }

  /** Every node whose value can be read or bent (all but the output). */
  activationNodes(): Node[] {
    return this.nodes.filter((n) => n.op !== "output");
  }

  /** The table torch.fx's print_tabular shows; printed unless `silent`. */
  printTabular(options: { silent?: boolean } = {}): string {
    const rows = this.nodes.map((n) => [n.op, n.name, n.target, formatArgs(n.args), formatArgument(n.kwargs)]);
    const table = tabulate(rows, ["opcode", "name", "target", "args", "kwargs"]);
    if (!options.silent) console.log(table);
    return table;
  }

  toString(): string {
    const lines = ["graph():"];
    for (const n of this.nodes) {
      if (n.op === "output") {
        lines.push(`    return ${n.args.map((a) => formatArgument(a)).join(", ")}`);
        continue;
      }
      const users = `[num_users=${n.users.size}]`;
      if (n.op === "placeholder" || n.op === "get_attr") {
        lines.push(`    %${n.name} : ${users} = ${n.op}[target=${n.target}]`);
      } else {
        lines.push(`    %${n.name} : ${users} = ${n.op}[target=${n.target}](args = ${formatArgs(n.args, "%")}, kwargs = ${formatArgument(n.kwargs, "%")})`);
      }
    }
    return lines.join("\n");
  }

  /** A copy with the same node names, targets and recorded shapes (constants shared). */
  clone(): Graph {
    const copy = new Graph();
    const map = new Map<Node, Node>();
    const remap = (a: Argument): Argument => {
      if (a instanceof Node) return map.get(a);
      if (Array.isArray(a)) return a.map(remap);
      if (a !== null && typeof a === "object") return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, remap(v)]));
      return a;
    };
    for (const n of this.nodes) {
      const c = new Node(n.op, n.name, n.target, n.args.map(remap), remap(n.kwargs) as Record<string, Argument>);
      c.shape = n.shape;
      c.dtype = n.dtype;
      map.set(n, c);
      copy.add(c);
    }
    for (const [k, v] of this.constants) copy.constants.set(k, v);
    copy.untrackedKernels.push(...this.untrackedKernels);
    return copy;
  }

  /** Inserts `node` right after `after` and makes every other user of `after` read `node`. */
  insertAfter(after: Node, node: Node): Node {
    const replaceIn = (a: Argument): Argument => {
      if (a === after) return node;
      if (Array.isArray(a)) return a.map(replaceIn);
      if (a !== null && typeof a === "object" && !(a instanceof Node)) {
        return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, replaceIn(v)]));
      }
      return a;
    };
    for (const user of [...after.users]) {
      user.args = user.args.map(replaceIn);
      user.kwargs = replaceIn(user.kwargs) as Record<string, Argument>;
      after.users.delete(user);
      node.users.add(user);
    }
    this.nodes.splice(this.nodes.indexOf(after) + 1, 0, node);
    for (const input of node.inputNodes()) input.users.add(node);
    return node;
  }
}
