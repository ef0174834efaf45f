// The native compiler's refusals and registries, checked without running a session (so they
// run everywhere, ONNX Runtime installed or not): what cannot be lowered is named, never
// silently changed; lowerings cannot be registered twice.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf, nn, F, native } = tb;

class Net extends nn.Module {
  conv = new nn.Conv1d(2, 4, 3, { padding: 1 });
  act = new nn.LeakyReLU(0.2);
  forward(x: tb.Tensor): tb.Tensor {
    return F.tanh(this.act.call(this.conv.call(x)));
  }
}

/** A tfjs tensor method without a lowering (F.cumsum has one; the chained method does not). */
class WithCumsumMethod extends Net {
  override forward(x: tb.Tensor): tb.Tensor {
    // the chained method tfbend registers on tensors (its type is not part of tfjs-core's Node bundle)
    return (this.conv.call(x) as unknown as { cumsum(axis: number): tb.Tensor }).cumsum(2);
  }
}

class WithRawKernel extends Net {
  override forward(x: tb.Tensor): tb.Tensor {
    return tf.square(this.conv.call(x));
  }
}

function bended(module: tb.nn.Module): tb.BendedModule {
  const b = new tb.BendedModule(module);
  const x = tf.zeros([1, 2, 16]);
  b.trace([x]);
  x.dispose();
  return b;
}

describe("native compiler", () => {
  it("lowers a plain module (or says ONNX Runtime is missing)", () => {
    const report = native.engineFor(bended(new Net()), "forward", [[1, 2, 16]]);
    if (native.nativeAvailable()) expect(report).toMatchObject({ engine: "native" });
    else expect(report).toEqual({ engine: "wasm", reason: native.nativeUnavailableReason() });
  });

  it("names the node of an op without a lowering", () => {
    expect(native.engineFor(bended(new WithCumsumMethod()), "forward", [[1, 2, 16]])).toEqual({
      engine: "wasm", reason: "node 'cumsum': tensor method 'cumsum' has no native lowering",
    });
    const raw = native.engineFor(bended(new WithRawKernel()), "forward", [[1, 2, 16]]);
    expect(raw.engine).toBe("wasm");
    expect(raw.reason).toMatch(/raw tfjs kernel Square/);
  });

  it("refuses a Lambda on an activation, naming it and the node", () => {
    const b = bended(new Net());
    const handle = b.bend(new tb.Lambda((x) => tf.mul(x, 2), { name: "double" }), "act");
    expect(native.engineFor(b, "forward", [[1, 2, 16]]).reason).toMatch(/node 'act'.*Lambda runs TypeScript code/);
    handle.remove();
    // on weights a Lambda is computed by the bent-weight cache, so it compiles
    b.bend(new tb.Lambda((w) => tf.mul(w, -1)), "conv.weight");
    expect(native.engineFor(b, "forward", [[1, 2, 16]]).reason ?? "").not.toMatch(/Lambda/);
  });

  it("keeps a bending's shape check (Mask drawn for another shape)", () => {
    const b = bended(new Net());
    b.bend(new tb.Mask(0.5), "conv");
    expect(native.engineFor(b, "forward", [[1, 2, 32]]).reason).toMatch(/drawn for the traced shape \[1, 4, 16\].*dim: \[-3, -2\]|drawn for the traced shape/);
  });

  it("refuses a second lowering for the same op, module class or callback", () => {
    expect(() => native.registerFunctionLowering("add", () => 0)).toThrow(/already registered/);
    expect(() => native.registerModuleLowering(nn.Conv1d, () => 0)).toThrow(/already registered/);
    expect(() => native.registerBendingLowering(tb.Scale, ({ x }) => x)).toThrow(/already registered/);
  });
});
