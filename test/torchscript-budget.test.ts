// Interpreted code runs under budgets it cannot escape (bytes allocated, string and list
// length, steps, depth), script methods never become properties of the loaded module, and
// nn~ methods must return what they declare. Hostile code is written into the effects
// fixture's source in memory, as in torchscript-hostile.test.ts.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;
const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");
const FIXTURE = join(FIXTURES, "effects.ts");
const GET_ATTRIBUTES = "  def get_attributes(self: __torch__.Effects) -> List[str]:\n";

/** The effects fixture with `methods` (TorchScript source, indented 2) added to its class, then `edit`. */
async function withMethods(methods: string, edit: (source: string) => string = (s) => s): Promise<tb.torchscript.TorchScriptArchive> {
  const archive = await tb.torchscript.readTorchScriptArchive(FIXTURE);
  const path = [...archive.code.keys()].find((p) => p.endsWith("__torch__.py"))!;
  const source = archive.code.get(path)!;
  expect(source).toContain(GET_ATTRIBUTES);
  archive.code.set(path, edit(source.replace(GET_ATTRIBUTES, `${methods}${GET_ATTRIBUTES}`)));
  return archive;
}

const method = (name: string, params: string, body: string[], returns = "int"): string =>
  `  def ${name}(self: __torch__.Effects${params}) -> ${returns}:\n${body.map((l) => `    ${l}\n`).join("")}`;

const HOSTILE = [
  method("grow", ",\n    n: int", ["s = \"abcdefgh\"", "for i in range(n):", "  s = torch.add(s, s)", "return torch.len(s[0:4])"]),
  method("repeat", ",\n    n: int", ["s = torch.mul(\"ab\", n)", "return torch.len(s)"]),
  method("slices", "", ["s = \"abcdefgh\"", "return [s[1:7:2], s[-3:], \"-\".join([s[0:2], s[6:]])]"], "List[str]"),
  method("zeros", ",\n    n: int,\n    size: int", ["l = annotate(List[Tensor], [])", "for i in range(n):", "  _0 = torch.append(l, torch.zeros([size, size]))", "return torch.len(l)"]),
  method("ones", ",\n    n: int,\n    size: int", ["l = annotate(List[Tensor], [])", "for i in range(n):", "  _0 = torch.append(l, torch.ones([size, size]))", "return torch.len(l)"]),
  method("compares", ",\n    n: int,\n    size: int", ["x = torch.zeros([size, size])", "b = x > 0.5", "for i in range(n):", "  b = x > 0.5", "return n"]),
  method("lists", ",\n    n: int", ["l = torch.mul([0], 900000)", "q = [1]", "for i in range(n):", "  q = torch.add(l, [i])", "return torch.len(q)"]),
].join("");

const where = (name: string): RegExp => new RegExp(`\\(in Effects\\.${name}, .*effects\\.ts: code/__torch__\\.py:\\d+\\)`);

function refused(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(tb.BendingError);
    return (err as Error).message;
  }
  throw new Error("the call was not refused");
}

