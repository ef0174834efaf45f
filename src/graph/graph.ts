// The graph IR, after torch.fx: a list of nodes (placeholder | get_attr | call_module |
// call_function | call_method | output), each with a name, a target, its arguments
// (other nodes or constants) and the concrete shape and dtype recorded when traced.
import type { Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape, pyString, tabulate } from "../util/format.js";
import { mapArg, Node, type Argument, type RecordedShape } from "./node.js";

export { mapAggregate, mapArg, Node, type Argument, type ArgumentLeaf, type MappedArgument, type NodeOp, type RecordedShape } from "./node.js";

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

function formatArgs(args: readonly Argument[], prefix = ""): string {
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

  /** Appends `node` (it is already a user of the nodes it reads: see Node). */
  add(node: Node): Node {
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
    const remap = (a: Node): Node | undefined => map.get(a);
    for (const n of this.nodes) {
      const c = new Node(n.op, n.name, n.target, mapArg(n.args, remap), mapArg(n.kwargs, remap));
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
    after.replaceAllUsesWith(node, (user) => user === node);
    this.nodes.splice(this.nodes.indexOf(after) + 1, 0, node);
    return node;
  }

  /**
   * Checks the graph's invariants (torch.fx's Graph.lint): node names are unique, every
   * node an argument names belongs to this graph and comes before its user, `users` sets
   * match the arguments both ways, and there is exactly one output node, the last.
   * Throws a BendingError naming the first broken invariant.
   */
  lint(): void {
    const position = new Map<Node, number>();
    this.nodes.forEach((n, i) => {
      if (position.has(n)) throw new BendingError(`graph lint: node '${n.name}' appears twice`);
      position.set(n, i);
    });
    const names = new Set<string>();
    for (const [n, i] of position) {
      if (names.has(n.name)) throw new BendingError(`graph lint: two nodes are named '${n.name}'`);
      names.add(n.name);
      for (const input of n.inputNodes()) {
        const at = position.get(input);
        if (at === undefined) throw new BendingError(`graph lint: node '${n.name}' reads '${input.name}', which is not in the graph`);
        if (at >= i) throw new BendingError(`graph lint: node '${n.name}' reads '${input.name}', which comes after it`);
        if (!input.users.has(n)) throw new BendingError(`graph lint: '${n.name}' reads '${input.name}' but is not among its users`);
      }
      for (const user of n.users) {
        if (!position.has(user)) throw new BendingError(`graph lint: '${n.name}' has a user '${user.name}' that is not in the graph`);
        if (!user.inputNodes().includes(n)) throw new BendingError(`graph lint: '${user.name}' is listed as a user of '${n.name}' but does not read it`);
      }
    }
    const outputs = this.nodes.filter((n) => n.op === "output");
    if (outputs.length !== 1) throw new BendingError(`graph lint: the graph has ${outputs.length} output nodes, not 1`);
    if (this.nodes[this.nodes.length - 1] !== outputs[0]) throw new BendingError("graph lint: the output node is not the last node");
  }
}
