// The native engine's lowerings of recurrent layers (torch.lstm/gru, their cells, tb.F.gru),
// torch.stft/istft, integer and bool tensors (casts, arange, embedding, comparisons, masks)
// and the statistics nn~ code computes: every method of the torch2 and ops_zoo fixtures
// compiles (engine native) and streams within 1e-5 of the wasm engine's peak; the RAVE-like
// fixtures' forward (encoder then decoder) streams at parity over many blocks. Runs where
// onnxruntime-node loads; elsewhere the suite is skipped and says why.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { blocks, diff, expectStreamParity, expectTwinParity, root } from "./native-helpers.js";

const { tf, native } = tb;
const available = native.nativeAvailable();
if (!available) console.log(`native ops suite skipped: ${native.nativeUnavailableReason()}`);

/** torch2's methods and their input shapes (the file declares no nn~ methods). */
const TORCH2: [string, number[]][] = [
  ["forward", [1, 8, 12]], ["rnn", [1, 8, 12]], ["attention", [1, 8, 12]],
  ["spectral", [1, 1, 48]], ["spectral_center", [1, 1, 48]], ["buffered", [1, 1, 48]],
];

describe.skipIf(!available)("native lowerings: recurrent, spectral, integer", () => {
  beforeAll(async () => {
    await tb.ready();
  });

  it("every torch2 and ops_zoo method compiles to the native engine", async () => {
    for (const name of ["torch2", "torch2_handwritten"]) {
      const model = await tb.load(join(root, `test/fixtures/torchscript/${name}.ts`));
      for (const [fn, shape] of TORCH2) expect(native.engineFor(model, fn, [shape]), `${name}.${fn}`).toMatchObject({ engine: "native" });
      model.dispose();
    }
    const zoo = await tb.load(join(root, "test/fixtures/torchscript/ops_zoo.ts"));
    expect(zoo.exampleShapes.size).toBeGreaterThanOrEqual(6);
    for (const [fn, shapes] of zoo.exampleShapes) expect(native.engineFor(zoo, fn, shapes), `ops_zoo.${fn}`).toMatchObject({ engine: "native" });
    zoo.dispose();
  });

  it("torch.lstm (2 layers, bidirectional, batch-first), torch.gru (time-first), lstm_cell, gru_cell", async () => {
    await expectTwinParity("torch2", "rnn", blocks([1, 8, 12], 3));
  });

  it("recurrent weights bent under a live control are regathered into ONNX's gate order every block", async () => {
    const model = await tb.load(join(root, "test/fixtures/torchscript/torch2.ts"));
    const gain = new tb.BendingParameter("rnn_gain", 1);
    model.bend(new tb.Scale(gain), "lstm\\.weight_hh_l0$", "gru\\.weight_ih_l1_reverse", "lstm_cell\\.weight_ih");
    const compiled = await expectStreamParity(model, "rnn", blocks([1, 8, 12], 3), (i) => (gain.value = [1, 0.5, 2][i]));
    // the control is heard: one block under two gains differs by more than rounding
    const [x] = blocks([1, 8, 12], 1, 9);
    const under = (g: number): tb.Tensor => {
      gain.value = g;
      return compiled.run(x) as tb.Tensor;
    };
    const [one, two] = [under(1), under(2)];
    expect(diff(one, two)).toBeGreaterThan(1e-3);
    tf.dispose([x, one, two]);
    compiled.dispose();
    model.dispose();
  });

  it("a GRU prior whose state lives in a buffer streams it from block to block", async () => {
    const states = await expectTwinParity("ops_zoo", "prior", blocks([1, 1, 256], 5));
    expect(states).toBeGreaterThan(0);
  });

  it("tb.F.gru (several layers, batch-first, a non-zero initial state)", async () => {
    const { nn, F } = tb;
    const weight = (shape: number[], seed: number) => new nn.Parameter(tf.randomNormal(shape, 0, 0.5, "float32", seed));
    class Prior extends nn.Module {
      wIh0 = weight([9, 4], 10);
      wHh0 = weight([9, 3], 11);
      bIh0 = weight([9], 12);
      bHh0 = weight([9], 13);
      wIh1 = weight([9, 3], 14);
      wHh1 = weight([9, 3], 15);
      bIh1 = weight([9], 16);
      bHh1 = weight([9], 17);
      h0 = new nn.Buffer(tf.randomNormal([2, 1, 3], 0, 0.5, "float32", 3));
      override forward(x: tb.Tensor): tb.Tensor {
        const params = [this.wIh0, this.wHh0, this.bIh0, this.bHh0, this.wIh1, this.wHh1, this.bIh1, this.bHh1].map((p) => p.value);
        const [out, h] = F.gru(x, this.h0.value, params, true, 2, true);
        return F.add(out, F.reshape(F.sum(h, [0]), [1, 1, 3]));
      }
    }
    (await expectStreamParity(new tb.BendedModule(new Prior()), "forward", blocks([1, 7, 4], 2))).dispose();
  });

  it("torch.stft and istft with torchaudio's arguments (center, reflect padding, onesided, complex)", async () => {
    for (const fn of ["spectral", "spectral_center"]) await expectTwinParity("torch2", fn, blocks([1, 1, 48], 3));
    await expectTwinParity("torch2_handwritten", "spectral_center", blocks([1, 1, 48], 2));
    for (const fn of ["melspec", "encode"]) await expectTwinParity("ops_zoo", fn);
  });

  it("stft variants: normalized, a window shorter than n_fft, no window, real (re, im) output", async () => {
    const { nn, F } = tb;
    class Spectra extends nn.Module {
      override forward(x: tb.Tensor): tb.Tensor {
        const signal = F.reshape(x, [2, 64]);
        const a = F.stft(signal, 16, 4, 12, F.hannWindow(12), true, true, true) as tb.F.Complex;
        const b = F.stft(F.reshape(signal, [128]), 8, 3, null, null, false, true, false) as tb.Tensor; // [5, 41, 2]
        return F.cat([F.reshape(F.abs(a), [-1]), F.reshape(F.real(a), [-1]), F.reshape(b, [-1])], 0);
      }
    }
    (await expectStreamParity(new tb.BendedModule(new Spectra()), "forward", blocks([1, 2, 64], 2))).dispose();
  });

  it("integer and bool tensors: casts, arange/linspace with dtypes, remainder, embedding, masks, sdpa", async () => {
    for (const [fn, shape] of TORCH2.filter(([f]) => f === "forward" || f === "attention" || f === "buffered")) {
      for (const name of ["torch2", "torch2_handwritten"]) await expectTwinParity(name, fn, blocks(shape, 2));
    }
    // codes clamped and cast to int32, looked up in codebooks; a randn branch drawn from the seed
    await expectTwinParity("ops_zoo", "decode");
    for (const fn of ["features", "forward"]) await expectTwinParity("ops_zoo", fn, blocks([1, 1, 2048], 4));
  });

  it("integer ops on tb.F: casts truncate, comparisons and where, index_select, argmax, cumsum", async () => {
    const { nn, F } = tb;
    class Indices extends nn.Module {
      table = new nn.Parameter(tf.randomNormal([10, 3], 0, 1, "float32", 4));
      override forward(x: tb.Tensor): tb.Tensor {
        const codes = F.cast(F.clamp(F.mul(x, 3), -9, 9), "int32"); // truncated toward zero
        const index = F.remainder(codes, 10);
        const looked = F.embedding(F.reshape(index, [-1]), this.table.value); // [n, 3]
        const picked = F.indexSelect(x, 1, F.arange(0, 4, 2, "int32"));
        const positive = F.gt(x, 0);
        const masked = F.maskedFill(x, F.logicalNot(positive), -1);
        const both = F.cast(F.logical("and", positive, F.le(x, 1)), "float32");
        const steps = F.cast(F.argmax(x, 1, true), "float32");
        return F.cat([
          F.reshape(looked, [-1]), F.reshape(picked, [-1]), F.reshape(F.where(positive, x, F.cumsum(x, 2)), [-1]),
          F.reshape(masked, [-1]), F.reshape(both, [-1]), F.reshape(steps, [-1]), F.reshape(F.cast(codes, "float32"), [-1]),
        ], 0);
      }
    }
    (await expectStreamParity(new tb.BendedModule(new Indices()), "forward", blocks([1, 4, 16], 3))).dispose();
  });

  it("RAVE-like forward (encoder then decoder) streams within 1e-5 over 10 blocks, at two block sizes", async () => {
    for (const name of ["rave_like", "rave_v1_like"]) {
      for (const samples of [2048, 512]) {
        const states = await expectTwinParity(name, "forward", blocks([1, 1, samples], 10, samples));
        expect(states, `${name} ${samples}`).toBeGreaterThan(0);
      }
    }
  });
});
