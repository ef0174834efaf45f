// The tracer on the code patterns users write: tensor methods, F ops, residual
// connections, several and keyword inputs, shape reads, raw tf ops.
import { afterEach, describe, expect, it, vi } from "vitest";
import * as tb from "tfbend";
import { identical, maxAbsDiff } from "./helpers.js";

const { nn, F, tf } = tb;

class Residual extends nn.Module {
  conv = new nn.Conv1d(2, 2, 3, { padding: 1 });
  act = new nn.Tanh();
  override forward(x: tb.Tensor, gain: tb.Tensor): tb.Tensor {
    const h = this.act.call(this.conv.call(x));
    const y = x.add(h).mul(gain); // tensor methods
    const z = F.add(y, F.relu(h)); // F ops, a second add
    const [, , length] = z.shape; // reads x.shape
    return F.narrow(z, 2, 0, length - 1);
  }
}

class Mixer extends nn.Module {
  a = new nn.Linear(4, 3);
  b = new nn.Linear(4, 3);
  scale = new nn.Parameter(tf.tensor([2]));
  override forward(left: tb.Tensor, right: tb.Tensor, bias = 0): tb.Tensor {
    return F.mul(F.add(this.a.call(left), this.b.call(right)), this.scale.value).add(bias);
  }
}

class Raw extends nn.Module {
  lin = new nn.Linear(3, 3);
  override forward(x: tb.Tensor): tb.Tensor {
    return tf.tanh(this.lin.call(x)); // bypasses F
  }
}

afterEach(() => vi.restoreAllMocks());

