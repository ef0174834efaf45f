// The command table through a Session: the same replies and errors every transport gets.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";

let session: tb.control.Session;
let dirs: { modelsDir: string; workspace: string };

beforeAll(async () => {
  dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  session = new tb.control.Session({ ...dirs });
});

const run = (line: string) => session.execute(tb.control.parseLine(line));

describe("session commands", () => {
  it("lists and loads models, traces, lists weights, activations and the graph", async () => {
    expect((await run("models")).values).toEqual(["audio", "image"]);
    expect(await run("weights")).toMatchObject({ ok: false, values: [expect.stringMatching(/no model loaded/)] });
    expect(await run("load audio")).toMatchObject({ ok: true, values: ["audio", "audio"] });
    const weights = await run("weights");
    expect(weights.values[0]).toBe("net.0.weight");
    expect((weights.dict as { shape: number[] }[])[0].shape).toEqual([128, 8, 3]);
    expect((await run("activations")).values).toContain("net_2_conv");
    const graph = await run("graph");
    expect(graph.values[0]).toBe("forward");
    expect(graph.values[1]).toBeGreaterThan(40);
    expect((await run("trace forward")).ok).toBe(true);
  });

  it("bends with controls, sets and gets them, and reports errors without changing anything", async () => {
    await run("load audio");
    const bend = await run("bend net_2_conv mask prob @keep=0.5 dim -2");
    expect(bend.ok).toBe(true);
    expect(bend.values.slice(0, 3)).toEqual(["net_2_conv", "Mask(prob=keep(0.500), dim=-2)", "net_2_conv"]);
    expect((await run("controls")).values).toEqual(["keep", 0.5, 0, 1]); // Mask prob's domain
    expect(await run("set keep 0.25")).toMatchObject({ ok: true, values: ["keep", 0.25] });
    expect((await run("get keep")).values).toEqual(["keep", 0.25]);
    const before = (await session.renderBlock()).data;
    session.bended!.module.namedModules(); // no-op: renders are deterministic given state
    for (const bad of [
      "bogus 1 2", "set keep", "set keep loud", "set nope 1", "bend ( mask prob 0.5", "bend net_2_conv nosuch prob 1",
      "bend net_2_conv mask prob", "version nope", "interpolate _default 0", "interpolate a", "unbend nothing_here",
      "load ../../etc/passwd", "render ../x.wav 1", "input 1 2", "config save", "stream sideways",
    ]) {
      const reply = await run(bad);
      expect(reply.ok, bad).toBe(false);
      expect(typeof reply.values[0], bad).toBe("string");
    }
    expect((await run("get keep")).values).toEqual(["keep", 0.25]);
    expect((await run("bendings")).values).toEqual(["Mask(prob=keep(0.250), dim=-2)"]);
    // outputs unchanged by the failed commands (same bendings, same controls, fresh stream state)
    await run("load audio");
    await run("bend net_2_conv mask prob @keep=0.25 dim -2 seed 3");
    const a = (await session.renderBlock()).data;
    await run("load audio");
    await run("bend net_2_conv mask prob @keep=0.25 dim -2 seed 3");
    for (const bad of ["set keep 7e400", "bend x mask", "version nope"]) await run(bad);
    const b = (await session.renderBlock()).data;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(before.length).toBe(2048);
  });

  it("writes versions, switches and interpolates, saves and loads configs, renders WAV and PNG", async () => {
    await run("load audio");
    await run("bend net.2.conv.weight mask prob 0.3 seed 1");
    expect((await run("write masked")).ok).toBe(true);
    expect((await run("versions")).values).toEqual(["_default", "masked"]);
    expect((await run("version")).values).toEqual(["masked"]);
    expect((await run("version default")).values).toEqual(["default"]);
    expect((await run("interpolate default 1 masked 1")).ok).toBe(true);
    await run("bend net_3_conv1 scale scale 0.5");
    expect((await run("config save half")).ok).toBe(true);
    expect(existsSync(join(dirs.workspace, "configs", "half.json"))).toBe(true);
    await run("reset");
    expect((await run("bendings")).values).toEqual([]);
    expect((await run("config load half")).ok).toBe(true);
    expect((await run("bendings")).values).toEqual(["Scale(scale=0.500)"]);
    expect((await run("input 0 0 0 0 1 0 0 0")).ok).toBe(true);
    const wav = await run("render out.wav 0.5");
    expect(wav.ok).toBe(true);
    const { samples, sampleRate } = await tb.io.readWav(join(dirs.workspace, "out.wav"));
    expect(sampleRate).toBe(44100);
    expect(samples.length).toBe(22050);
    expect(samples.some((v) => v !== 0)).toBe(true);
    await run("load image");
    expect((await run("render frame.png")).ok).toBe(true);
    expect(existsSync(join(dirs.workspace, "frame.png"))).toBe(true);
  });

  it("streams blocks and reports status with RTF and dropped blocks", async () => {
    await run("load audio");
    const blocks: tb.control.OutputBlock[] = [];
    const off = session.onBlock((b) => blocks.push(b));
    expect((await run("stream start")).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    await run("stream stop");
    off();
    expect(blocks.length).toBeGreaterThan(3);
    expect(blocks.map((b) => b.seq)).toEqual(blocks.map((_, i) => blocks[0].seq + i));
    expect(blocks[0]).toMatchObject({ stream: "audio", sampleRate: 44100, frames: 2048, channels: 1 });
    const status = (await run("status")).dict as Record<string, number | string>;
    expect(status).toMatchObject({ backend: "wasm", model: "audio", block: 2048, streaming: 0 });
    expect(status.rtf_p50).toBeGreaterThan(0);
    expect(status.blocks).toBe(blocks.length);
    expect(typeof status.dropped).toBe("number");
  });
});

describe("declick", () => {
  it("fades out the step between blocks over DECLICK_SAMPLES samples", () => {
    const block = new Float32Array(512).fill(0.5);
    tb.control.declick(block, -0.3);
    expect(block[0]).toBeCloseTo(-0.3, 6);
    const n = tb.control.DECLICK_SAMPLES;
    for (let i = 1; i < n; i++) expect(Math.abs(block[i] - block[i - 1])).toBeLessThanOrEqual(0.8 / n + 1e-6);
    expect(block[n]).toBe(0.5);
    expect(block[511]).toBe(0.5);
  });
});

describe("crossfade", () => {
  it("mixes from the old block to the new one across the block", () => {
    const from = new Float32Array(5).fill(1);
    const to = new Float32Array(5).fill(-1);
    tb.control.crossfade(from, to);
    expect(Array.from(to)).toEqual([1, 0.5, 0, -0.5, -1]);
  });

  it("a control moved while streaming fades from the old sound to the new across one block", async () => {
    const s = new tb.control.Session({ ...dirs, safety: false });
    await s.execute(["load", "audio"]);
    await s.execute(["input", 1, -1, 0.5, 0, 1, 0, -1, 0]);
    expect((await s.execute(["bend", "net_17", "scale", "scale", "@vol=1"])).ok).toBe(true);
    const blocks: Float32Array[] = [];
    s.onBlock((b) => blocks.push(b.data));
    await s.execute(["stream", "start"]);
    while (blocks.length < 3) await new Promise((r) => setTimeout(r, 5));
    const before = blocks.length;
    await s.execute(["set", "vol", 0]);
    while (blocks.length < before + 3) await new Promise((r) => setTimeout(r, 5));
    await s.execute(["stream", "stop"]);
    const spread = (x: Float32Array) => Math.max(...x) - Math.min(...x);
    const changed = blocks[before];
    const old = blocks[before - 1];
    // the new state (vol 0) is a constant output; the faded block ends there and starts as the old sound
    const settled = blocks[before + 1];
    expect(spread(settled)).toBeLessThan(1e-6);
    expect(spread(changed.subarray(0, 256))).toBeGreaterThan(spread(settled) + 1e-4);
    expect(Math.abs(changed[changed.length - 1] - settled[0])).toBeLessThan(1e-4);
    expect(Math.abs(changed[0] - old[old.length - 1])).toBeLessThan(spread(old));
    s.dispose();
  });
});

describe("renders are not disturbed by commands arriving meanwhile", () => {
  it("enable 0 / stream stop / load / render during a render: the file is the same as an undisturbed one", async () => {
    const s = new tb.control.Session(dirs);
    await s.execute(["load", "audio"]);
    await s.execute(["input", 1, -1, 0.5, 0, 1, 0, -1, 0]);
    await s.execute(["render", "quiet.wav", 1]);
    const busy = s.execute(["render", "busy.wav", 1]);
    await new Promise((r) => setTimeout(r, 20));
    const replies = await Promise.all([s.execute(["enable", 0]), s.execute(["stream", "stop"]), s.execute(["load", "audio"]), s.execute(["render", "x.wav", 1])]);
    expect(replies.map((r) => r.ok)).toEqual([true, true, false, false]);
    expect(String(replies[2].values[0])).toMatch(/a render is in progress/);
    expect((await busy).ok).toBe(true);
    const a = await tb.io.readWav(join(dirs.workspace, "quiet.wav"));
    const b = await tb.io.readWav(join(dirs.workspace, "busy.wav"));
    expect(Array.from(b.samples)).toEqual(Array.from(a.samples));
    s.dispose();
  });

  it("clusters an activation's channels and bends one cluster through the command table", async () => {
    await run("load image");
    // The first feature map (N, C, H, W) with a few channels.
    const shapes = ((await run("activations")).dict as { name: string; shape: string }[]).map((a) => ({ name: a.name, shape: JSON.parse(a.shape) as number[] }));
    const act = shapes.find((a) => a.shape.length === 4 && a.shape[1] >= 6 && a.name !== "reshape")!.name;
    const found = await run(`cluster ${act} 3 samples 6 seed 2`);
    expect(found.ok).toBe(true);
    const clusters = found.dict as { name: string; channels: number[] }[];
    expect(clusters.map((c) => c.name)).toEqual([`${act}:c0`, `${act}:c1`, `${act}:c2`]);
    expect(clusters.flatMap((c) => c.channels).sort((x, y) => x - y)).toEqual([...Array(clusters.flatMap((c) => c.channels).length).keys()]);
    expect((await run("clusters")).values).toEqual(clusters.map((c) => c.name));
    expect((await run(`cluster ${act} 3 seed 2 samples 6`)).dict).toEqual(clusters); // deterministic from its seed
    const bend = await run(`bend ${act} zoom factor 2 cluster ${act}:c1`);
    expect(bend).toMatchObject({ ok: true });
    expect(await run("export image.ts")).toMatchObject({ ok: false, values: [expect.stringMatching(/not read from a TorchScript file/)] });
    expect(await run(`cluster ${act} 3 colour 2`)).toMatchObject({ ok: false, values: [expect.stringMatching(/samples.*seed/)] });
    await run("reset");
  });
});
