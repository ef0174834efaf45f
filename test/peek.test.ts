// `peek` on an interpreted TorchScript model (a RAVE-like export): every activation of
// every method reads back as numbers, original and bended, and peeks leak no tensors.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import type { PeekItem } from "../src/protocol/index.js";
import { makeModelsDir } from "./session-fixture.js";

const RAVE_LIKE = join(import.meta.dirname, "fixtures/torchscript/rave_like.ts");

describe("peek on interpreted TorchScript", () => {
  let session: tb.control.Session;

  beforeAll(async () => {
    const dirs = await makeModelsDir();
    mkdirSync(dirs.workspace, { recursive: true });
    copyFileSync(RAVE_LIKE, join(dirs.workspace, "rave_like.ts"));
    session = new tb.control.Session(dirs);
    expect((await session.execute(["load", "rave_like.ts"])).ok).toBe(true);
  });
  afterAll(() => session.dispose());

  for (const method of ["decode", "encode", "forward"]) {
    it(`reads every activation of ${method}`, async () => {
      expect((await session.execute(["method", method])).ok).toBe(true);
      const activations = (await session.execute(["activations"])).dict as { name: string; shape: string }[];
      // a node that outputs a list (split, chunk) is read through its items, a complex one
      // (view_as_complex) through the real tensors around it: peek says so
      const graph = session.requireModel().graph(method);
      const complex = new Set(graph.nodes.filter((n) => /complex|fft_rfft|fft_fft/.test(n.target)).map((n) => n.name));
      const lists = activations.filter((a) => a.shape.startsWith("(") || complex.has(a.name));
      const names = activations.filter((a) => !lists.includes(a)).map((a) => a.name);
      expect(names.length).toBeGreaterThan(10);
      const before = tb.tf.memory().numTensors;
      for (const list of lists) {
        const reply = await session.execute(["peek", list.name]);
        expect(reply.ok).toBe(false);
        expect(String(reply.values[0])).toMatch(/is a list of|a complex value/);
      }
      for (let i = 0; i < names.length; i += 8) {
        const batch = names.slice(i, i + 8);
        const reply = await session.execute(["peek", ...batch]);
        expect(reply.ok, `${batch.join(" ")}: ${reply.values.join(" ")}`).toBe(true);
        const items = (reply.dict as { items: PeekItem[] }).items;
        expect(items.map((x) => x.name)).toEqual(batch);
        for (const item of items) {
          expect(item.original.data.every(Number.isFinite), item.name).toBe(true);
          expect(item.bended.data.length, item.name).toBe(item.original.data.length);
        }
      }
      expect(tb.tf.memory().numTensors).toBe(before);
    });
  }

  it("reads a streamed block's own pass while streaming: no extra model run", async () => {
    await session.execute(["method", "decode"]);
    const names = (await session.execute(["activations"])).values as string[];
    const target = names.find((n) => n.startsWith("decoder_net")) ?? names[names.length - 2];
    await session.execute(["bend", target, "Scale", "scale", 0]);
    const model = session.requireModel();
    let passes = 0;
    const call = model.call.bind(model);
    const capturing = model.callCapturing.bind(model);
    model.call = (fn: string, ...args: unknown[]) => {
      passes++;
      return call(fn, ...args);
    };
    model.callCapturing = (fn: string, args: unknown[], wanted: string[]) => {
      passes++;
      return capturing(fn, args, wanted);
    };
    let blocks = 0;
    const off = session.onBlock(() => blocks++);
    await session.execute(["stream", "start"]);
    try {
      let before = 0;
      for (let i = 0; i < 4; i++) {
        if (i === 1) before = tb.tf.memory().numTensors; // the stream's state is made by its first blocks
        const reply = await session.execute(["peek", target]);
        expect(reply.ok, String(reply.values[0])).toBe(true);
        const dict = reply.dict as { source: string; items: PeekItem[] };
        expect(dict.source).toBe("stream");
        expect(dict.items[0].original.data.some((v) => v !== 0)).toBe(true);
        expect(dict.items[0].bended.data.every((v) => v === 0)).toBe(true);
      }
      expect(passes).toBe(blocks); // one pass per streamed block, none for the peeks
      expect(tb.tf.memory().numTensors).toBe(before);
    } finally {
      off();
      await session.execute(["stream", "stop"]);
      model.call = call;
      model.callCapturing = capturing;
      await session.execute(["reset"]);
    }
  });

  it("shows a bending in the bended view and not in the original", async () => {
    await session.execute(["method", "decode"]);
    const names = (await session.execute(["activations"])).values as string[];
    const target = names.find((n) => n.startsWith("decoder_net") && !n.includes("slice")) ?? names[names.length - 2];
    expect((await session.execute(["bend", target, "Scale", "scale", 0])).ok).toBe(true);
    const item = ((await session.execute(["peek", target])).dict as { items: PeekItem[] }).items[0];
    expect(item.original.data.some((v) => v !== 0)).toBe(true);
    expect(item.bended.data.every((v) => v === 0)).toBe(true);
    await session.execute(["reset"]);
  });
});
