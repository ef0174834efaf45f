// A graph node and its arguments, after torch.fx's node.py: the node keeps `users` (the
// nodes that read it) right whenever its args or kwargs change, and one walker
// (mapArg/mapAggregate) goes through argument trees for everyone who needs to.
export type NodeOp = "placeholder" | "get_attr" | "call_module" | "call_function" | "call_method" | "output";

/** A constant in an argument tree. */
export type ArgumentLeaf = number | string | boolean | null | undefined;

export type Argument = Node | ArgumentLeaf | Argument[] | { [key: string]: Argument };

/** An argument tree whose nodes were mapped to `T`. */
export type MappedArgument<T> = T | ArgumentLeaf | MappedArgument<T>[] | { [key: string]: MappedArgument<T> };

/** A node's recorded output: one shape, several (for list outputs), or none (non-tensor). */
export type RecordedShape = number[] | number[][] | null;

/** Applies `fn` to every leaf (node or constant) of `a`, rebuilding lists and dicts (torch.fx map_aggregate). */
export function mapAggregate<T>(a: Argument | readonly Argument[], fn: (leaf: Node | ArgumentLeaf) => MappedArgument<T>): MappedArgument<T> {
  if (a instanceof Node) return fn(a);
  if (Array.isArray(a)) return (a as readonly Argument[]).map((x) => mapAggregate(x, fn));
  if (a !== null && typeof a === "object") {
    return Object.fromEntries(Object.entries(a as Record<string, Argument>).map(([k, v]) => [k, mapAggregate(v, fn)]));
  }
  return fn(a as ArgumentLeaf);
}

/** Applies `fn` to every node in `a`, keeping constants (torch.fx map_arg). */
export function mapArg<T>(a: readonly Argument[], fn: (node: Node) => T): MappedArgument<T>[];
export function mapArg<T>(a: Readonly<Record<string, Argument>>, fn: (node: Node) => T): Record<string, MappedArgument<T>>;
export function mapArg<T>(a: Argument, fn: (node: Node) => T): MappedArgument<T>;
export function mapArg<T>(a: Argument | readonly Argument[], fn: (node: Node) => T): MappedArgument<T> {
  return mapAggregate<T>(a, (leaf) => (leaf instanceof Node ? fn(leaf) : leaf));
}

export class Node {
  /** The nodes whose args or kwargs hold this node; kept by the args/kwargs setters. */
  readonly users = new Set<Node>();
  shape: RecordedShape = null;
  dtype: string | null = null;
  #args: readonly Argument[] = [];
  #kwargs: Readonly<Record<string, Argument>> = {};

  constructor(
    public op: NodeOp,
    public name: string,
    public target: string,
    args: readonly Argument[] = [],
    kwargs: Record<string, Argument> = {},
  ) {
    this.updateArgsKwargs(args, kwargs);
  }

  get args(): readonly Argument[] {
    return this.#args;
  }

  /** Replaces the positional arguments; the nodes they read gain or lose this node as a user. */
  set args(args: readonly Argument[]) {
    this.updateArgsKwargs(args, this.#kwargs);
  }

  get kwargs(): Readonly<Record<string, Argument>> {
    return this.#kwargs;
  }

  set kwargs(kwargs: Readonly<Record<string, Argument>>) {
    this.updateArgsKwargs(this.#args, kwargs);
  }

  /** Nodes this node reads, in argument order (a node read twice appears twice). */
  inputNodes(): Node[] {
    const out: Node[] = [];
    mapArg([...this.#args, this.#kwargs], (n) => out.push(n));
    return out;
  }

  /** Makes every user of this node (but those `keep` spares) read `replacement` instead; returns the users changed. */
  replaceAllUsesWith(replacement: Node, keep: (user: Node) => boolean = () => false): Node[] {
    const changed = [...this.users].filter((user) => !keep(user));
    for (const user of changed) user.replaceInput(this, replacement);
    return changed;
  }

  /** Makes this node read `replacement` wherever it read `old`. */
  replaceInput(old: Node, replacement: Node): void {
    const swap = (n: Node): Node => (n === old ? replacement : n);
    this.updateArgsKwargs(mapArg(this.#args, swap), mapArg(this.#kwargs, swap));
  }

  toString(): string {
    return this.name;
  }

  // torch.fx's Node.__update_args_kwargs: the one place args change, so users follow.
  private updateArgsKwargs(args: readonly Argument[], kwargs: Readonly<Record<string, Argument>>): void {
    const before = new Set(this.inputNodes());
    this.#args = args;
    this.#kwargs = kwargs;
    const after = new Set(this.inputNodes());
    for (const input of before) if (!after.has(input)) input.users.delete(this);
    for (const input of after) input.users.add(this);
  }
}
