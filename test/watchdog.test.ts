// The inference thread's watchdog: a thread that stops answering while it streams (a
// method that hangs; here a stand-in thread kept busy) is ended and started again with
// the same model, its method, bendings and control values put back and the stream
// running, and every client hears that it happened.
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";
import { testThreads } from "./helpers.js";

let engine: tb.control.Engine;
let root = "";
afterAll(async () => {
  await engine?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

const nextBlock = () => new Promise<tb.control.OutputBlock>((resolve) => {
  const off = engine.onBlock((block) => {
    off();
    resolve(block);
  });
});

describe("the inference thread's watchdog", () => {
  it("restarts a thread that hangs while streaming, with the model's bendings, controls and stream put back", async () => {
    const dirs = await makeModelsDir();
    root = dirname(dirs.modelsDir);
    mkdirSync(dirs.workspace, { recursive: true });
    const threads = testThreads();
    engine = await tb.control.Engine.start({ ...dirs, model: "audio", watchdogMs: 800 }, threads.start);
    expect((await engine.execute(["bend", "net_2_conv", "mask", "prob", "@gate=0.5", "dim", -2])).ok).toBe(true);
    expect((await engine.execute(["set", "gate", 0.25])).ok).toBe(true);
    expect((await engine.execute(["stream", "start"])).ok).toBe(true);
    await nextBlock();
    const bendings = (await engine.execute(["bendings"])).values;
    const restarted = new Promise<tb.control.Reply>((resolve) => {
      const off = engine.onChange((reply) => {
        if (reply.command !== "engine") return;
        off();
        resolve(reply);
      });
    });
    threads.busy(60_000); // a block that never finishes
    const event = await restarted;
    expect(event.ok).toBe(false);
    expect(String(event.values[0])).toMatch(/did not answer for \d+ ms.*model audio restored.*streaming/);
    expect(engine.restarts).toBe(1);
    await nextBlock();
    expect(engine.status()).toMatchObject({ model: "audio", streaming: 1 });
    expect((await engine.execute(["bendings"])).values).toEqual(bendings);
    expect((await engine.execute(["controls"])).values).toEqual(expect.arrayContaining(["gate", 0.25]));
  }, 30_000);
});
