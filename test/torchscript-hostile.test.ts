// Hostile TorchScript files: code that loops forever, allocates without bound, recurses or
// names its methods like tfbend members is refused with a BendingError naming the method and
// the source line, and the process (and the next load) carries on. The hostile code is
// written into the effects fixture's source in memory.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

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