describe("a call into the model's code is bounded", () => {
  it("a string doubled 25 times is refused before it is built; slicing and join still work", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE));
    const heap = process.memoryUsage().heapUsed;
    const message = refused(() => root.invoke("grow", [25]));
    expect(message).toMatch(/string \+ would build a string of 2,097,152 characters \(at most 1,048,576\)/);
    expect(message).toMatch(where("grow"));
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 << 20);
    expect(refused(() => root.invoke("repeat", [1e9]))).toMatch(/string \* would build a string of 2,000,000,000 characters.*Effects\.repeat/);
    // the same module goes on working
    expect(root.invoke("grow", [10])).toBe(4);
    expect(root.invoke("repeat", [3])).toBe(6);
    expect(root.invoke("slices", [])).toEqual(["bdf", "fgh", "ab-gh"]);
    root.dispose();
  });

  it("the doubling loop does not take down a process with a 96 MB heap (it did: slicing copied the string into an array)", () => {
    const script = `
      const tb = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, "..", "dist", "index.js")).href)});
      const archive = await tb.torchscript.readTorchScriptArchive(${JSON.stringify(FIXTURE)});
      const path = [...archive.code.keys()].find((p) => p.endsWith("__torch__.py"));
      archive.code.set(path, archive.code.get(path).replace(${JSON.stringify(GET_ATTRIBUTES)}, ${JSON.stringify(HOSTILE)} + ${JSON.stringify(GET_ATTRIBUTES)}));
      const root = tb.torchscript.moduleFromArchive(archive);
      try { root.invoke("grow", [25]); console.log("built"); } catch (e) { console.log("refused: " + e.message); }
      console.log("next: " + root.invoke("grow", [3]));
    `;
    const child = spawnSync(process.execPath, ["--max-old-space-size=96", "--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env }, timeout: 120_000 });
    expect(child.stderr).not.toMatch(/heap out of memory/);
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/refused: string \+ would build a string/);
    expect(child.stdout).toMatch(/next: 4/);
  });

  it("2,000 x zeros([1024, 1024]) in a list: refused at the byte budget, everything freed, the module works on", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE));
    const before = tf.memory();
    const message = refused(() => root.invoke("zeros", [2000, 1024]));
    expect(message).toMatch(/would take the call past 1,073,741,824 bytes allocated \(the per-call memory budget\)/);
    expect(message).toMatch(where("zeros"));
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(root.invoke("zeros", [10, 1024])).toBe(10);
    const x = tf.ones([1, 2, 8]);
    const y = root.forward(x) as tb.Tensor;
    expect(y.shape).toEqual([1, 2, 8]);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    root.dispose();
  });

  it("comparison operators are charged like any other op: a loop of nothing but x > 0.5 on a 1024 x 1024 tensor is refused at the byte budget", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE));
    const before = tf.memory();
    const message = refused(() => root.invoke("compares", [3000, 1024]));
    expect(message).toMatch(/would take the call past 1,073,741,824 bytes allocated \(the per-call memory budget\)/);
    expect(message).toMatch(where("compares"));
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(root.invoke("compares", [3, 64])).toBe(3);
    root.dispose();
  });

  it("400 x ones([4096, 4096]) is refused before the memory is taken (64 MB each)", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE));
    const before = tf.memory();
    expect(refused(() => root.invoke("ones", [400, 4096]))).toMatch(/ones\(\) \(a tensor of shape \[4096, 4096\]\) would take the call past 1,073,741,824 bytes.*Effects\.ones/);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(root.invoke("ones", [2, 4096])).toBe(2);
    root.dispose();
  });

  it("a huge list: one too long is refused by length, many copies by the byte budget", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE));
    expect(refused(() => root.invoke("lists", [400]))).toMatch(/list \+ \(a list of 900,001 elements\) would take the call past 1,073,741,824 bytes.*Effects\.lists/);
    expect(root.invoke("lists", [3])).toBe(900_001);
    root.dispose();
    const long = tb.torchscript.moduleFromArchive(await withMethods(method("longer", "", ["l = torch.mul([0], 900000)", "return torch.len(torch.add(l, l))"])));
    expect(refused(() => long.invoke("longer", []))).toMatch(/list \+ would build a list of 1800000 elements \(at most 1,000,000\).*Effects\.longer/);
    long.dispose();
    // a list holding the same long list a million times: neither a tensor nor its text is built
    const nested = tb.torchscript.moduleFromArchive(await withMethods(
      method("nested", ",\n    as_text: bool", ["l = torch.mul([0], 1000000)", "big = torch.mul([l], 1000000)", "if as_text:", "  return torch.len(str(big))", "return torch.numel(torch.tensor(big))"])));
    const heap = process.memoryUsage().heapUsed;
    expect(refused(() => nested.invoke("nested", [false]))).toMatch(/tensor\(\) \(a tensor of shape \[1000000, 1000000\]\) would take the call past/);
    expect(refused(() => nested.invoke("nested", [true]))).toMatch(/str\(\) would build a string of 1,048,579 characters \(at most 1,048,576\)/);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(128 << 20);
    nested.dispose();
  });

  it("smaller limits can be given at load", async () => {
    const root = tb.torchscript.moduleFromArchive(await withMethods(HOSTILE), { limits: { bytes: 16 << 20, stringLength: 100 } });
    expect(refused(() => root.invoke("grow", [5]))).toMatch(/a string of 128 characters \(at most 100\)/);
    expect(refused(() => root.invoke("zeros", [5, 1024]))).toMatch(/past 16,777,216 bytes/);
    expect(root.invoke("zeros", [3, 1024])).toBe(3);
    root.dispose();
  });

  it("the test fixtures, nn~ methods at 32,768-sample blocks, stay inside the default limits", async () => {
    const limits = tb.torchscript.CALL_LIMITS;
    for (const name of ["conv24", "effects", "ops_zoo", "rave_like", "rave_v1_like"]) {
      const root = await tb.torchscript.loadTorchScript(join(FIXTURES, `${name}.ts`));
      const bended = new tb.BendedModule(root);
      for (const m of root.methods) {
        const x = tf.zeros([1, m.inChannels, Math.max(1, Math.floor(32768 / m.inRatio))]);
        bended.trace(m.name, [x]);
        tf.dispose(bended.call(m.name, x) as tb.Tensor);
        x.dispose();
      }
      const peak = root.callPeak;
      expect(peak.bytes, name).toBeGreaterThan(0);
      expect(peak.bytes, name).toBeLessThan(limits.bytes * 0.8);
      expect(peak.steps, name).toBeLessThan(limits.steps / 1000);
      bended.dispose();
      root.dispose();
    }
  });
});

