// Loading is a transaction: a new model is read, traced and run for one block off to the
// side while the old one keeps streaming. A model whose method raises, runs past the step
// budget or outputs zero channels answers an error and the old model plays on, bendings
// and all; a good model loaded mid-stream takes over without stopping the stream.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { editedTorchScript } from "./torchscript-edit.js";

const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");
const RAVE = join(FIXTURES, "rave_like.ts");
const CHANNEL_CHECK = "if torch.ne((torch.size(z))[1], 3):";
const DECODE_START = '    _0 = "decode: wrong number of latent channels"\n';
const INVERSE_END = "    _10 = torch.reshape(y0, [(torch.size(y0))[0], 1, -1])\n";

let root: string;
let session: tb.control.Session;
const run = (line: string) => session.execute(tb.control.parseLine(line));

/** Resolves when `n` more blocks have been streamed, with the last one. */
function nextBlocks(n: number): Promise<tb.control.OutputBlock> {
  return new Promise((resolve) => {
    let seen = 0;
    const off = session.onBlock((block) => {
      if (++seen < n) return;
      off();
      resolve(block);
    });
  });
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "tfbend-load-tx-"));
  const workspace = join(root, "workspace");
  mkdirSync(workspace);
  copyFileSync(RAVE, join(workspace, "rave_like.ts"));
  copyFileSync(join(FIXTURES, "rave_v1_like.ts"), join(workspace, "rave_v1_like.ts"));
  writeFileSync(join(workspace, "raises.ts"), editedTorchScript(RAVE, (s) => s.replace(CHANNEL_CHECK, "if torch.ne((torch.size(z))[1], 0):")));
  writeFileSync(join(workspace, "loops.ts"), editedTorchScript(RAVE, (s) => s.replace(DECODE_START, `${DECODE_START}    i = 0\n    while True:\n      i = i + 1\n`)));
  writeFileSync(join(workspace, "silent.ts"), editedTorchScript(RAVE, (s) => s.replace(INVERSE_END, `${INVERSE_END}    _10 = torch.narrow(_10, 1, 0, 0)\n`)));
  session = new tb.control.Session({ workspace, modelsDir: join(root, "models"), safety: false });
});

afterAll(() => {
  session.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe("loading is a transaction", () => {
  it("a model that raises, loops or outputs zero channels is refused while the old one streams on", async () => {
    expect((await run("load rave_like.ts")).ok).toBe(true);
    expect((await run("method decode")).ok).toBe(true);
    const bended = session.requireModel();
    const bend = await run("bend decoder.* mask prob 0.3");
    expect(bend.ok, String(bend.values)).toBe(true);
    expect((await run("write half")).ok).toBe(true);
    expect((await run("stream start")).ok).toBe(true);
    await nextBlocks(2);
    const before = { ...session.status() };
    const bendings = JSON.stringify(bended.bendingConfig());
    for (const [file, why] of [["raises.ts", /wrong number of latent channels/], ["loops.ts", /loop iterations/], ["silent.ts", /(zero|0) channels/]] as const) {
      const reply = await run(`load ${file}`);
      expect(reply.ok, file).toBe(false);
      expect(String(reply.values[0]), file).toMatch(why);
      expect(session.status(), file).toMatchObject({ model: "rave_like.ts", method: "decode", streaming: 1, version: before.version, versions: before.versions });
      expect(session.requireModel()).toBe(bended);
      expect(JSON.stringify(bended.bendingConfig()), file).toBe(bendings);
      const block = await nextBlocks(2);
      expect(block.channels).toBe(1);
      expect(block.frames).toBe(session.blockSamples);
      expect(block.data.some((v) => v !== 0)).toBe(true);
    }
    expect(session.status().blocks).toBeGreaterThan(Number(before.blocks));
  });

  it("a good model loaded mid-stream takes over without stopping the stream", async () => {
    expect(session.streaming).toBe(true);
    const tensors = tb.tf.memory().numTensors;
    const reply = await run("load rave_v1_like.ts");
    expect(reply.ok, String(reply.values)).toBe(true);
    expect(session.status()).toMatchObject({ model: "rave_v1_like.ts", streaming: 1 });
    expect((await run("method decode")).ok).toBe(true);
    const block = await nextBlocks(3);
    expect(session.status()).toMatchObject({ model: "rave_v1_like.ts", streaming: 1 });
    expect(block.frames).toBe(session.blockSamples);
    expect(block.data.every(Number.isFinite)).toBe(true);
    // and back: the old model's tensors were freed, not leaked
    expect((await run("load rave_like.ts")).ok).toBe(true);
    expect((await run("method decode")).ok).toBe(true);
    await nextBlocks(2);
    expect(session.streaming).toBe(true);
    expect(tb.tf.memory().numTensors).toBeLessThanOrEqual(tensors);
  });
});
