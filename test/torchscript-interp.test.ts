// The TorchScript interpreter on real torch.jit.save files (test/fixtures/torchscript, made by
// make_fixtures.py with PyTorch 1.13): every method against PyTorch's outputs (replaying its
// random draws), block-by-block streaming, bending, versions, nn~ metadata and errors.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { identical } from "./helpers.js";
import { expectStreamsMatch, FIXTURES, Replay, relativeError, type Call } from "./torchscript-reference.js";

const { tf } = tb;
const DIR = FIXTURES;

interface MethodReference extends Call {
  stream: Call[];
}
interface Reference {
  className: string;
  stateDictKeys: string[];
  methods: Record<string, MethodReference>;
  nnTilde: {
    methods: tb.nn.MethodSpec[];
    attributes: { name: string; value: unknown }[];
  };
  ops: string[];
}

function reference(name: string): Reference {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8")) as Reference;
}

/** The same numbers for every call: outputs only depend on the module's state. */
function fixedRandom(kind: "normal" | "uniform", shape: number[]): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  return Float32Array.from({ length: n }, (_, i) => (kind === "normal" ? Math.sin(i * 12.9898) : (Math.sin(i * 78.233) + 1) / 2));
}

const MODELS = ["rave_like", "effects", "conv24"] as const;

describe("TorchScript models against PyTorch", () => {
  const loaded = new Map<string, { bended: tb.BendedModule; replay: Replay; tensors: Record<string, tb.Tensor>; ref: Reference }>();

  beforeAll(async () => {
    for (const name of MODELS) {
      const replay = new Replay();
      const bended = await tb.load(join(DIR, `${name}.ts`), { random: replay.source });
      const tensors = await tb.io.loadSafetensors(join(DIR, `${name}.safetensors`));
      loaded.set(name, { bended, replay, tensors, ref: reference(name) });
    }
  });
  afterAll(() => {
    for (const { bended, tensors } of loaded.values()) {
      bended.dispose();
      bended.module.dispose();
      tf.dispose(Object.values(tensors));
    }
  });

  it("loads every fixture with PyTorch's state_dict keys as weight and buffer names", async () => {
    for (const name of [...MODELS, "layout"]) {
      const ref = reference(name);
      const bended = loaded.get(name)?.bended ?? (await tb.load(join(DIR, `${name}.ts`)));
      expect(Object.keys(bended.stateDict())).toEqual(ref.stateDictKeys);
      expect(bended.module).toBeInstanceOf(tb.torchscript.TorchScriptModule);
      if (!loaded.has(name)) bended.module.dispose();
    }
  });

  it("covers every op the fixtures' code uses (nothing unsupported at load)", async () => {
    const table = new Set(tb.torchscript.opNames());
    for (const name of [...MODELS, "layout"]) {
      const bended = loaded.get(name)?.bended ?? (await tb.load(join(DIR, `${name}.ts`)));
      expect((bended.module as tb.torchscript.TorchScriptRoot).unsupportedOps, name).toEqual([]);
      for (const op of reference(name).ops) {
        const m = /^(?:torch|ops\.aten)\.(\w+)$|^ops\.prim\.(\w+)$/.exec(op);
        if (m === null) continue; // constructs: if, for, annotate(), ...
        const key = m[1] !== undefined ? m[1] : `prim::${m[2]}`;
        const inPlaceBase = key.endsWith("_") && !key.endsWith("__") ? key.slice(0, -1) : null;
        expect(table.has(key) || (inPlaceBase !== null && table.has(inPlaceBase)), `${name}: ${op}`).toBe(true);
      }
      if (!loaded.has(name)) bended.module.dispose();
    }
  });

  for (const name of MODELS) {
    it(`${name}: every method matches PyTorch on a fresh load (within 1e-4 of the peak)`, () => {
      const { bended, replay, tensors, ref } = loaded.get(name)!;
      const root = bended.module as tb.torchscript.TorchScriptRoot;
      for (const [method, call] of Object.entries(ref.methods)) {
        root.resetState();
        replay.set(call.draws, tensors);
        const out = bended.call(method, tensors[call.input]) as tb.Tensor;
        expect(replay.pending).toBe(0);
        expect(relativeError(out, tensors[call.output]), `${name}.${method}`).toBeLessThan(1e-4);
        out.dispose();
      }
    });

    it(`${name}: streaming block by block equals PyTorch's stream`, () => {
      const { bended, replay, tensors, ref } = loaded.get(name)!;
      const { streams } = expectStreamsMatch(name, bended, ref.methods, replay, tensors);
      if (name !== "conv24") expect(streams).toBeGreaterThan(0);
    });
  }

  it("reads nn~ methods and attributes", () => {
    for (const name of MODELS) {
      const { bended, ref } = loaded.get(name)!;
      const root = bended.module as tb.torchscript.TorchScriptRoot;
      expect(tb.nn.nnTildeInterface(root)).toBe(root);
      expect(root.methods).toEqual(ref.nnTilde.methods);
      expect(root.attributes.map((a) => [a.name, a.value])).toEqual(ref.nnTilde.attributes.map((a) => [a.name, a.value]));
    }
  });
});