describe("names JavaScript protocols read never reach a loaded module", () => {
  const PROTOCOL = ["then", "toJSON", "constructor", "valueOf", "toString", "inspect", "asymmetricMatch", "catch"];
  const methods = PROTOCOL.map((n) => method(n, ",\n    x: int", ["return torch.add(x, 1)"])).join("");

  it("await of the module and of the load result resolves; the methods run from the model's code and by name", async () => {
    // get_attributes runs at load and calls them from the model's own code
    const archive = await withMethods(methods, (s) => s.replace(`${GET_ATTRIBUTES}    return self._attributes`,
      `${GET_ATTRIBUTES}    n = self.then(self.toJSON(self.constructor(1)))\n    return self._attributes`));
    const loaded = await (async () => tb.torchscript.moduleFromArchive(archive))();
    expect(loaded).toBeInstanceOf(tb.torchscript.TorchScriptRoot);
    const root = await loaded;
    expect(root).toBe(loaded);
    expect(await Promise.resolve(root)).toBe(root);
    const bended = await Promise.resolve(new tb.BendedModule(root));
    expect(bended.module).toBe(root);
    for (const name of PROTOCOL) {
      expect(Object.hasOwn(root, name)).toBe(false);
      expect(root.invoke(name, [41])).toBe(42);
      expect(bended.call(name, 41)).toBe(42);
    }
    expect(root.constructor).toBe(tb.torchscript.TorchScriptRoot);
    expect(String(root)).toContain("Effects");
    expect(() => JSON.stringify({ methods: root.methods })).not.toThrow();
    root.dispose();
  });

  it("an nn~ method or attribute exposed under such a name is refused at load", async () => {
    for (const [getter, what] of [["get_methods", "nn~ method"], ["get_attributes", "nn~ attribute"]] as const) {
      const archive = await withMethods(methods, (s) => s.replace(new RegExp(`(  def ${getter}\\(self: __torch__\\.Effects\\) -> List\\[str\\]:\\n)    return self\\._\\w+\\n`),
        "$1    return [\"then\"]\n"));
      const message = refused(() => tb.torchscript.moduleFromArchive(archive));
      expect(message).toMatch(new RegExp(`effects\\.ts: ${what} 'then' has a name JavaScript reads on every object`));
    }
    const odd = await withMethods("", (s) => s.replace("  def get_methods(self: __torch__.Effects) -> List[str]:\n    return self._methods\n",
      "  def get_methods(self: __torch__.Effects) -> List[str]:\n    return [\"__proto__\", \"a b\"]\n"));
    expect(refused(() => tb.torchscript.moduleFromArchive(odd))).toMatch(/nn~ method '__proto__' has a name JavaScript reads/);
  });
});

