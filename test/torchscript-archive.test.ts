// The TorchScript archive reader on real torch.jit.save files (test/fixtures/torchscript,
// written by make_fixtures.py with PyTorch 1.13).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { readTorchScriptArchive, ScriptTuple } = tb.torchscript;
type ScriptObject = tb.torchscript.ScriptObject;
type ScriptValue = tb.torchscript.ScriptValue;
type StoredTensor = tb.torchscript.StoredTensor;

const DIR = join(import.meta.dirname, "fixtures", "torchscript");
const LAYOUT = join(DIR, "layout.ts");

interface TensorRef {
  dtype: string;
  shape: number[];
  values: number[];
}
interface LayoutReference {
  rootFolder: string;
  className: string;
  tensors: Record<string, TensorRef>;
  shared: string[][];
  requiresGrad: Record<string, boolean>;
  attributes: Record<string, unknown>;
  meta: { className: string; count: number; label: string };
  constants: TensorRef[];
  stateDictKeys: string[];
}
const reference = JSON.parse(readFileSync(join(DIR, "layout.json"), "utf8")) as LayoutReference;

function isObject(value: ScriptValue | undefined): value is ScriptObject {
  return typeof value === "object" && value !== null && "kind" in value && value.kind === "object";
}
function isTensor(value: ScriptValue | undefined): value is StoredTensor {
  return typeof value === "object" && value !== null && "kind" in value && value.kind === "tensor";
}

/** The value at a state_dict-style path ("cached.conv.weight", "blocks.0.weight"). */
function at(root: ScriptObject, path: string): ScriptValue | undefined {
  let node: ScriptValue | undefined = root;
  for (const part of path.split(".")) {
    if (!isObject(node)) return undefined;
    node = node.attributes.get(part);
  }
  return node;
}

/** A ScriptValue as JSON would write it (tuples as arrays, dicts as objects). */
function plain(value: ScriptValue): unknown {
  if (value instanceof ScriptTuple) return value.items.map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  return value;
}