describe("TorchScript nn~ attributes", () => {
  let effects: tb.torchscript.TorchScriptRoot;
  let rave: tb.torchscript.TorchScriptRoot;
  beforeAll(async () => {
    effects = (await tb.load(join(DIR, "effects.ts"))).module as tb.torchscript.TorchScriptRoot;
    rave = (await tb.load(join(DIR, "rave_like.ts"))).module as tb.torchscript.TorchScriptRoot;
  });
  afterAll(() => {
    effects.dispose();
    rave.dispose();
  });

  it("set_<name>/get_<name> change what the model computes, type-checked", () => {
    const x = tf.linspace(-1, 1, 64).reshape([1, 1, 64]);
    const before = effects.forward(x) as tb.Tensor;
    effects.setAttribute("gain", 0.25);
    expect(effects.getAttribute("gain")).toBe(0.25);
    expect(effects.attributes.find((a) => a.name === "gain")?.value).toBe(0.25);
    const after = effects.forward(x) as tb.Tensor;
    expect(identical(before, after)).toBe(false);
    effects.setAttribute("polynomial", [1, 0, 0]);
    expect(effects.getAttribute("polynomial")).toEqual([1, 0, 0]);
    effects.setAttribute("saturate_mode", "clip");
    expect(effects.getAttribute("saturate_mode")).toBe("clip");
    expect(() => effects.setAttribute("saturate_mode", "fold")).toThrow(/refused/);
    expect(effects.getAttribute("saturate_mode")).toBe("clip");
    expect(() => effects.setAttribute("gain", "loud")).toThrow(/gain.*float/);
    expect(() => effects.setAttribute("steps", [-1, 0.5])).toThrow(/exception raised by the model.*count must not be negative.*set_steps.*effects\.ts: code\/.*:\d+/);
    expect(() => effects.getAttribute("volume")).toThrow(/unknown attribute 'volume'/);
    expect(() => rave.setAttribute("temperature", -1)).toThrow(/refused/);
    rave.setAttribute("mute_noise", true);
    expect(rave.getAttribute("mute_noise")).toBe(true);
    tf.dispose([x, before, after]);
  });
});

