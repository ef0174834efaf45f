// The native engine (ONNX Runtime) gives the wasm engine's outputs within 1e-5 of the peak,
// streamed block by block: shipped models, TorchScript fixtures, every catalogue callback on
// activations and weights with live controls moving between blocks. Runs where
// onnxruntime-node loads; elsewhere the suite is skipped and says why.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { blocks, diff, expectStreamParity, expectTwinParity, noise, peak, root, TOLERANCE } from "./native-helpers.js";

const { tf, native, zoo } = tb;
const available = native.nativeAvailable();
if (!available) console.log(`native parity suite skipped: ${native.nativeUnavailableReason()}`);

let controlCount = 0;
/** A control with a name no other test used (a BendedModule refuses two controls of one name). */
function control(name: string, value: number): tb.BendingParameter {
  return new tb.BendingParameter(`${name}_${controlCount++}`, value);
}

describe.skipIf(!available)("native engine parity", () => {
  let audio: tb.BendedModule;
  const latents = () => blocks([1, 8, 4], 4);

  beforeAll(async () => {
    await tb.ready();
    audio = await tb.load(join(root, "models/audio"));
    // activation bendings are drawn for the traced shape: trace the block shape streamed here
    const example = tf.zeros([1, 8, 4]);
    audio.trace("decode", [example]);
    example.dispose();
  });

  afterAll(() => audio?.dispose());

  it("shipped audio model: decode, encode and forward streamed block by block", async () => {
    zoo.setStreaming(audio.module, true);
    try {
      const decode = await expectStreamParity(audio, "decode", latents());
      expect(decode.stateShapes.length).toBeGreaterThan(10);
      decode.dispose();
      (await expectStreamParity(audio, "encode", blocks([1, 1, 1024], 3))).dispose();
      (await expectStreamParity(audio, "forward", blocks([1, 1, 1024], 3))).dispose();
    } finally {
      zoo.setStreaming(audio.module, false);
    }
  });

  it("shipped image decoder and non-causal encoder", async () => {
    const image = await tb.load(join(root, "models/image"));
    (await expectStreamParity(image, "forward", blocks([2, (image.module as tb.zoo.ImageDecoder).latentDim], 2))).dispose();
    image.dispose();
    const encoder = await tb.load(join(root, "models/audio-encoder"));
    (await expectStreamParity(encoder, "forward", blocks([1, 1, 2048], 2))).dispose();
    encoder.dispose();
  });

  it("transposed convolutions: strided (as polyphase convs), padded, with output padding, grouped", async () => {
    const { nn } = tb;
    const net = new nn.Sequential(
      new nn.ConvTranspose1d(8, 6, 4, { stride: 2, padding: 1 }),
      new nn.LeakyReLU(0.2),
      new nn.ConvTranspose1d(6, 4, 8, { stride: 4 }),
      new nn.ConvTranspose1d(4, 4, 5, { stride: 2, padding: 2, outputPadding: 1 }),
      new nn.ConvTranspose1d(4, 2, 3, { groups: 2, bias: false }),
      new nn.ConvTranspose1d(2, 1, 16, { stride: 16, padding: 0, bias: false }),
    );
    (await expectStreamParity(new tb.BendedModule(net), "forward", blocks([1, 8, 5], 2))).dispose();
  });

  it("TorchScript fixtures (leaf modules lowered through their own trace)", async () => {
    const conv24 = await tb.load(join(root, "test/fixtures/torchscript/conv24.ts"));
    (await expectStreamParity(conv24, "forward", blocks([1, 1, 2048], 2))).dispose();
    conv24.dispose();
    const effects = await tb.load(join(root, "test/fixtures/torchscript/effects.ts"));
    (await expectStreamParity(effects, "forward", blocks([1, 1, 2048], 2))).dispose();
    (await expectStreamParity(effects, "add", blocks([1, 2, 2048], 2))).dispose();
    (await expectStreamParity(effects, "midside", blocks([1, 2, 2048], 2))).dispose();
    // random draws are inputs fed from the module's seeded source: twins with one seed draw alike
    await expectTwinParity("effects", "dither", blocks([1, 1, 2048], 3));
    // a buffer the code writes in place (last_rms) is streamed state of the session
    (await expectStreamParity(effects, "rms", blocks([1, 1, 2048], 3))).dispose();
    effects.dispose();
    // RAVE-style caches: writes into slices of buffers (the interpreter's slice_scatter)
    for (const name of ["rave_like", "rave_v1_like"]) {
      const stateCount = await expectTwinParity(name, "encode");
      expect(stateCount, name).toBeGreaterThan(0);
    }
  });

  it("RAVE fixtures' decode and forward with the FFT noise branch (complex pairs, DFT matrices, roll, hann)", async () => {
    for (const name of ["rave_like", "rave_v1_like"]) {
      const model = await tb.load(join(root, `test/fixtures/torchscript/${name}.ts`));
      for (const fn of ["decode", "forward"]) {
        expect(native.engineFor(model, fn, model.exampleShapes.get(fn)!), `${name}.${fn}`).toMatchObject({ engine: "native" });
      }
      model.dispose();
      // noise draws (rand) are inputs drawn from the seeded source: twins stream alike
      expect(await expectTwinParity(name, "decode"), name).toBeGreaterThan(0);
      expect(await expectTwinParity(name, "forward"), name).toBeGreaterThan(0);
    }
  });

  it("FFT lowerings alone: padded and strided rfft/irfft, norms, complex mul/add, roll, hann, repeat_interleave", async () => {
    const { nn, F } = tb;
    class Spectral extends nn.Module {
      forward(x: tb.Tensor): tb.Tensor {
        const z = F.rfft(F.mul(x, F.hannWindow(32)), 40, -1, "ortho"); // zero-padded to 40
        const filtered = F.complexOp("add", F.complexOp("mul", z, z), 0.5);
        const y = F.roll(F.irfft(filtered, 32, -1, "ortho"), [5], [-1]);
        const across = F.irfft(F.rfft(x, 3, 1), 2, 1, "forward"); // along the channel axis: transposed
        const pairs = F.viewAsComplex(F.stack([x, F.flip(x, [2])], -1));
        const back = F.irfft(F.complexOp("mul", pairs, F.rfft(x, 62, -1)), 32, -1);
        return F.add(F.add(y, F.roll(across, [-1, 2], [1, 2])), F.repeatInterleave(F.narrow(back, 2, 0, 16), 2, 2));
      }
    }
    (await expectStreamParity(new tb.BendedModule(new Spectral()), "forward", blocks([1, 2, 32], 2))).dispose();
  });

  it("norm: p = 2, 1, ∞, −∞, 0 and 3, over one axis, several, or all", async () => {
    const { nn, F } = tb;
    class Norms extends nn.Module {
      forward(x: tb.Tensor): tb.Tensor {
        const perAxis = [F.norm(x, 2, 2, true), F.norm(x, 1, 2, true), F.norm(x, Infinity, 2, true), F.norm(x, -Infinity, 2, true)];
        const whole = F.add(F.norm(x, 3, [1, 2], true), F.norm(x)); // [1, 1, 1] and a scalar
        return F.add(F.add(F.cat(perAxis, 2), whole), F.norm(F.relu(x), 0, 2, true));
      }
    }
    (await expectStreamParity(new tb.BendedModule(new Norms()), "forward", blocks([1, 2, 32], 2))).dispose();
  });

  const activationCases: [string, () => tb.BendingCallback, number[]][] = [
    ["Mask", () => new tb.Mask(control("keep", 0.5)), [0.5, 0.2, 1, 0]],
    ["Mask constant", () => new tb.Mask(0.3, { dim: 1 }), []],
    ["OrderedMask", () => new tb.OrderedMask(control("keep", 0.5)), [0.5, 0.9, 0.1, 1]],
    ["Scale", () => new tb.Scale(control("gain", 2)), [2, -1, 1, 0.5]],
    ["Bias", () => new tb.Bias(control("offset", 0.1)), [0.1, 0, -0.3, 1]],
    ["Affine", () => new tb.Affine(control("gain", 2), 0.5), [2, 1, 0, -2]],
    ["Normal", () => new tb.Normal(control("amount", 0.5)), [0.5, 0, 1, 2]],
    ["Uniform mul", () => new tb.Uniform(control("amount", 0.5), { op: "mul", dim: 1 }), [0.5, 0, 1, 2]],
    ["Permute", () => new tb.Permute(1), []],
    ["Reverse", () => new tb.Reverse([1, 2]), []],
    ["Clamp", () => new tb.Clamp(-0.1, control("top", 0.1)), [0.1, 0.5, 0, 10]],
    ["ThresholdActivation", () => new tb.ThresholdActivation(control("floor", 0), { value: -0.5 }), [0, 0.2, -10, 1]],
    ["Chain (then)", () => new tb.Scale(control("gain", 2)).then(new tb.Mask(0.5, { dim: 1 })), [2, 0.5, -1, 1]],
  ];

  for (const [label, make, values] of activationCases) {
    it(`${label} on an activation, control moving every block`, async () => {
      zoo.setStreaming(audio.module, true);
      const callback = make();
      const handle = audio.bend(callback, "decode:net_2_conv", "decode:net_6");
      try {
        const control = callback.controls()[0];
        const compiled = await expectStreamParity(audio, "decode", latents(), (i) => {
          if (control && values.length > 0) control.value = values[i % values.length];
        });
        compiled.dispose();
      } finally {
        handle.remove();
        zoo.setStreaming(audio.module, false);
      }
    });
  }

  const weightCases: [string, () => tb.BendingCallback][] = [
    ["Mask", () => new tb.Mask(control("keep", 0.5))],
    ["OrderedMask", () => new tb.OrderedMask(0.7)],
    ["Scale", () => new tb.Scale(control("gain", 2))],
    ["Bias", () => new tb.Bias(0.01)],
    ["Affine", () => new tb.Affine(control("gain", 2), control("offset", 0.01))],
    ["Normal", () => new tb.Normal(control("amount", 0.05))],
    ["Uniform", () => new tb.Uniform(0.05, { op: "mul" })],
    ["Permute", () => new tb.Permute(0)],
    ["Reverse", () => new tb.Reverse(2)],
    ["Clamp", () => new tb.Clamp(control("low", -0.05), 0.05)],
    ["Lambda (weights are computed by the bent-weight cache)", () => new tb.Lambda((w) => tf.mul(w, -1))],
  ];

  for (const [label, make] of weightCases) {
    it(`${label} on weights, controls moving every block`, async () => {
      zoo.setStreaming(audio.module, true);
      const callback = make();
      const handle = audio.bend(callback, "net\\.2\\.conv\\.weight", "net\\.5\\.conv1\\.bias");
      try {
        const controls = callback.controls();
        const compiled = await expectStreamParity(audio, "decode", latents(), (i) => {
          for (const c of controls) c.value = c.value * (i % 2 === 0 ? 0.5 : 1.5);
        });
        compiled.dispose();
      } finally {
        handle.remove();
        zoo.setStreaming(audio.module, false);
      }
    });
  }

  it("InterpolateActivation on the batch, weights moving", async () => {
    const twin = await tb.load(join(root, "models/audio"));
    const example = tf.zeros([2, 8, 4]);
    twin.trace("decode", [example]); // one weight per batch item: traced with a batch of 2
    example.dispose();
    const w = control("mix", 1);
    twin.bend(new tb.InterpolateActivation([w, 1]), "decode:net_3");
    (await expectStreamParity(twin, "decode", blocks([2, 8, 4], 3), (i) => (w.value = [1, 0, 3][i]))).dispose();
    twin.dispose();
  });

  it("Capture records the same values on both engines; Lambda on an activation is refused naming the node", async () => {
    const capture = new tb.Capture({ maxPasses: 4 });
    const handle = audio.bend(capture, "decode:net_4_conv2");
    const xs = latents();
    try {
      for (const x of xs) tf.dispose(audio.call("decode", x) as tb.Tensor);
      const fromWasm = capture.captured();
      capture.clear();
      const compiled = await native.compileMethod(audio, "decode", [xs[0].shape]);
      for (const x of xs) tf.dispose(compiled.run(x) as tb.Tensor);
      const fromNative = capture.captured();
      expect(fromNative.length).toBe(fromWasm.length);
      fromNative.forEach((t, i) => expect(diff(t, fromWasm[i])).toBeLessThanOrEqual(TOLERANCE * Math.max(peak(fromWasm[i]), 1e-3)));
      tf.dispose([...fromWasm, ...fromNative]);
      compiled.dispose();
    } finally {
      handle.remove();
    }
    const lambda = audio.bend(new tb.Lambda((x) => tf.mul(x, 2), { name: "double" }), "decode:net_4_conv2");
    try {
      await expect(native.compileMethod(audio, "decode", [[1, 8, 4]])).rejects.toThrow(/net_4_conv2.*Lambda/);
    } finally {
      lambda.remove();
    }
  });

  it("getActivations as extra outputs, before and after the bending", async () => {
    const handle = audio.bend(new tb.Scale(3), "decode:net_2_conv");
    try {
      const x = noise([1, 8, 4], 7);
      const names = ["net_2_conv", "net_2_conv_bended", "net_9"];
      const compiled = await native.compileMethod(audio, "decode", [x.shape], { capture: names });
      const { captured } = compiled.runData([x.dataSync() as Float32Array]);
      const expected = audio.getActivations(names, [x], { fn: "decode" });
      for (const n of names) {
        const actual = tf.tensor(captured[n], expected[n].shape);
        expect(diff(actual, expected[n]), n).toBeLessThanOrEqual(TOLERANCE * Math.max(peak(expected[n]), 1e-3));
        actual.dispose();
      }
      tf.dispose(Object.values(expected));
      compiled.dispose();
    } finally {
      handle.remove();
    }
  });

  it("keeps tf.memory flat over many blocks with live weights, controls and captures", async () => {
    zoo.setStreaming(audio.module, true);
    const gain = control("gain", 1);
    const handles = [audio.bend(new tb.Scale(gain), "net\\.2\\.conv\\.weight"), audio.bend(new tb.Mask(gain.times(0.5)), "decode:net_6_conv")];
    try {
      const compiled = await native.compileMethod(audio, "decode", [[1, 8, 4]], { capture: ["net_6_conv_bended"] });
      const x = noise([1, 8, 4], 3).dataSync() as Float32Array;
      const pass = (i: number) => {
        gain.value = (i % 10) / 10;
        compiled.runData([x]);
      };
      for (let i = 0; i < 10; i++) pass(i); // the callbacks' own cached scalars are made once
      const before = tf.memory().numTensors;
      for (let i = 0; i < 200; i++) pass(i);
      expect(tf.memory().numTensors).toBe(before);
      compiled.dispose();
    } finally {
      handles.forEach((h) => h.remove());
      zoo.setStreaming(audio.module, false);
    }
  });

  it("the session cache rebuilds off the audio path and hands the streamed past over", async () => {
    zoo.setStreaming(audio.module, true);
    const cache = new native.NativeMethodCache();
    try {
      const shapes = [[1, 8, 4]];
      expect(cache.lookup(audio, "decode", shapes).method).toBeNull();
      const first = await cache.ready(audio, "decode", shapes);
      const xs = latents();
      for (const x of xs.slice(0, 2)) tf.dispose([first.run(x) as tb.Tensor, audio.call("decode", x) as tb.Tensor]);
      const handle = audio.bend(new tb.Scale(0.5), "decode:net_6");
      const during = cache.lookup(audio, "decode", shapes);
      expect(during).toMatchObject({ method: first, current: false });
      const second = await cache.ready(audio, "decode", shapes);
      expect(second).not.toBe(first);
      // the old session is released once the new one plays
      expect(() => first.runData([new Float32Array(32)])).toThrow(/disposed/);
      // the new session continues the stream where the old one was
      for (const x of xs.slice(2)) {
        const expected = audio.call("decode", x) as tb.Tensor;
        const actual = second.run(x) as tb.Tensor;
        expect(diff(actual, expected)).toBeLessThanOrEqual(TOLERANCE * Math.max(peak(expected), 1e-3));
        tf.dispose([expected, actual]);
      }
      handle.remove();
    } finally {
      cache.dispose();
      zoo.setStreaming(audio.module, false);
    }
  });
});
