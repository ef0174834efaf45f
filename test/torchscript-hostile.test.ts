// Hostile TorchScript files: code that loops forever, allocates without bound, recurses or
// names its methods like tfbend members is refused with a BendingError naming the method and
// the source line, and the process (and the next load) carries on. The hostile code is
// written into the effects fixture's source in memory.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { zipOf } from "./torchscript-edit.js";

const { tf } = tb;
const FIXTURE = join(import.meta.dirname, "fixtures", "torchscript", "effects.ts");
const GET_ATTRIBUTES = "  def get_attributes(self: __torch__.Effects) -> List[str]:\n    return self._attributes\n";

/** The effects fixture with `get_attributes` (run at load) replaced by `body` (indented 4). */
async function withGetAttributes(body: string): Promise<tb.torchscript.TorchScriptArchive> {
  return withSource((s) => s.replace(GET_ATTRIBUTES, `  def get_attributes(self: __torch__.Effects) -> List[str]:\n${body}    return self._attributes\n`));
}

async function withSource(edit: (source: string) => string): Promise<tb.torchscript.TorchScriptArchive> {
  const archive = await tb.torchscript.readTorchScriptArchive(FIXTURE);
  const path = [...archive.code.keys()].find((p) => p.endsWith("__torch__.py"))!;
  const source = archive.code.get(path)!;
  expect(source).toContain(GET_ATTRIBUTES);
  archive.code.set(path, edit(source));
  return archive;
}

function loadError(archive: tb.torchscript.TorchScriptArchive): string {
  try {
    tb.torchscript.moduleFromArchive(archive).dispose();
  } catch (err) {
    expect(err).toBeInstanceOf(tb.BendingError);
    return (err as Error).message;
  }
  throw new Error("the model loaded");
}

const LOCATION = /\(in Effects\.get_attributes, .*effects\.ts: code\/__torch__\.py:\d+\)/;