describe("bending an interpreted model", () => {
  let bended: tb.BendedModule;
  let root: tb.torchscript.TorchScriptRoot;
  let z: tb.Tensor;
  /** decode from the loaded state, with the same random numbers every time. */
  const decode = (): tb.Tensor => {
    root.resetState();
    return bended.call("decode", z) as tb.Tensor;
  };

  beforeAll(async () => {
    bended = await tb.load(join(DIR, "rave_like.ts"), { random: fixedRandom });
    root = bended.module as tb.torchscript.TorchScriptRoot;
    z = tf.tidy(() => tf.sin(tf.linspace(0, 20, 3 * 8)).reshape([1, 3, 8]));
  });
  afterAll(() => {
    z.dispose();
    bended.dispose();
    root.dispose();
  });

  it("traces decode into module calls and ops, without advancing the stream", () => {
    const plain = decode();
    root.resetState();
    bended.trace("decode");
    const names = bended.activationNames("decode");
    expect(names).toEqual(expect.arrayContaining(["z", "decoder_pre", "decoder_wave", "pqmf_synthesis", "decoder_noise_net_0", "fft_irfft", "conv1d"]));
    expect(bended.graph("decode").nodes.find((n) => n.name === "decoder_pre")?.op).toBe("call_module");
    expect(bended.graph("decode").nodes.find((n) => n.name === "fft_irfft")?.op).toBe("call_function");
    // trace() without inputs runs one 2048-sample step: 2048 / 16 = 128 latent frames, 512 band samples
    expect(bended.activationShape("decoder_wave", "decode")).toEqual([1, 8, 512]);
    expect(bended.graph("decode").printTabular()).toContain("decoder_wave");
    // tracing ran with frozen state: the next call continues from the loaded caches
    const again = bended.call("decode", z) as tb.Tensor;
    expect(identical(plain, again)).toBe(true);
    tf.dispose([plain, again]);
  });

  it("bends activations and weights; reset gives bit-identical outputs", () => {
    bended.trace("decode", [z]);
    const plain = decode();
    const handle = bended.bend(new tb.Mask(0), "decoder_wave");
    const masked = decode();
    expect(identical(plain, masked)).toBe(false);
    handle.remove();
    bended.bend(new tb.Scale(0), "decoder.pre.weight");
    const bentWeight = decode();
    expect(identical(plain, bentWeight)).toBe(false);
    expect(identical(root.stateDict()["decoder.pre.weight"], bended.bendedStateDict()["decoder.pre.weight"])).toBe(false);
    bended.reset();
    const restored = decode();
    expect(identical(plain, restored)).toBe(true);
    const acts = bended.getActivations(["decoder_wave", "decoder_wave_bended"], [z], { fn: "decode" });
    expect(acts.decoder_wave.shape).toEqual([1, 8, 32]);
    tf.dispose([plain, masked, bentWeight, restored, ...Object.values(acts)]);
  });

  it("writes versions and interpolates between them", () => {
    const plain = decode();
    bended.bend(new tb.Mask(0.5, { seed: 3 }), "decoder.wave.weight");
    bended.write("half");
    const half = decode();
    expect(identical(plain, half)).toBe(false);
    bended.version = null;
    const back = decode();
    expect(identical(plain, back)).toBe(true);
    const onlyDefault = bended.interpolate({ _default: 1, half: 0 }, decode)!;
    expect(identical(plain, onlyDefault)).toBe(true);
    const mixed = bended.interpolate({ _default: 1, half: 1 }, decode)!;
    expect(identical(mixed, plain)).toBe(false);
    expect(identical(mixed, half)).toBe(false);
    tf.dispose([plain, half, back, onlyDefault, mixed]);
  });

  it("snapshots and restores the streaming state (a block rendered twice from the same past)", () => {
    root.resetState();
    tf.dispose(bended.call("decode", z) as tb.Tensor);
    const snapshot = root.snapshotState();
    const first = bended.call("decode", z) as tb.Tensor;
    const further = bended.call("decode", z) as tb.Tensor;
    root.restoreState(snapshot);
    const again = bended.call("decode", z) as tb.Tensor;
    expect(identical(first, again)).toBe(true);
    expect(identical(first, further)).toBe(false);
    tf.dispose([first, further, again]);
  });

  it("keeps tf.memory().numTensors flat over 100 streaming calls with a bending", () => {
    bended.trace("decode", [z]);
    const handle = bended.bend(new tb.Mask(0.7, { dim: -2, seed: 1 }), "decoder_up_0");
    root.resetState();
    tf.dispose(bended.call("decode", z) as tb.Tensor);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) tf.dispose(bended.call("decode", z) as tb.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    handle.remove();
  });
});

