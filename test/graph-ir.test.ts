// The graph IR's own guarantees: one argument walker, users that follow args, a
// self-check (lint) that holds on every traced shipped model, and errors naming the node.
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { mapArg, mapAggregate } from "../dist/graph/graph.js";

const { nn, F, tf } = tb;
const { Graph, Node } = tb;

class Small extends nn.Module {
  lin = new nn.Linear(4, 3);
  override forward(x: tb.Tensor): tb.Tensor {
    return F.relu(this.lin.call(x)).add(1);
  }
}

/** placeholder x → relu(x) → add(relu, x) → output */
function tiny(): { g: tb.Graph; x: tb.Node; relu: tb.Node; add: tb.Node; out: tb.Node } {
  const g = new Graph();
  const x = g.add(new Node("placeholder", "x", "x"));
  const relu = g.add(new Node("call_function", "relu", "relu", [x]));
  const add = g.add(new Node("call_function", "add", "add", [relu, x]));
  const out = g.add(new Node("output", "output", "output", [add]));
  return { g, x, relu, add, out };
}

describe("graph arguments", () => {
  it("mapArg maps every node inside lists and dicts and keeps constants; mapAggregate sees every leaf", () => {
    const { x, relu } = tiny();
    const tree: tb.Argument = [x, 2, { a: relu, b: [x, "s", null] }];
    expect(mapArg(tree, (n) => n.name)).toEqual(["x", 2, { a: "relu", b: ["x", "s", null] }]);
    const leaves: unknown[] = [];
    mapAggregate(tree, (leaf) => {
      leaves.push(leaf instanceof Node ? leaf.name : leaf);
      return leaf;
    });
    expect(leaves).toEqual(["x", 2, "relu", "x", "s", null]);
  });

  it("setting args or kwargs keeps users right, a node read twice counts once", () => {
    const { g, x, relu, add } = tiny();
    expect([...x.users].map(String)).toEqual(["relu", "add"]);
    add.args = [relu, relu];
    expect([...x.users].map(String)).toEqual(["relu"]);
    expect([...relu.users].map(String)).toEqual(["add"]);
    add.args = [relu];
    expect([...relu.users].map(String)).toEqual(["add"]);
    add.kwargs = { other: x };
    expect(x.users.has(add)).toBe(true);
    add.kwargs = {};
    expect(x.users.has(add)).toBe(false);
    g.lint();
  });

  it("insertAfter moves the other users onto the new node; clone keeps the structure", () => {
    const { g, x, relu, add, out } = tiny();
    const bent = g.insertAfter(relu, new Node("call_function", "relu_bended", "Scale(2)", [relu]));
    expect(add.args).toEqual([bent, x]);
    expect([...relu.users]).toEqual([bent]);
    expect(g.nodes.map(String)).toEqual(["x", "relu", "relu_bended", "add", "output"]);
    g.lint();
    const copy = g.clone();
    copy.lint();
    expect(copy.toString()).toBe(g.toString());
    expect(copy.find("add")!.args[0]).toBe(copy.find("relu_bended"));
    expect(out.args).toEqual([add]);
  });
});

describe("Graph.lint", () => {
  it("accepts a traced graph and finds each broken invariant", () => {
    const check = (edit: (parts: ReturnType<typeof tiny>) => void, message: RegExp) => {
      const parts = tiny();
      parts.g.lint();
      edit(parts);
      expect(() => parts.g.lint()).toThrow(message);
    };
    check(({ relu }) => (relu.name = "x"), /two nodes are named 'x'/);
    check(({ g, relu }) => g.nodes.splice(g.nodes.indexOf(relu), 1), /'relu'.* not in the graph/);
    check(({ g, relu, add }) => {
      g.nodes.splice(g.nodes.indexOf(add), 1);
      g.nodes.splice(g.nodes.indexOf(relu), 0, add);
    }, /'add' reads 'relu', which comes after it/);
    check(({ x, relu }) => x.users.delete(relu), /'relu' reads 'x' but is not among its users/);
    check(({ x, out }) => x.users.add(out), /'output' is listed as a user of 'x' but does not read it/);
    check(({ g }) => g.add(new Node("output", "output_1", "output", [])), /2 output nodes/);
    check(({ g, out }) => {
      out.args = []; // add loses its user
      g.nodes.splice(g.nodes.indexOf(out), 1);
    }, /0 output nodes/);
    check(({ g, add }) => g.add(new Node("call_function", "late", "neg", [add])), /output node is not the last/);
  });

  it("holds on every shipped model's traced methods, their clones and bent graphs", async () => {
    const models = join(import.meta.dirname, "../models");
    const dirs = readdirSync(models).filter((d) => existsSync(join(models, d, "tfbend.json")));
    expect(dirs.length).toBeGreaterThanOrEqual(3);
    let graphs = 0;
    for (const dir of dirs) {
      const model = await tb.load(join(models, dir));
      const methods = model.tracedMethods();
      expect(methods.length, dir).toBeGreaterThan(0);
      for (const fn of methods) {
        const graph = model.graph(fn);
        graph.lint();
        graph.clone().lint();
        // bend every other activation twice (a chain): insertAfter twice per node
        const names = model.activationNames(fn).filter((_, i) => i % 2 === 1);
        for (const name of names) model.bend(new tb.Scale(1), `${fn}:${name}`);
        for (const name of names) model.bend(new tb.Bias(0), `${fn}:${name}`);
        const bent = model.bendGraph(fn);
        bent.lint();
        expect(bent.nodes.length, `${dir} ${fn}`).toBe(graph.nodes.length + 2 * names.length);
        graphs++;
      }
    }
    expect(graphs).toBeGreaterThanOrEqual(dirs.length);
  });
});

describe("errors name the failing node", () => {
  it("graph replay: the node's name, opcode and target join the message, and the class stays", () => {
    const bended = new tb.BendedModule(new Small());
    bended.trace({ x: tf.zeros([2, 4]) });
    const graph = bended.graph();
    graph.lint();
    const x = tf.zeros([2, 4]);
    const lin = graph.find("lin")!;
    lin.args = [7]; // a number where the layer needs a tensor
    expect(() => bended.graphModule().forward(x)).toThrow(/\(at node lin: call_module\[target=lin\]\)$/);
    lin.args = [graph.find("x")!];
    graph.lint();
    graph.find("relu")!.target = "no_such_op";
    let caught: unknown;
    try {
      bended.graphModule().forward(x);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(tb.BendingError);
    expect((caught as Error).message).toBe("unknown function 'no_such_op' in graph (at node relu: call_function[target=no_such_op])");
  });

  it("hooked runs: a bending that fails names the activation it was bending", () => {
    const bended = new tb.BendedModule(new Small());
    bended.trace({ x: tf.zeros([2, 4]) });
    bended.bend(new tb.Lambda(() => {
      throw new tb.BendingError("this bending fails");
    }), "relu");
    const x = tf.zeros([2, 4]);
    expect(() => bended.forward(x)).toThrow("this bending fails (at node relu: call_function[target=relu])");
    const numTensors = tf.memory().numTensors;
    expect(() => bended.forward(x)).toThrow(/at node relu/);
    expect(tf.memory().numTensors).toBe(numTensors);
  });
});