function values(tensor: StoredTensor): number[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

const scratch = mkdtempSync(join(tmpdir(), "tfbend-ts-archive-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("readTorchScriptArchive", async () => {
  const archive = await readTorchScriptArchive(LAYOUT);

  it("reads the layout: root folder, version, class names, code", () => {
    expect(archive.file).toBe(LAYOUT);
    expect(archive.rootFolder).toBe(reference.rootFolder);
    expect(archive.version).toBeGreaterThanOrEqual(1);
    expect(archive.root.className).toBe(reference.className);
    expect(archive.code.get("__torch__.py")).toContain("class Layout(Module):");
    expect([...archive.code.keys()].every((k) => k.endsWith(".py") && !k.startsWith("code/"))).toBe(true);
    expect(archive.code.get("__torch__/torch/nn/modules/conv.py")).toContain("torch.conv1d");
    expect((at(archive.root, "cached.conv") as ScriptObject).className).toBe("__torch__.torch.nn.modules.conv.Conv1d");
  });

  it("reads attributes of every kind as PyTorch pickled them", () => {
    for (const [name, expected] of Object.entries(reference.attributes)) {
      expect(plain(archive.root.attributes.get(name) as ScriptValue), name).toEqual(expected);
    }
    expect(archive.root.attributes.get("pair")).toBeInstanceOf(ScriptTuple);
    expect(Array.isArray(archive.root.attributes.get("sizes"))).toBe(true);
    expect(archive.root.attributes.get("table")).toBeInstanceOf(Map);
    const meta = archive.root.attributes.get("meta");
    expect(isObject(meta) && meta.className).toBe(reference.meta.className);
    expect(isObject(meta) && plain(meta.attributes.get("count")!)).toBe(reference.meta.count);
    expect(isObject(meta) && meta.attributes.get("label")).toBe(reference.meta.label);
    // Attributes in pickled order: buffers first, as torch writes them.
    expect([...archive.root.attributes.keys()].slice(0, 3)).toEqual(["base", "window", "transposed"]);
  });

  it("every state_dict tensor matches PyTorch: dtype, shape, values (strided, zero-size, all dtypes)", () => {
    expect(Object.keys(reference.tensors)).toEqual(expect.arrayContaining(reference.stateDictKeys));
    for (const [key, expected] of Object.entries(reference.tensors)) {
      const tensor = at(archive.root, key);
      expect(isTensor(tensor), key).toBe(true);
      if (!isTensor(tensor)) continue;
      expect(tensor.dtype, key).toBe(expected.dtype);
      expect(tensor.shape, key).toEqual(expected.shape);
      expect(tensor.data.length, key).toBe(expected.values.length);
      const got = values(tensor);
      // float16/bfloat16 widen exactly; float64 and int64 keep their precision.
      expect(got, key).toEqual(expected.values);
    }
    expect((at(archive.root, "empty") as StoredTensor).data.length).toBe(0);
    expect((at(archive.root, "steps") as StoredTensor).data).toBeInstanceOf(BigInt64Array);
    expect((at(archive.root, "halves") as StoredTensor).data).toBeInstanceOf(Float32Array);
    expect((at(archive.root, "precise") as StoredTensor).data).toBeInstanceOf(Float64Array);
    expect((at(archive.root, "scalar") as StoredTensor).shape).toEqual([]);
  });

  it("reads parameters with requires_grad and buffers without", () => {
    for (const [key, grad] of Object.entries(reference.requiresGrad)) {
      expect((at(archive.root, key) as StoredTensor).requiresGrad, key).toBe(grad);
    }
    expect((at(archive.root, "base") as StoredTensor).requiresGrad).toBe(false);
  });

  it("loads the streaming cache as saved, not zero", () => {
    const cache = at(archive.root, "cached.cache") as StoredTensor;
    expect(values(cache)).toEqual(reference.tensors["cached.cache"].values);
    expect(values(cache).some((v) => v !== 0)).toBe(true);
  });

  it("reads a shared storage once: both tensors view the same memory", () => {
    expect(reference.shared).toEqual([["base", "window"]]);
    const base = at(archive.root, "base") as StoredTensor;
    const window = at(archive.root, "window") as StoredTensor;
    expect(window.data.buffer).toBe(base.data.buffer);
    expect(window.data.byteOffset - base.data.byteOffset).toBe(2 * 4);
  });

  it("reads constants.pkl: the code's CONSTANTS", () => {
    expect(archive.constants.length).toBe(reference.constants.length);
    const c0 = archive.constants[0] as StoredTensor;
    expect({ dtype: c0.dtype, shape: c0.shape, values: values(c0) }).toEqual(reference.constants[0]);
    expect([...archive.code.values()].some((src) => src.includes("CONSTANTS.c0"))).toBe(true);
  });
});

describe("readTorchScriptArchive refuses what it cannot read", () => {
  const refusal = async (path: string) => {
    try {
      await readTorchScriptArchive(path);
    } catch (err) {
      expect(err).toBeInstanceOf(tb.BendingError);
      return (err as Error).message;
    }
    throw new Error(`${path} was read`);
  };

  it("a corrupt zip, naming the file", async () => {
    const bytes = readFileSync(LAYOUT);
    const cut = join(scratch, "cut.ts");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 200)); // the central directory is gone
    const message = await refusal(cut);
    expect(message).toContain(cut);
    expect(message).toMatch(/zip/);
    const junk = join(scratch, "junk.ts");
    writeFileSync(junk, "not a zip at all");
    expect(await refusal(junk)).toContain(junk);
  });

  it("a damaged local header, naming the file", async () => {
    const bytes = Buffer.from(readFileSync(LAYOUT));
    bytes.writeUInt32LE(0, 0); // the first entry's local header signature
    const path = join(scratch, "header.ts");
    writeFileSync(path, bytes);
    const message = await refusal(path);
    expect(message).toContain(path);
    expect(message).toContain("exported_layout/");
  });

  it("a truncated storage: file, entry, expected and actual bytes", async () => {
    const path = join(DIR, "layout_truncated_storage.ts");
    const message = await refusal(path);
    expect(message).toContain(path);
    expect(message).toContain("exported_layout/data/0");
    // make_fixtures.py cut data/0 to half its bytes.
    const [, expected, actual] = /expected (\d+) bytes, the archive holds (\d+)/.exec(message) ?? [];
    expect(Number(expected)).toBeGreaterThan(0);
    expect(Number(actual)).toBe(Math.floor(Number(expected) / 2));
  });

  it("a pickle naming an unknown global: file, entry, global; nothing run", async () => {
    const path = join(DIR, "layout_unknown_global.ts");
    const message = await refusal(path);
    expect(message).toContain(path);
    expect(message).toContain("exported_layout/data.pkl");
    expect(message).toContain("subprocess.CompletedPr");
  });

  it("an int beyond 2^53, which a JS number cannot hold", async () => {
    const path = join(DIR, "layout_huge_int.ts");
    const message = await refusal(path);
    expect(message).toContain("layout_huge_int/data.pkl");
    expect(message).toContain(String(2n ** 60n + 1n));
  });

  it("a big-endian archive", async () => {
    const message = await refusal(join(DIR, "layout_big_endian.ts"));
    expect(message).toContain("exported_layout/byteorder");
    expect(message).toMatch(/big-endian/);
  });

  it("a missing file", async () => {
    expect(await refusal(join(scratch, "absent.ts"))).toContain("absent.ts");
  });
});

interface ModelReference {
  className: string;
  stateDictKeys: string[];
  valueTensors: Record<string, string>;
  nonZeroCaches: string[];
  nnTilde: { methods: { name: string; inChannels: number; inRatio: number; outChannels: number; outRatio: number }[] };
}

describe("the model fixtures read as PyTorch saved them", () => {
  for (const name of ["rave_like", "effects", "conv24"]) {
    it(name, async () => {
      const ref = JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8")) as ModelReference;
      const archive = await readTorchScriptArchive(join(DIR, `${name}.ts`));
      expect(archive.root.className).toBe(`__torch__.${ref.className}`);
      for (const key of ref.stateDictKeys) expect(isTensor(at(archive.root, key)), key).toBe(true);
      const expected = await tb.io.loadSafetensors(join(DIR, `${name}.safetensors`));
      for (const [key, entry] of Object.entries(ref.valueTensors)) {
        const tensor = at(archive.root, key) as StoredTensor;
        const want = expected[entry];
        // (the safetensors reader gives a 0-d tensor the shape [1])
        if (tensor.shape.length > 0) expect(tensor.shape, key).toEqual(want.shape);
        expect(values(tensor), key).toEqual(Array.from(want.dataSync()));
      }
      for (const t of Object.values(expected)) t.dispose();
      for (const key of ref.nonZeroCaches) expect(values(at(archive.root, key) as StoredTensor).some((v) => v !== 0), key).toBe(true);
      for (const m of ref.nnTilde.methods) {
        expect(values(at(archive.root, `${m.name}_params`) as StoredTensor), m.name).toEqual([m.inChannels, m.inRatio, m.outChannels, m.outRatio]);
      }
    });
  }
});
