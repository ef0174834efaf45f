// The native compiler's refusals and registries, checked without running a session (so they
// run everywhere, ONNX Runtime installed or not): what cannot be lowered is named, never
// silently changed; lowerings cannot be registered twice.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { polyphaseBias, polyphaseFilter } from "../dist/native/polyphase.js";

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

describe("transposed convs as polyphase convs", () => {
  /** PyTorch's ConvTranspose1d before cropping: y[co][l·stride + k] += x[ci][l]·w[ci][co][k]. */
  function transposed(x: Float32Array[], w: Float32Array, [cin, cout, kernel]: number[], stride: number): Float64Array[] {
    const length = x[0].length;
    const y = Array.from({ length: cout }, () => new Float64Array((length - 1) * stride + kernel));
    for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) for (let l = 0; l < length; l++) for (let k = 0; k < kernel; k++) {
      y[co][l * stride + k] += x[ci][l] * w[(ci * cout + co) * kernel + k];
    }
    return y;
  }

  it("the phase filters, correlated over the input padded by taps−1 and interleaved, give every output sample", () => {
    for (const [cin, cout, kernel, stride] of [[3, 2, 4, 2], [2, 3, 8, 4], [2, 2, 5, 2], [1, 1, 16, 16], [2, 2, 3, 1], [2, 1, 3, 4]]) {
      const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + kernel) * 0.5);
      const w = random(cin * cout * kernel);
      const x = Array.from({ length: cin }, (_, c) => random(5).map((v) => v + c));
      const { data, shape, taps } = polyphaseFilter(w, [cin, cout, kernel], stride);
      expect(shape).toEqual([cout * stride, cin, taps]);
      expect(taps).toBe(Math.ceil(kernel / stride));
      const frames = x[0].length + taps - 1;
      const at = (ci: number, t: number) => (t >= 0 && t < x[0].length ? x[ci][t] : 0);
      const want = transposed(x, w, [cin, cout, kernel], stride);
      for (let co = 0; co < cout; co++) {
        for (let q = 0; q < frames; q++) for (let r = 0; r < stride; r++) {
          let sum = 0;
          for (let ci = 0; ci < cin; ci++) for (let m = 0; m < taps; m++) sum += at(ci, q + m - (taps - 1)) * data[((co * stride + r) * cin + ci) * taps + m];
          const t = q * stride + r;
          expect(sum, `cin ${cin} cout ${cout} K ${kernel} stride ${stride}: y[${co}][${t}]`).toBeCloseTo(t < want[co].length ? want[co][t] : 0, 5);
        }
      }
    }
    expect(Array.from(polyphaseBias(Float32Array.of(1, 2), 3))).toEqual([1, 1, 1, 2, 2, 2]);
  });
});
