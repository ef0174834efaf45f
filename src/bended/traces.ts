// The traced methods of a bended module: their graphs, input names and module index.
import { BendingError } from "../errors.js";
import type { Graph, Node } from "../graph/graph.js";
import type { ModuleIndex } from "../graph/observe.js";

export const DEFAULT_FN = "forward";

export interface TracedMethod {
  graph: Graph;
  inputNames: string[];
  index: ModuleIndex;
}

export class Traces {
  private readonly methods = new Map<string, TracedMethod>();

  get size(): number {
    return this.methods.size;
  }

  has(fn: string): boolean {
    return this.methods.has(fn);
  }

  names(): string[] {
    return [...this.methods.keys()];
  }

  /** Stores a (re)trace of `fn`, freeing the constants of the one it replaces. */
  set(fn: string, traced: TracedMethod): void {
    const old = this.methods.get(fn);
    if (old) for (const c of old.graph.constants.values()) c.dispose();
    this.methods.set(fn, traced);
  }

  get(fn: string): TracedMethod {
    const t = this.methods.get(fn);
    if (!t) {
      const hint = this.methods.size ? ` (traced: ${this.names().join(", ")})` : "";
      throw new BendingError(`method '${fn}' is not traced; call trace('${fn}', inputs) first${hint}`);
    }
    return t;
  }

  activationNames(fn: string): string[] {
    return this.get(fn).graph.activationNodes().map((n) => n.name);
  }

  activationNode(name: string, fn: string): Node {
    const node = this.get(fn).graph.activationNodes().find((n) => n.name === name);
    if (!node) throw new BendingError(`'${name}' is not an activation of ${fn} (activations: ${this.activationNames(fn).join(", ")})`);
    return node;
  }

  dispose(): void {
    for (const t of this.methods.values()) for (const c of t.graph.constants.values()) c.dispose();
    this.methods.clear();
  }
}