describe("interpreted code is bounded", () => {
  it("range() of 300 million refuses to build the list", async () => {
    const message = loadError(await withGetAttributes("    r = range(300000000)\n"));
    expect(message).toMatch(/range\(\) would build a list of 300000000 elements/);
    expect(message).toMatch(LOCATION);
  });

  it("list * n and list + list are bounded too", async () => {
    expect(loadError(await withGetAttributes("    r = [1, 2] * 100000000\n"))).toMatch(/list \* would build a list of 200000000/);
    const doubling = "    r = [1]\n    for i in range(40):\n      r = r + r\n";
    expect(loadError(await withGetAttributes(doubling))).toMatch(/list \+ would build a list of 1048576 elements.*get_attributes/);
  });

  it("while True ends in a BendingError naming the method and line", async () => {
    const started = performance.now();
    const message = loadError(await withGetAttributes("    i = 0\n    while True:\n      i = i + 1\n"));
    expect(message).toMatch(/more than 1,000,000 loop iterations/);
    expect(message).toMatch(LOCATION);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("for i in range(10**9) ends too (the step budget is per top-level call)", async () => {
    const archive = await withGetAttributes("    n = 0\n    for i in range(1000000000):\n      n = n + 1\n");
    expect(loadError(archive)).toMatch(/loop iterations.*get_attributes/);
    // 400,000 iterations per call is within budget, call after call (1.2 million in all)
    const ok = await withGetAttributes("    n = 0\n    for i in range(400000):\n      n = n + 1\n");
    const root = tb.torchscript.moduleFromArchive(ok);
    const names = root.attributes.map((a) => a.name);
    expect(names.length).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) expect(root.invoke("get_attributes", [])).toEqual(names);
    root.dispose();
  });

  it("endless recursion is refused before the JS stack overflows", async () => {
    const message = loadError(await withSource((s) => s.replace(GET_ATTRIBUTES, "  def get_attributes(self: __torch__.Effects) -> List[str]:\n    return self.get_attributes()\n")));
    expect(message).toMatch(/get_attributes\(\) nests more than 200 calls deep/);
  });
});

describe("script methods cannot take over tfbend members", () => {
  const NAMES = ["resetState", "invoke", "getAttribute", "dispose", "hasOwnProperty", "toString", "__proto__", "methods"];

  it("loads, keeps the tfbend API, and still runs the methods from the model's code", async () => {
    const extra = NAMES.map((n) => `  def ${n}(self: __torch__.Effects,\n    x: int) -> int:\n    return torch.add(x, 1)\n`).join("");
    const archive = await withSource((s) => s.replace(GET_ATTRIBUTES, `${extra}  def get_attributes(self: __torch__.Effects) -> List[str]:\n    n = self.resetState(1)\n    m = self.hasOwnProperty(n)\n    return self._attributes\n`));
    const root = tb.torchscript.moduleFromArchive(archive);
    const proto = tb.torchscript.TorchScriptRoot.prototype as unknown as Record<string, unknown>;
    for (const name of ["resetState", "invoke", "getAttribute", "dispose", "toString"]) {
      expect((root as unknown as Record<string, unknown>)[name]).toBe(proto[name]);
    }
    expect(Object.getPrototypeOf(root)).toBe(tb.torchscript.TorchScriptRoot.prototype);
    expect(Object.hasOwn(root, "hasOwnProperty")).toBe(false);
    expect(Array.isArray(root.methods)).toBe(true);
    const plain = tb.torchscript.moduleFromArchive(await tb.torchscript.readTorchScriptArchive(FIXTURE));
    expect(root.attributes).toEqual(plain.attributes);
    expect(root.methods).toEqual(plain.methods);
    plain.dispose();
    expect(root.invoke("resetState", [41])).toBe(42);
    root.resetState();
    const x = tf.ones([1, 2, 8]);
    const y = root.forward(x) as tb.Tensor;
    expect(y.shape).toEqual([1, 2, 8]);
    tf.dispose([x, y]);
    root.dispose();
  });
});


const scratch = mkdtempSync(join(tmpdir(), "tfbend-ts-hostile-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function archiveError(name: string, bytes: Buffer): Promise<string> {
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  try {
    await tb.torchscript.readTorchScriptArchive(path);
  } catch (err) {
    expect(err).toBeInstanceOf(tb.BendingError);
    expect((err as Error).message).toContain(path);
    return (err as Error).message;
  }
  throw new Error(`${name} was read`);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A pickle string (BINUNICODE). */
const pickleString = (s: string): Buffer => {
  const b = Buffer.from(s);
  const n = Buffer.alloc(4);
  n.writeUInt32LE(b.length);
  return Buffer.concat([Buffer.from("X"), n, b]);
};

describe("an archive may allocate only what its size allows", () => {
  it("an int64 tensor of 2^27 elements expanded (stride 0) from one element", async () => {
    const numel = Buffer.alloc(4);
    numel.writeInt32LE(1 << 27);
    // _rebuild_tensor_v2(('storage', torch.LongStorage, '0', 'cpu', 1), 0, (2^27,), (0,), False, None)
    const pickle = Buffer.concat([Buffer.from("\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((", "latin1"), pickleString("storage"),
      Buffer.from("ctorch\nLongStorage\n"), pickleString("0"), pickleString("cpu"), Buffer.from("K\x01tQK\x00(J", "latin1"), numel,
      Buffer.from("t(K\x00t\x89NtR.", "latin1")]);
    const message = await archiveError("expand.ts", zipOf([
      { name: "m/version", data: text("3\n") },
      { name: "m/data.pkl", data: pickle },
      { name: "m/data/0", data: new Uint8Array(8) },
      { name: "m/code/__torch__.py", data: text("") },
    ]));
    expect(message).toMatch(/m\/data\/0: a tensor of shape \[134217728\] expanded from 1 elements \(1073741824 bytes\)/);
  });

  it("a deflate bomb in a text entry (version; code/ files share the same 16 MB cap)", async () => {
    const message = await archiveError("bomb.ts", zipOf([{ name: "m/version", data: new Uint8Array(20 << 20).fill(32), deflate: true }]));
    expect(message).toMatch(/m\/version: holds 20971520 bytes \(at most 16777216 here\)/);
  });

  it("a pickle opening marks without end", async () => {
    const message = await archiveError("marks.ts", zipOf([
      { name: "m/version", data: text("3\n") },
      { name: "m/data.pkl", data: Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(200_000, "(")]), deflate: true },
    ]));
    expect(message).toMatch(/m\/data\.pkl: the pickle nests more than 1000 marks/);
  });

  it("more than 50,000 zip entries, refused before any is read", async () => {
    const message = await archiveError("many.ts", zipOf([{ name: "m/version", data: text("3\n") }], 65_535));
    expect(message).toMatch(/the archive has 65535 entries \(at most 50000\)/);
  });
});

describe("deep nesting is refused before the JS stack overflows", () => {
  const parse = (source: string) => () => tb.torchscript.parseSource(source, "code/__torch__/deep.py");

  it("20,000 nested parentheses or unary minus, 3,000 nested ifs: a parse error naming file and line", () => {
    expect(parse(`def f(x):\n  return ${"(".repeat(20_000)}1${")".repeat(20_000)}\n`)).toThrow(/deep\.py:2: the code nests more than 200 levels deep/);
    expect(parse(`def f(x):\n  return ${"-".repeat(20_000)}1\n`)).toThrow(/deep\.py:2: the code nests more than 200 levels deep/);
    const ifs = Array.from({ length: 3000 }, (_, i) => `${"  ".repeat(i + 1)}if x:\n`).join("");
    expect(parse(`def f(x):\n${ifs}${"  ".repeat(3001)}pass\n`)).toThrow(/deep\.py:\d+: the code nests more than 200 levels deep/);
    // ordinary nesting still parses
    expect(() => parse(`def f(x):\n  return ${"(".repeat(50)}-x${")".repeat(50)}\n`)()).not.toThrow();
  });

  it("a pickled list that contains itself, or nests 200,000 deep: an error naming the file's entry", async () => {
    const cyclic = await tb.torchscript.readTorchScriptArchive(FIXTURE);
    const self: tb.torchscript.ScriptValue[] = [];
    self.push(self);
    cyclic.constants.push(self);
    expect(() => tb.torchscript.moduleFromArchive(cyclic)).toThrow(/effects\.ts: constants\.pkl: a list, tuple or dict contains itself/);
    const deep = await tb.torchscript.readTorchScriptArchive(FIXTURE);
    let nested: tb.torchscript.ScriptValue[] = [];
    for (let i = 0; i < 200_000; i++) nested = [nested];
    deep.constants.push(nested);
    expect(() => tb.torchscript.moduleFromArchive(deep)).toThrow(/constants\.pkl: lists, tuples or dicts nested more than 100 deep/);
  });
});
