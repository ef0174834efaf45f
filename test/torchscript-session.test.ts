// nn~ TorchScript files in the plugin's Session: listed by `models`, loaded from the
// workspace, their methods streamed (decode from `input` latents), attributes through
// set/get, `reset state`; a bad file answers an error and the session keeps serving.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");
let session: tb.control.Session;
let outside: string;
const run = (line: string) => session.execute(tb.control.parseLine(line));

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), "tfbend-ts-session-"));
  const workspace = join(root, "workspace");
  mkdirSync(workspace);
  copyFileSync(join(FIXTURES, "rave_like.ts"), join(workspace, "rave_like.ts"));
  copyFileSync(join(FIXTURES, "layout_truncated_storage.ts"), join(workspace, "truncated.ts"));
  writeFileSync(join(workspace, "garbage.ts"), "PK\u0003\u0004 this is not a zip");
  outside = join(root, "outside.ts");
  copyFileSync(join(FIXTURES, "effects.ts"), outside);
  session = new tb.control.Session({ workspace, modelsDir: join(root, "models"), safety: false });
});

describe("TorchScript models in the session", () => {
  it("lists and loads workspace .ts files; decode streams from input latents", async () => {
    expect((await run("models")).values).toEqual(expect.arrayContaining(["rave_like.ts", "truncated.ts", "garbage.ts"]));
    const loaded = await run("load rave_like.ts");
    expect(loaded.ok, String(loaded.values)).toBe(true);
    expect((await run("method decode")).ok).toBe(true);
    expect(session.status()).toMatchObject({ method: "decode", in_ratio: 16, out_ratio: 1 });
    expect((await run("input 0.5 -0.25 1")).ok).toBe(true);
    const a = await session.renderBlock();
    const b = await session.renderBlock();
    expect(a.frames).toBe(session.blockSamples);
    expect(a.data.every(Number.isFinite)).toBe(true);
    expect(a.data.some((v) => v !== 0)).toBe(true);
    expect(b.data.some((v, i) => v !== a.data[i])).toBe(true);
    const before = tb.tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await session.renderBlock();
    expect(tb.tf.memory().numTensors).toBe(before);
  });

  it("reaches nn~ attributes with set/get and resets the streaming state", async () => {
    expect((await run("get temperature")).values).toEqual(["temperature", 1]);
    expect((await run("set temperature 0.5")).values).toEqual(["temperature", 0.5]);
    expect((await run("get temperature")).values).toEqual(["temperature", 0.5]);
    expect((await run("set temperature -1")).ok).toBe(false);
    expect((await run("get temperature")).values).toEqual(["temperature", 0.5]);
    expect((await run("reset state")).ok).toBe(true);
    const model = session.requireModel().module as tb.torchscript.TorchScriptRoot;
    const cache = model.namedBuffers().find(([n]) => n === "decoder.up.0.cache")![1] as tb.torchscript.StateBuffer;
    expect(cache.data).toBe(cache.initial);
  });

  it("answers an error for a bad file or a path outside the workspace, and keeps serving", async () => {
    for (const bad of ["load truncated.ts", "load garbage.ts", `load ${outside}`, "load nosuch.ts"]) {
      const reply = await run(bad);
      expect(reply.ok, bad).toBe(false);
      expect(String(reply.values[0]).length, bad).toBeGreaterThan(10);
    }
    expect((await run("status")).ok).toBe(true);
    expect(session.status()).toMatchObject({ method: "decode" });
    const block = await session.renderBlock();
    expect(block.data.every(Number.isFinite)).toBe(true);
  });

  it("export <file.ts> writes the model back as TorchScript into the workspace, weights as they play; it loads again", async () => {
    expect((await run("load rave_like.ts")).ok).toBe(true);
    const weight = (await run("weights")).values[0] as string;
    expect((await run(`bend ${weight.replace(/\./g, "\\.")} scale scale 0.5`)).ok).toBe(true);
    const exported = await run("export bent/rave_bent.ts");
    expect(exported.ok, String(exported.values)).toBe(true);
    expect(exported.values.slice(1)).toEqual([weight]);
    expect(await run("export ../escape.ts")).toMatchObject({ ok: false });
    expect(await run("export bent.wav")).toMatchObject({ ok: false, values: [expect.stringMatching(/export <name>\.ts/)] });
    expect((await run("load bent/rave_bent.ts")).ok).toBe(true);
    expect((await run("bendings")).values).toEqual([]);
  });
});
