// Errors that say which node failed, as torch.fx's Interpreter.run_node does: an error
// thrown while a node runs gets the node's name, opcode and target added to its message.
// The error keeps its class (a BendingError stays one) and is named once, by the
// innermost node, when graphs run inside graphs.
import type { Node } from "./node.js";

const named = new WeakSet<Error>();

/** What a node is, in torch.fx's notation: `conv_1: call_module[target=conv]`. */
export function describeNode(name: string, op: string, target: string): string {
  return `${name}: ${op}[target=${target}]`;
}

/** Adds "(at node …)" to `error`'s message, once; returns the error to rethrow. */
export function nameFailingNode(error: unknown, name: string, op: string, target: string): unknown {
  if (!(error instanceof Error) || named.has(error)) return error;
  named.add(error);
  error.message = `${error.message} (at node ${describeNode(name, op, target)})`;
  return error;
}

/** Runs `run` (the work of `node`), naming the node in any error it throws. */
export function atNode<T>(node: Node, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw nameFailingNode(error, node.name, node.op, node.target);
  }
}