describe("tracer", () => {
  it("records tensor methods, F ops, residuals and shape reads with fx-style names", () => {
    const bended = new tb.BendedModule(new Residual());
    const x = tf.randomNormal([1, 2, 16]);
    const gain = tf.scalar(0.5);
    bended.trace({ x, gain });
    const g = bended.graph();
    g.lint();
    expect(g.nodes.map((n) => `${n.op}:${n.name}`)).toEqual([
      "placeholder:x", "placeholder:gain", "call_module:conv", "call_module:act", "call_method:add", "call_method:mul",
      "call_function:relu", "call_function:add_1", "call_function:narrow", "output:output",
    ]);
    const add = g.find("add")!;
    expect(add.args.map(String)).toEqual(["x", "act"]);
    expect(g.find("add_1")!.args.map(String)).toEqual(["mul", "relu"]);
    expect(g.find("narrow")!.args.slice(1)).toEqual([2, 0, 15]);
    expect(g.find("narrow")!.shape).toEqual([1, 2, 15]);
    expect(g.find("conv")!.dtype).toBe("float32");
    expect(g.find("x")!.users.size).toBe(2); // conv and the residual add
    // replay equals the module's own forward
    const replay = bended.graphModule().forward(x, gain) as tb.Tensor;
    const direct = bended.forward(x, gain);
    expect(identical(replay, direct)).toBe(true);
    // activations inside a residual block bend like any other
    bended.bend(new tb.Mask(0), "relu");
    const masked = bended.forward(x, gain);
    const expected = tf.tidy(() => {
      const m = bended.module as Residual;
      const h = m.act.call(m.conv.call(x));
      return F.narrow(x.add(h).mul(gain), 2, 0, 15);
    });
    expect(maxAbsDiff(masked, expected)).toBe(0);
    tf.dispose([x, gain, replay, direct, masked, expected]);
  });

  it("takes several inputs by keyword or position, and reads parameters as get_attr", () => {
    const bended = new tb.BendedModule(new Mixer());
    const left = tf.randomNormal([2, 4]);
    const right = tf.randomNormal([2, 4]);
    bended.trace({ right, left }); // keyword order does not matter
    const g = bended.graph();
    expect(g.placeholders.map((n) => n.name)).toEqual(["left", "right"]);
    expect(g.find("scale")?.op).toBe("get_attr");
    expect(g.find("mul")!.args.map(String)).toEqual(["add", "scale"]);
    const out = bended.forward(left, right);
    const positional = bended.trace("forward", [left, right]);
    expect(positional.placeholders.map((n) => n.name)).toEqual(["left", "right"]);
    expect(() => bended.trace({ left, nope: right })).toThrow(/has no parameter 'nope'/);
    // a weight read by user code bends too
    bended.bend(new tb.Mask(0), "scale");
    const zeroed = bended.forward(left, right);
    expect(Array.from(zeroed.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([left, right, out, zeroed]);
  });

  it("a key that is both a weight and an activation is a clear error", () => {
    const bended = new tb.BendedModule(new Mixer());
    bended.trace({ left: tf.ones([1, 4]), right: tf.ones([1, 4]) });
    expect(bended.bend(new tb.Mask(0.5), "scale").targets).toEqual(["scale"]); // the weight, read via get_attr
    bended.reset();
    class Clash extends nn.Module {
      relu = new nn.Parameter(tf.ones([3]));
      override forward(x: tb.Tensor) {
        return F.relu(F.mul(x, this.relu.value));
      }
    }
    const clash = new tb.BendedModule(new Clash());
    clash.trace({ x: tf.ones([3]) });
    // weight "relu" and the F.relu node "relu_1"... and get_attr "relu": names come from one namespace
    expect(clash.activationNames()).toEqual(["x", "relu", "mul", "relu_1"]);
    clash.trace({ x: tf.ones([3]) });
    class Clash2 extends nn.Module {
      relu = new nn.Parameter(tf.ones([3]));
      override forward(x: tb.Tensor) {
        return F.relu(x).mul(this.relu.data);
      }
    }
    const clash2 = new tb.BendedModule(new Clash2());
    clash2.trace({ x: tf.ones([3]) });
    expect(() => clash2.bend(new tb.Mask(0.5), "relu")).toThrow(/names both a weight and an activation; write 'forward:relu'/);
    expect(clash2.bend(new tb.Mask(0.5), "forward:relu").targets).toEqual(["relu"]);
  });

  it("detects raw tfjs ops, traces them as kernel nodes and warns", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const bended = new tb.BendedModule(new Raw());
    const x = tf.randomNormal([2, 3]);
    bended.trace({ x });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/raw tfjs ops \(Tanh\) outside tb\.F/);
    const g = bended.graph();
    expect(g.untrackedKernels).toEqual(["Tanh"]);
    const node = g.find("tanh")!;
    expect(node.target).toBe("tf.Tanh");
    expect(node.inputNodes().map((n) => n.name)).toEqual(["lin"]);
    // replay and bending stay exact
    const replay = bended.graphModule().forward(x) as tb.Tensor;
    const direct = bended.forward(x);
    expect(identical(replay, direct)).toBe(true);
    bended.bend(new tb.Mask(0), "tanh");
    const masked = bended.forward(x);
    expect(Array.from(masked.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([x, replay, direct, masked]);
  });

  it("unknown methods and untraced methods give clear errors", () => {
    const bended = new tb.BendedModule(new Residual());
    expect(() => bended.trace("nope", { x: tf.ones([1]) })).toThrow(/has no method 'nope'/);
    expect(() => bended.activationNames("forward")).toThrow(/not traced; call trace\('forward', inputs\) first/);
    expect(() => bended.bend(new tb.Mask(0.5), "nothing_here")).toThrow(/no weight or activation matches 'nothing_here' \(activations are known after trace\(\)\)/);
    expect(() => bended.bend(new tb.Mask(0.5), "conv(")).toThrow(/not a valid pattern/);
  });

  it("traces a 100-node model", () => {
    class Deep extends nn.Module {
      layers = new nn.ModuleList(Array.from({ length: 50 }, () => new nn.Linear(8, 8)));
      override forward(x: tb.Tensor): tb.Tensor {
        let h = x;
        for (const layer of this.layers) h = F.relu(layer.call(h) as tb.Tensor);
        return h;
      }
    }
    const bended = new tb.BendedModule(new Deep());
    const g = bended.trace({ x: tf.randomNormal([1, 8]) });
    expect(g.nodes.length).toBe(102);
    expect(g.nodes[1].name).toBe("layers_0");
    expect(g.nodes[2].name).toBe("relu");
    expect(g.nodes[100].name).toBe("relu_49");
  });
});

describe("node names", () => {
  it("never gives two nodes the same name", () => {
    class Clash extends nn.Module {
      lin = new nn.Linear(2, 2);
      lin_1 = new nn.Linear(2, 2);
      override forward(x: tb.Tensor): tb.Tensor {
        return this.lin_1.call(this.lin.call(this.lin.call(x)));
      }
    }
    const bended = new tb.BendedModule(new Clash());
    bended.trace({ x: tf.ones([1, 2]) });
    const names = bended.activationNames();
    expect(names).toEqual(["x", "lin", "lin_1", "lin_1_1"]);
    expect(bended.bend(new tb.Scale(0), "lin_1").targets).toEqual(["lin_1"]);
  });
});
