// What torch >= 2.0 writes into TorchScript files (issue 20): torch2.ts is scripted by PyTorch 1.13
// (which already prints `with` blocks, scripted classes built at run time, uninitialized,
// __derive_index loops, prim.data, dtype codes, keyword arguments, torch.warn, lstm/gru and their
// cells, rfftfreq/fftfreq, stft/istft); torch2_handwritten.ts adds what only 2.x prints
// (scaled_dot_product_attention, stft's center overload) and 2.x's archive layout (no top-level
// version, .data/version 10, byteorder, serialization_id, root folder `torch2_v2[3]`, a foreign
// .debug_pkl). References come from PyTorch 1.13 (make_torch2_fixtures.py).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { FIXTURES, relativeError } from "./torchscript-reference.js";

const { tf } = tb;

interface Reference {
  methods: Record<string, { input: string; output: string }>;
  bufferAttribute: { name: string; value: string; sr: number; output: string };
  attributes: { sample_rate: number; mix: number; labels: string[]; wavetable: number[] };
  stateDictKeys: string[];
  code: { with: boolean; uninitialized: boolean };
}

const ref = JSON.parse(readFileSync(join(FIXTURES, "torch2.json"), "utf8")) as Reference;

describe("torch 2.x printing and archives", () => {
  let tensors: Record<string, tb.Tensor>;
  const roots: Record<string, tb.torchscript.TorchScriptRoot> = {};

  beforeAll(async () => {
    tensors = await tb.io.loadSafetensors(join(FIXTURES, "torch2.safetensors"));
    for (const name of ["torch2", "torch2_handwritten"]) roots[name] = await tb.torchscript.loadTorchScript(join(FIXTURES, `${name}.ts`));
  });
  afterAll(() => {
    for (const root of Object.values(roots)) root.dispose();
    tf.dispose(Object.values(tensors));
  });

  it("the fixture holds what torch 2.x prints (with blocks, uninitialized)", () => {
    expect(ref.code).toEqual({ with: true, uninitialized: true });
  });

  for (const file of ["torch2", "torch2_handwritten"]) {
    // torch2.ts runs 1.13's reference code (sdpa_reference, stft_center_reference) where the other file calls torch 2.x's ops
    for (const [method, call] of Object.entries(ref.methods)) {
      it(`${file}.${method} matches PyTorch 1.13 (within 1e-4 of the peak)`, () => {
        const root = roots[file];
        // the first call fills tfbend's caches (DFT matrices, derived kernels); later ones keep the count flat
        let before = 0;
        for (let i = 0; i < 3; i++) {
          if (i === 1) before = tf.memory().numTensors;
          const out = root.invoke(method, [tensors[call.input]]) as tb.Tensor;
          expect(relativeError(out, tensors[call.output])).toBeLessThan(1e-4);
          out.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it("every op the code uses is supported (the RNNs' packed-sequence overloads aside)", () => {
    for (const root of Object.values(roots)) expect(root.unsupportedOps.filter((o) => !o.includes("PackedSequence"))).toEqual([]);
  });

  it("torch2_handwritten: the archive's layout as torch 2.x writes it", async () => {
    const archive = await tb.torchscript.readTorchScriptArchive(join(FIXTURES, "torch2_handwritten.ts"));
    expect(archive.rootFolder).toBe("torch2_v2[3]");
    expect(archive.version).toBe(10);
  });

  it("state_dict keys as PyTorch's", async () => {
    const bended = await tb.load(join(FIXTURES, "torch2.ts"));
    expect(Object.keys(bended.stateDict())).toEqual(ref.stateDictKeys);
    bended.dispose();
    (bended.module as tb.torchscript.TorchScriptRoot).dispose();
  });

  it("tensor-valued and plain attributes load", () => {
    const root = roots.torch2;
    const wavetable = root.attribute("wavetable") as tb.Tensor;
    expect(wavetable.shape).toEqual([ref.attributes.wavetable.length]);
    Array.from(wavetable.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref.attributes.wavetable[i], 5));
    expect(root.attribute("sample_rate")).toBe(ref.attributes.sample_rate);
    expect(root.attribute("labels")).toEqual(ref.attributes.labels);
  });

  it("a truncated file says it is incomplete, naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tfbend-torch2-"));
    try {
      const cut = join(dir, "half.ts");
      copyFileSync(join(FIXTURES, "torch2.ts"), cut);
      truncateSync(cut, Math.floor(statSync(cut).size / 2));
      await expect(tb.torchscript.loadTorchScript(cut)).rejects.toThrow(`${cut}: the zip's central directory is missing: the file is incomplete — download it again`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("nn~ buffer attributes (a python_tools.buffer.Buffer object in an attribute)", () => {
  it("set_buffer_attribute, is_buffer_empty and clear_buffer_attribute run the model's own code; tensors stay owned", async () => {
    const root = await tb.torchscript.loadTorchScript(join(FIXTURES, "torch2.ts"));
    const tensors = await tb.io.loadSafetensors(join(FIXTURES, "torch2.safetensors"));
    try {
      const { name, value, sr, output } = ref.bufferAttribute;
      expect(root.invoke("get_buffer_attributes", [])).toEqual([name]);
      expect(root.invoke("is_buffer_empty", [name])).toBe(true);
      const before = tf.memory().numTensors;
      expect(root.invoke("set_buffer_attribute", [name, tensors[value], sr])).toBe(0);
      tensors[value].dispose(); // the model keeps its own copy
      expect(root.invoke("is_buffer_empty", [name])).toBe(false);
      const out = root.invoke("buffered", [tensors[ref.methods.buffered.input]]) as tb.Tensor;
      expect(relativeError(out, tensors[output])).toBeLessThan(1e-5);
      out.dispose();
      expect(root.invoke("clear_buffer_attribute", [name])).toBe(0);
      expect(root.invoke("is_buffer_empty", [name])).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      root.dispose();
      tf.dispose(Object.values(tensors).filter((t) => !t.isDisposed));
    }
  });
});