describe("TorchScript randomness and methods", () => {
  it("the default random source is reproducible with a seed", async () => {
    const outputs: tb.Tensor[] = [];
    const modules: tb.nn.Module[] = [];
    const z = tf.tidy(() => tf.cos(tf.linspace(0, 9, 3 * 4)).reshape([1, 3, 4]));
    for (const seed of [7, 7, 8]) {
      const bended = await tb.load(join(DIR, "rave_like.ts"), { seed });
      modules.push(bended.module);
      outputs.push(bended.call("decode", z) as tb.Tensor);
    }
    expect(identical(outputs[0], outputs[1])).toBe(true);
    expect(identical(outputs[0], outputs[2])).toBe(false);
    tf.dispose([z, ...outputs]);
    for (const m of modules) m.dispose();
  });

  it("traces every nn~ method at its declared shape", async () => {
    const bended = await tb.load(join(DIR, "rave_like.ts"), { random: fixedRandom });
    const root = bended.module as tb.torchscript.TorchScriptRoot;
    for (const m of root.methods) {
      bended.trace(m.name);
      const graph = bended.graph(m.name);
      const input = graph.nodes.find((n) => n.op === "placeholder");
      expect(input?.shape, m.name).toEqual([1, m.inChannels, Math.max(1, 2048 / m.inRatio)]);
      expect(bended.activationNames(m.name).length, m.name).toBeGreaterThan(20);
    }
    expect(bended.activationNames("encode")).toEqual(expect.arrayContaining(["pqmf_analysis", "encoder_net_0", "encoder_net_3_units_1_conv", "randn", "slice_scatter"]));
    root.dispose();
  });
});

describe("TorchScript errors", () => {
  it("names an op the table lacks, with the method and source line", async () => {
    const archive = await tb.torchscript.readTorchScriptArchive(join(DIR, "effects.ts"));
    for (const [path, source] of archive.code) archive.code.set(path, source.replace("torch.tanh(", "torch.frobnicate("));
    const root = tb.torchscript.moduleFromArchive(archive);
    expect(root.unsupportedOps).toEqual([expect.stringMatching(/^torch\.frobnicate in Effects\.forward \(.*effects\.ts: code\/__torch__.*\.py:\d+\)$/)]);
    const x = tf.ones([1, 1, 8]);
    expect(() => root.forward(x)).toThrow(/TorchScript op 'torch\.frobnicate' is not supported by tfbend \(in Effects\.forward, .*effects\.ts: code\/__torch__.*\.py:\d+\)/);
    expect(root.invoke("add", [tf.ones([1, 2, 8])])).toBeInstanceOf(tf.Tensor);
    x.dispose();
    root.dispose();
  });

  it("a parse error names the file and line", () => {
    expect(() => tb.torchscript.parseSource("class A(Module):\n  def f(self):\n    x = (1,\n", "code/__torch__/a.py")).toThrow(/code\/__torch__\/a\.py:\d+/);
    expect(() => tb.torchscript.parseSource("def f(x):\n  return x $ 2\n", "code/__torch__/b.py")).toThrow(/b\.py:2: unexpected character/);
  });

  it("refuses damaged archives with a clear error", async () => {
    await expect(tb.load(join(DIR, "layout_truncated_storage.ts"))).rejects.toThrow(tb.BendingError);
    await expect(tb.load(join(DIR, "layout_unknown_global.ts"))).rejects.toThrow(/subprocess/);
  });

  it("tb.save of an interpreted model into a folder is refused and says to save a .ts file", async () => {
    const bended = await tb.load(join(DIR, "effects.ts"));
    await expect(tb.save(bended, join(DIR, "never-written"))).rejects.toThrow(/TorchScript file is saved as one: tb\.save\(bended, "bent\.ts"\)/);
    expect(existsSync(join(DIR, "never-written"))).toBe(false);
    bended.module.dispose();
  });
});
