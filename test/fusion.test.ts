// Speed paths that must not change results or what bending sees: bias + ReLU/LeakyReLU fused
// into the convolution when nothing observes (Sequential, nn.convActivation), and channels-last
// copies that let a conv read another conv's output without transposing it back.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { maxAbsDiff } from "./helpers.js";

const { nn, F, tf } = tb;

const kernelNames = async (run: () => tb.Tensor): Promise<string[]> => {
  const info = await tf.profile(() => run());
  return info.kernels.map((k) => k.name);
};

function network(): tb.nn.Sequential {
  nn.manualSeed(3);
  return new nn.Sequential(
    new nn.Conv1d(4, 8, 3, { padding: 1 }), new nn.LeakyReLU(0.2),
    new nn.Conv1d(8, 16, 3, { padding: 2, dilation: 2 }), new nn.ReLU(),
    new nn.ConvTranspose1d(16, 8, 4, { stride: 2, padding: 1 }), new nn.LeakyReLU(0.1),
    new nn.Conv1d(8, 2, 1),
  ).eval();
}

/** The same network op by op, unfused. */
function reference(net: tb.nn.Sequential, x: tb.Tensor): tb.Tensor {
  const c = (i: number) => net[i] as tb.nn.Conv1d;
  let h = tf.leakyRelu(F.conv1d(x, c(0).weight.data, c(0).bias!.data, { padding: 1 }), 0.2);
  h = tf.relu(F.conv1d(h, c(2).weight.data, c(2).bias!.data, { padding: 2, dilation: 2 }));
  const t = net[4] as tb.nn.ConvTranspose1d;
  h = tf.leakyRelu(F.convTranspose1d(h, t.weight.data, t.bias!.data, { stride: 2, padding: 1 }), 0.1);
  return F.conv1d(h, c(6).weight.data, c(6).bias!.data);
}

describe("fused conv + activation, channels-last between convs", () => {
  const x = tf.randomNormal([2, 4, 24], 0, 1, "float32", 11);

  it("a plain Sequential pass fuses every conv→ReLU/LeakyReLU pair and matches the op-by-op result", async () => {
    const net = network();
    tf.tidy(() => {
      net.call(x); // derives the channels-last filters once
    });
    const kernels = await kernelNames(() => net.call(x) as tb.Tensor);
    expect(kernels.filter((k) => k === "LeakyRelu" || k === "Relu")).toEqual([]);
    // convs reading a conv's output skip the transpose back: 4 convs, 1 transpose in, 4 out
    expect(kernels.filter((k) => k === "Transpose")).toHaveLength(5);
    const y = tf.tidy(() => net.call(x) as tb.Tensor);
    const want = tf.tidy(() => reference(net, x));
    expect(y.shape).toEqual([2, 2, 48]);
    expect(maxAbsDiff(y, want)).toBeLessThan(1e-5);
    tf.dispose([y, want]);
  });

  it("an activation bending on a conv output sees the value before the activation, and nothing is fused", async () => {
    const net = network();
    const bended = new tb.BendedModule(net);
    bended.trace({ x });
    const acts = bended.getActivations(["_0", "_1"], { x });
    // the conv's own output has negative values; the LeakyReLU's has them scaled by 0.2
    expect(acts._0.min().dataSync()[0]).toBeLessThan(0);
    expect(maxAbsDiff(acts._1, tf.leakyRelu(acts._0, 0.2))).toBeLessThan(1e-6);
    bended.bend(new tb.Scale(-1), "_0");
    const kernels = await kernelNames(() => bended.forward(x));
    expect(kernels).toContain("LeakyRelu");
    const bent = bended.forward(x);
    const c0 = net[0] as tb.nn.Conv1d;
    const want = tf.tidy(() => {
      const flipped = tf.neg(F.conv1d(x, c0.weight.data, c0.bias!.data, { padding: 1 }));
      const rest = new nn.Sequential(net[1], net[2], net[3], net[4], net[5], net[6]);
      return rest.call(flipped) as tb.Tensor;
    });
    expect(maxAbsDiff(bent, want)).toBeLessThan(1e-5);
    tf.dispose([bent, want, ...Object.values(acts)]);
  });

  it("a weight bending still fuses (nothing observes the calls) and uses the bent weight", async () => {
    const net = network();
    const bended = new tb.BendedModule(net);
    bended.trace({ x });
    bended.bend(new tb.Mask(0), "0.weight");
    const kernels = await kernelNames(() => bended.forward(x));
    expect(kernels).not.toContain("LeakyRelu");
    const y = bended.forward(x);
    // a zero first weight: its output is the bias alone, through the rest of the network
    const c0 = net[0] as tb.nn.Conv1d;
    const want = tf.tidy(() => {
      const first = tf.leakyRelu(tf.add(tf.zeros([2, 8, 24]), tf.reshape(c0.bias!.data, [1, 8, 1])), 0.2);
      return new nn.Sequential(net[2], net[3], net[4], net[5], net[6]).call(first) as tb.Tensor;
    });
    expect(maxAbsDiff(y, want)).toBeLessThan(1e-5);
    tf.dispose([y, want]);
  });

  it("a conv subclass whose forward ignores the fused activation still gets it applied", () => {
    class Shifted extends nn.Conv1d {
      override forward(input: tb.Tensor): tb.Tensor {
        return tf.add(F.conv1d(input, this.weight.value, this.bias?.value ?? null, { padding: 1 }), 1);
      }
    }
    nn.manualSeed(5);
    const conv = new Shifted(4, 4, 3);
    const act = new nn.LeakyReLU(0.5);
    const y = tf.tidy(() => nn.convActivation(conv, act, x));
    const want = tf.tidy(() => tf.leakyRelu(tf.add(F.conv1d(x, conv.weight.data, conv.bias!.data, { padding: 1 }), 1), 0.5));
    expect(maxAbsDiff(y, want)).toBeLessThan(1e-6);
    tf.dispose([y, want]);
  });

  it("a conv reading a changed copy of a conv output transposes it (no stale channels-last copy)", () => {
    nn.manualSeed(9);
    const a = new nn.Conv1d(4, 4, 3, { padding: 1 });
    const b = new nn.Conv1d(4, 4, 3, { padding: 1 });
    const y = tf.tidy(() => {
      const h = a.call(x);
      const shifted = tf.add(h, 1);
      return b.call(shifted);
    });
    const want = tf.tidy(() => {
      const h = tf.add(F.conv1d(x, a.weight.data, a.bias!.data, { padding: 1 }), 1);
      // a fresh tensor with the same values: no copy to reuse
      const fresh = tf.tensor(h.arraySync() as number[][][]);
      return F.conv1d(fresh, b.weight.data, b.bias!.data, { padding: 1 });
    });
    expect(maxAbsDiff(y, want)).toBeLessThan(1e-6);
    tf.dispose([y, want]);
  });

  it("fused passes leave tf.memory().numTensors flat", () => {
    const net = network();
    const pass = () => tf.tidy(() => {
      net.call(x);
    });
    pass();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) pass();
    expect(tf.memory().numTensors).toBe(before);
  });
});
