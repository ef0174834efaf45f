// Keyword inputs bind by names the code declares, not by the method's source text, which
// transpilers and minifiers rename (here the parameters are written as a transpiler leaves them).
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { nn, F, tf } = tb;

class Declared extends nn.Module {
  static override inputNames = { forward: ["x", "gain"] };
  lin = new nn.Linear(2, 2);
  override forward(x2: tb.Tensor, gain2: tb.Tensor): tb.Tensor {
    return F.mul(this.lin.call(x2), gain2);
  }
}

class Undeclared extends nn.Module {
  lin = new nn.Linear(2, 2);
  override forward(x2: tb.Tensor, gain2: tb.Tensor): tb.Tensor {
    return F.mul(this.lin.call(x2), gain2);
  }
  single(t: tb.Tensor): tb.Tensor {
    return this.lin.call(t);
  }
}

describe("input names", () => {
  it("binds keyword inputs by the declared names, in the declared order", () => {
    const bended = new tb.BendedModule(new Declared());
    const x = tf.ones([1, 2]);
    const gain = tf.zeros([1, 1]);
    bended.trace({ gain, x });
    const placeholders = bended.graph().nodes.filter((n) => n.op === "placeholder").map((n) => n.name);
    expect(placeholders).toEqual(["x", "gain"]);
    expect(Array.from(bended.forward(x, gain).dataSync()).map(Math.abs)).toEqual([0, 0]); // gain 0 reached the second input
  });

  it("names a wrong keyword against the declared inputs", () => {
    const bended = new tb.BendedModule(new Declared());
    expect(() => bended.trace({ x: tf.ones([1, 2]), gian: tf.ones([1, 1]) })).toThrow(/Declared\.forward takes the inputs \(x, gain\); there is no input 'gian'/);
  });

  it("binds one input of a one-parameter method whatever the code calls the parameter", () => {
    const bended = new tb.BendedModule(new Undeclared());
    bended.trace("single", { x: tf.ones([3, 2]) });
    expect(bended.graph("single").nodes[0].name).toBe("x");
    expect(bended.activationShape("lin", "single")).toEqual([3, 2]);
  });

  it("without declared names, a mismatch says what to declare", () => {
    const bended = new tb.BendedModule(new Undeclared());
    const attempt = () => bended.trace({ x: tf.ones([1, 2]), gain: tf.ones([1, 1]) });
    expect(attempt).toThrow(tb.BendingError);
    expect(attempt).toThrow(/forward\(x2, gain2\) has no parameter 'x', 'gain'.*static inputNames = \{ forward: \["x", "gain"\] \}/);
    bended.trace("forward", [tf.ones([1, 2]), tf.ones([1, 1])]); // positional always works
  });

  it("the shipped architectures declare their inputs", () => {
    expect(new tb.zoo.Stanley().argumentNames("forward_nobatch")).toEqual(["x"]);
    expect(new tb.zoo.AudioDecoder().argumentNames("forward")).toEqual(["z"]);
  });
});
