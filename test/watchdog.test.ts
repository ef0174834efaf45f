// The inference thread's watchdog: a thread that stops answering while it streams (a
// method that hangs; here a stand-in thread kept busy) is ended and started again with
// the same model, its method, bendings and control values put back and the stream
// running, and every client hears that it happened.
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";
import { testThreads } from "./helpers.js";

let engine: tb.control.Engine;
let root = "";
let workspace = "";
/** The test's inference threads (the second test hangs the one the first restarted). */
let testThreadsOf: ReturnType<typeof testThreads>;
afterAll(async () => {
  await engine?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Resolves with the next `engine` event (a restart). */
const nextEngineEvent = () => new Promise<tb.control.Reply>((resolve) => {
  const off = engine.onChange((reply) => {
    if (reply.command !== "engine") return;
    off();
    resolve(reply);
  });
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
    workspace = dirs.workspace;
    mkdirSync(dirs.workspace, { recursive: true });
    const threads = testThreads();
    testThreadsOf = threads;
    engine = await tb.control.Engine.start({ ...dirs, model: "audio", watchdogMs: 800 }, threads.start);
    expect((await engine.execute(["bend", "net_2_conv", "mask", "prob", "@gate=0.5", "dim", -2])).ok).toBe(true);
    expect((await engine.execute(["set", "gate", 0.25])).ok).toBe(true);
    expect((await engine.execute(["stream", "start"])).ok).toBe(true);
    await nextBlock();
    const bendings = (await engine.execute(["bendings"])).values;
    const restarted = nextEngineEvent();
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

  it("puts back the stored versions, the version in use and its output after a restart", async () => {
    const render = async (file: string): Promise<Float32Array> => {
      const reply = await engine.execute(["render", file, 0.2]);
      expect(reply.ok, String(reply.values)).toBe(true);
      return (await tb.io.readWav(join(workspace, file))).samples;
    };
    // Rendered with no stream running and no random bending (the first test's mask), so renders are comparable.
    expect((await engine.execute(["stream", "stop"])).ok).toBe(true);
    expect((await engine.execute(["unbend", "net_2_conv"])).ok).toBe(true);
    const original = await render("original.wav");
    // A weight bending baked into version 'quiet' (write switches to it and removes the bending).
    expect((await engine.execute(["bend", "net.0.bias", "scale", "scale", 3])).ok).toBe(true);
    expect((await engine.execute(["write", "quiet"])).ok).toBe(true);
    expect((await engine.execute(["version", "quiet"])).values).toEqual(["quiet"]);
    const versions = (await engine.execute(["versions"])).values;
    expect(versions).toContain("quiet");
    const before = await render("before.wav");
    // The version's output differs from the original weights', so equal outputs below mean the weights came back.
    expect(before.some((x, i) => Math.abs(x - original[i]) > 1e-3)).toBe(true);
    const restarted = nextEngineEvent();
    const threads = engine.restarts;
    testThreadsOf.busy(60_000);
    expect(String((await restarted).values[0])).toMatch(/did not answer.*model audio restored/);
    expect(engine.restarts).toBe(threads + 1);
    expect((await engine.execute(["versions"])).values).toEqual(versions);
    expect((await engine.execute(["version"])).values).toEqual(["quiet"]);
    const after = await render("after.wav");
    expect(after.length).toBe(before.length);
    let worst = 0;
    for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - before[i]));
    expect(worst).toBeLessThan(1e-5);
  }, 60_000);

  it("restarts a thread whose wasm memory failed (a trap on the heap), with the model's state put back", async () => {
    const restarted = nextEngineEvent();
    const threads = engine.restarts;
    testThreadsOf.wasmTrap();
    // The next command that allocates on the wasm heap fails as a full wasm memory makes it fail.
    const failed = await engine.execute(["render", "trapped.wav", 0.2]);
    expect(failed.ok).toBe(false);
    expect(String(failed.values[0])).toMatch(/memory access out of bounds/);
    const event = await restarted;
    expect(String(event.values[0])).toMatch(/the inference thread failed: .*memory access out of bounds.*model audio restored/);
    expect(engine.restarts).toBe(threads + 1);
    // The fresh thread works, with the version in use put back.
    expect((await engine.execute(["version"])).values).toEqual(["quiet"]);
    const reply = await engine.execute(["render", "after-trap.wav", 0.2]);
    expect(reply.ok, String(reply.values)).toBe(true);
  }, 60_000);
});
