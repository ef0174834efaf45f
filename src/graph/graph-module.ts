// GraphModule = graph + the module whose state it reads: runnable by interpreting the
// nodes one by one (torch.fx's Interpreter). Editing the graph changes what runs.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, StateTensor } from "../nn/module.js";
import { FUNCTIONS } from "../nn/functional.js";
import { opaque } from "../nn/hooks.js";
import { atNode } from "./node-error.js";
import { mapArg, type Graph, type Node } from "./graph.js";

export class GraphModule {
  constructor(readonly root: Module, readonly graph: Graph) {}

  private resolvePath(path: string): unknown {
    let obj: unknown = this.root;
    for (const part of path.split(".")) {
      if (obj === null || typeof obj !== "object" || !(part in obj)) {
        throw new BendingError(`graph target '${path}' does not exist in ${this.root.constructor.name}`);
      }
      obj = (obj as Record<string, unknown>)[part];
    }
    return obj;
  }

  /** Runs the graph on positional inputs; every intermediate tensor is disposed. */
  forward(...inputs: unknown[]): unknown {
    return tf.tidy(() => this.interpret(inputs) as tf.TensorContainer);
  }

  call(...inputs: unknown[]): unknown {
    return this.forward(...inputs);
  }

  private interpret(inputs: unknown[]): unknown {
    const env = new Map<Node, unknown>();
    let placeholder = 0;
    for (const node of this.graph.nodes) {
      if (node.op === "output") return mapArg(node.args, (n) => env.get(n))[0];
      const value = node.op === "placeholder" ? inputs[placeholder++] : atNode(node, () => this.runNode(node, mapArg(node.args, (n) => env.get(n))));
      env.set(node, value);
    }
    throw new BendingError("graph has no output node");
  }

  /** One node's value from its loaded arguments (torch.fx's Interpreter.run_node). */
  private runNode(node: Node, args: unknown[]): unknown {
    switch (node.op) {
      case "get_attr": {
        const constant = this.graph.constants.get(node.target);
        if (constant !== undefined) return constant;
        const state = this.resolvePath(node.target);
        return state instanceof StateTensor ? state.value : state;
      }
      case "call_module": {
        const mod = this.resolvePath(node.target);
        if (!(mod instanceof Module)) throw new BendingError(`graph target '${node.target}' is not a module`);
        return opaque(() => (mod.forward as (...a: unknown[]) => unknown).apply(mod, args));
      }
      case "call_function":
        return opaque(() => this.callFunction(node, args));
      case "call_method": {
        const [self, ...rest] = args as [Tensor, ...unknown[]];
        const method = (self as unknown as Record<string, (...a: unknown[]) => unknown>)[node.target];
        return opaque(() => method.apply(self, rest));
      }
      case "placeholder":
      case "output":
        throw new BendingError(`${node.op} nodes are not run`);
    }
  }

  private callFunction(node: Node, args: unknown[]): unknown {
    if (node.target === "getitem") {
      const [container, key] = args as [Record<string | number, unknown>, string | number];
      return container[key];
    }
    if (node.target.startsWith("tf.")) {
      const kwargs = mapArg(node.kwargs, () => undefined); // kernel attributes are constants
      return tf.engine().runKernel(node.target.slice(3), args[0] as Record<string, Tensor>, kwargs as Record<string, never>);
    }
    const fn = FUNCTIONS.get(node.target);
    if (fn === undefined) throw new BendingError(`unknown function '${node.target}' in graph`);
    return fn(...args);
  }
}
