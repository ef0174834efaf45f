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

  it("a file format newer than version 10 is refused, naming the file and entry", async () => {
    const file = join(FIXTURES, "torch2_version11.ts");
    await expect(tb.torchscript.loadTorchScript(file)).rejects.toThrow(`${file}: torch2/.data/version: file format version 11; tfbend reads versions 1 to 10`);
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
  it("setBufferAttribute, isBufferEmpty and clearBufferAttribute run the model's own methods; the model keeps its own copy", async () => {
    const root = await tb.torchscript.loadTorchScript(join(FIXTURES, "torch2.ts"));
    const tensors = await tb.io.loadSafetensors(join(FIXTURES, "torch2.safetensors"));
    try {
      const { name, value, sr, output } = ref.bufferAttribute;
      expect(root.bufferAttributes).toEqual([name]);
      expect(root.isBufferEmpty(name)).toBe(true);
      expect(() => root.setBufferAttribute("nothing", tensors[value], sr)).toThrow(/unknown buffer attribute 'nothing'/);
      const before = tf.memory().numTensors;
      root.setBufferAttribute(name, tensors[value], sr);
      tensors[value].dispose(); // the model keeps its own copy
      expect(root.isBufferEmpty(name)).toBe(false);
      const out = root.invoke("buffered", [tensors[ref.methods.buffered.input]]) as tb.Tensor;
      expect(relativeError(out, tensors[output])).toBeLessThan(1e-5);
      out.dispose();
      root.clearBufferAttribute(name);
      expect(root.isBufferEmpty(name)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      root.dispose();
      tf.dispose(Object.values(tensors).filter((t) => !t.isDisposed));
    }
  });
});

describe("nn~ typed and tensor attributes", () => {
  it("bool/int/float/List[str] attributes get and set with their types; a tensor attribute gets and sets a copy", async () => {
    const root = await tb.torchscript.loadTorchScript(join(FIXTURES, "torch2.ts"));
    const tensors = await tb.io.loadSafetensors(join(FIXTURES, "torch2.safetensors"));
    try {
      expect(root.attributes.map((a) => [a.name, a.type, a.value])).toEqual([
        ["active", "bool", true], ["labels", "List[str]", ref.attributes.labels], ["mix", "float", ref.attributes.mix], ["sample_rate", "int", ref.attributes.sample_rate],
      ]);
      expect(root.tensorAttributes).toEqual([{ name: "wavetable", type: "Tensor" }]);
      root.setAttribute("labels", ["x", "y", "z"]);
      expect(root.getAttribute("labels")).toEqual(["x", "y", "z"]);
      expect(() => root.setAttribute("labels", [1, 2])).toThrow(/needs a str/);
      expect(() => root.setAttribute("active", 1)).toThrow(/needs a bool/);
      expect(() => root.setAttribute("mix", 2)).toThrow(/refused/);
      root.setAttribute("sample_rate", 48000);
      expect(root.getAttribute("sample_rate")).toBe(48000);

      const x = tensors[ref.methods.forward.input];
      const before = root.invoke("forward", [x]) as tb.Tensor;
      const old = root.getTensorAttribute("wavetable");
      const table = tf.linspace(-1, 1, 32);
      root.setTensorAttribute("wavetable", table);
      table.dispose(); // the model keeps its own copy
      const after = root.invoke("forward", [x]) as tb.Tensor;
      // forward adds wavetable[:T] · mix
      const T = x.shape[2];
      const expected = tf.tidy(() => tf.add(before, tf.mul(tf.sub(tf.linspace(-1, 1, 32).slice(0, T), old.slice(0, T)), ref.attributes.mix)));
      expect(relativeError(after, expected)).toBeLessThan(1e-5);
      const wrong = tf.zeros([2, 2]);
      expect(() => root.setTensorAttribute("wavetable", wrong)).toThrow(/refused/);
      tf.dispose([before, after, expected, old, wrong]);
      // setting it again and again frees each replaced copy
      const count = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const t = tf.fill([32], i);
        root.setTensorAttribute("wavetable", t);
        t.dispose();
        const got = root.getTensorAttribute("wavetable");
        expect(Array.from(got.dataSync())).toEqual(new Array(32).fill(i));
        got.dispose();
      }
      expect(tf.memory().numTensors).toBe(count);
    } finally {
      root.dispose();
      tf.dispose(Object.values(tensors));
    }
  });
});

describe("the parser on torch 2.x statements", () => {
  it("reads `with` on one or more context managers, with and without `as`", () => {
    const source = ["def f(x: Tensor) -> Tensor:", "  with _0 as y, _1:", "    z = torch.mul(x, 2)", "  return z", ""].join("\n");
    const file = tb.torchscript.parseSource(source, "code/__torch__/m.py");
    const body = file.functions[0].body;
    expect(body[0]).toMatchObject({
      k: "with",
      items: [{ context: { k: "name", id: "_0" }, target: { k: "name", id: "y" } }, { context: { k: "name", id: "_1" }, target: null }],
      body: [{ k: "assign" }],
    });
    expect(() => tb.torchscript.parseSource("def f():\n  with _0\n    pass\n", "code/__torch__/bad.py")).toThrow(/parse error in code\/__torch__\/bad.py:2: expected ':'/);
  });
});