describe("an nn~ method must return what it declares", () => {
  const cases: [string, string, RegExp][] = [
    ["zero channels", "return torch.slice(torch.add(left, right), 1, 0, 0)", /nn~ method 'add' returned 0 channels \(shape \[1, 0, 8\]\); add_params declares 1/],
    ["the wrong rank", "return torch.squeeze(torch.add(left, right), 1)", /nn~ method 'add' returned a tensor of shape \[1, 8\]; nn~ methods return \[batch, 1, frames\]/],
    ["the wrong dtype", "return torch.gt(torch.add(left, right), 0)", /nn~ method 'add' returned a bool tensor; a stream needs float32 samples/],
    ["a list", "return [left, right]", /nn~ method 'add' returned a list, not a tensor/],
  ];
  for (const [label, body, error] of cases) {
    it(`${label}: an error where the method is traced (the session traces the streamed method at load)`, async () => {
      const archive = await withMethods("", (s) => s.replace("    return torch.add(left, right)\n", `    ${body}\n`));
      const root = tb.torchscript.moduleFromArchive(archive);
      const bended = new tb.BendedModule(root);
      const before = tf.memory().numTensors;
      const x = tf.ones([1, 2, 8]);
      expect(() => bended.trace("add", [x])).toThrow(error);
      expect(() => bended.call("add", x)).toThrow(error);
      x.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // the other methods are untouched
      const y = tf.ones([1, 2, 8]);
      bended.trace("forward", [y]);
      tf.dispose([y, bended.forward(y)]);
      bended.dispose();
      root.dispose();
    });
  }

  it("a method declaring zero output channels is refused at load", async () => {
    const archive = await tb.torchscript.readTorchScriptArchive(FIXTURE);
    const params = archive.root.attributes.get("add_params") as tb.torchscript.StoredTensor;
    const values = Array.from(params.data as ArrayLike<number | bigint>, Number);
    values[2] = 0;
    params.data = params.data instanceof BigInt64Array ? BigInt64Array.from(values.map(BigInt)) : Int32Array.from(values);
    expect(refused(() => tb.torchscript.moduleFromArchive(archive))).toMatch(/effects\.ts: nn~ method 'add' declares outChannels = 0 in add_params/);
  });
});

describe("limits on what a client grows inside a model", () => {
  function model(): tb.BendedModule {
    return new tb.BendedModule(new tb.nn.Linear(4, 4));
  }

  it("at most BENDING_LIMITS.bendingsPerModel bendings; the next is refused and nothing changes", () => {
    const bended = model();
    const max = tb.BENDING_LIMITS.bendingsPerModel;
    for (let i = 0; i < max; i++) bended.bend(new tb.Bias(i), "weight");
    const x = tf.ones([1, 4]);
    const y = bended.forward(x);
    expect(() => bended.bend(new tb.Bias(-1), "weight")).toThrow(new RegExp(`this model has ${max} bendings, the most one model takes`));
    expect(bended.bendingConfig().entries.length).toBe(max);
    const z = bended.forward(x);
    expect(Array.from(z.dataSync())).toEqual(Array.from(y.dataSync()));
    tf.dispose([x, y, z]);
    bended.dispose();
  });

  it("at most BENDING_LIMITS.controlsPerModel controls (they outlive their bendings)", () => {
    const bended = model();
    const max = tb.BENDING_LIMITS.controlsPerModel;
    for (let i = 0; i < max; i++) {
      bended.bend(new tb.Scale(new tb.BendingParameter(`c${i}`, 1)), "weight");
      if (i % 100 === 99) bended.reset();
    }
    bended.reset();
    expect(bended.controls().length).toBe(max);
    expect(() => bended.bend(new tb.Scale(new tb.BendingParameter("one_more", 1)), "weight")).toThrow(/this model has 256 controls, and Scale\(scale=one_more\(1\.000\)\) would add 1: at most 256 controls per model/);
    expect(bended.controls().length).toBe(max);
    expect(bended.bendingConfig().entries.length).toBe(0);
    // an existing control can still be bound
    bended.bend(new tb.Scale(bended.controlFor("c0", 1, {})), "weight");
    bended.dispose();
  });

  it("an identical bend on the same targets is refused, naming the bending in place", () => {
    const bended = model();
    bended.bend(new tb.Scale(2), "weight");
    expect(() => bended.bend(new tb.Scale(2), "weight")).toThrow(/Scale\(scale=2\.000\) is already bent on weight \(bending 1: Scale\(scale=2\.000\) on weight\)/);
    expect(bended.bendingConfig().entries.length).toBe(1);
    // another argument, other targets, or another seed are other bendings
    bended.bend(new tb.Scale(3), "weight");
    bended.bend(new tb.Scale(2), "bias");
    bended.bend(new tb.Mask(0.5, { seed: 1 }), "weight");
    bended.bend(new tb.Mask(0.5, { seed: 2 }), "weight");
    expect(() => bended.bend(new tb.Mask(0.5, { seed: 1 }), "weight")).toThrow(/already bent/);
    const lambda = new tb.Lambda((x) => x.mul(2));
    bended.bend(lambda, "weight");
    bended.bend(new tb.Lambda((x) => x.mul(2)), "weight");
    expect(() => bended.bend(lambda, "weight")).toThrow(/already bent/);
    expect(bended.bendingConfig().entries.length).toBe(7);
    bended.dispose();
  });
});
