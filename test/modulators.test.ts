// Modulators: controls that move by themselves, once per block on block time. The values
// block by block for each LFO shape and for a triggered envelope (computed by hand here),
// `set` stops a modulator, `follow` tracks the live input's level, and renders are
// deterministic with tensors flat.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";

const { control, tf } = tb;

let session: tb.control.Session;
const run = (line: string) => session.execute(tb.control.parseLine(line));

/** The value of a control after each of `n` rendered blocks (the modulators move it before each block). */
async function valuesOver(name: string, n: number): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    await session.renderBlock();
    values.push(Number((await run(`get ${name}`)).values[1]));
  }
  return values;
}

beforeAll(async () => {
  const dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  // 10 frames a second: one block is 0.1 s of block time, so an LFO at 1 Hz takes 10 blocks a cycle.
  session = new control.Session({ ...dirs, imageFps: 10 });
  expect((await run("load image")).ok).toBe(true);
  expect((await run("bend net_6 rotate degrees @angle=10")).ok).toBe(true);
});

afterAll(() => session.dispose());

describe("lfo", () => {
  // The angle's range is unbounded; centre 10, depth 4, 1 Hz, 10 blocks a cycle: phase k/10 at block k.
  const expected: Record<string, (p: number) => number> = {
    sine: (p) => Math.sin(2 * Math.PI * p),
    triangle: (p) => [0, 0.4, 0.8, 0.8, 0.4, 0, -0.4, -0.8, -0.8, -0.4][Math.round(p * 10) % 10],
    square: (p) => (p < 0.5 ? 1 : -1),
    saw: (p) => [-1, -0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8][Math.round(p * 10) % 10],
  };
  for (const [shape, wave] of Object.entries(expected)) {
    it(`${shape}: the control's value block by block`, async () => {
      expect((await run("set angle 10")).ok).toBe(true);
      const reply = await run(`lfo angle ${shape} 1 4`);
      expect(reply).toMatchObject({ ok: true, values: ["angle", shape, 1, 4] });
      const values = await valuesOver("angle", 12);
      values.forEach((v, k) => expect(v, `block ${k}`).toBeCloseTo(10 + 4 * wave((k % 10) / 10), 4));
    });
  }

  it("random: holds a seeded value through each cycle, the same from the same seed", async () => {
    await run("set angle 10");
    await run("lfo angle random 2 3 seed 7"); // 5 blocks a cycle
    const a = await valuesOver("angle", 15);
    await run("set angle 10");
    await run("lfo angle random 2 3 seed 7");
    const b = await valuesOver("angle", 15);
    expect(b).toEqual(a);
    for (const cycle of [0, 1, 2]) {
      const held = a.slice(cycle * 5, cycle * 5 + 5);
      expect(new Set(held).size, `cycle ${cycle}`).toBe(1);
      expect(Math.abs(held[0] - 10)).toBeLessThanOrEqual(3);
    }
    expect(new Set([a[0], a[5], a[10]]).size).toBe(3);
  });

  it("clamps to the control's range and is listed by 'controls'; 'set' stops it", async () => {
    // A bounded control: Mask's prob lies in [0, 1].
    expect((await run("bend net_8 mask prob @keep=0.5 seed 1")).ok).toBe(true);
    await run("lfo keep square 1 0.8");
    const controls = (await run("controls")).dict as { name: string; modulator?: string }[];
    expect(controls.find((c) => c.name === "keep")?.modulator).toBe("lfo square 1 0.8");
    const values = await valuesOver("keep", 10);
    expect(values).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect((await run("set keep 0.3")).ok).toBe(true);
    expect(((await run("controls")).dict as { name: string; modulator?: string }[]).find((c) => c.name === "keep")?.modulator).toBeUndefined();
    expect(await valuesOver("keep", 5)).toEqual([0.3, 0.3, 0.3, 0.3, 0.3]);
    expect((await run("unbend net_8")).ok).toBe(true);
  });

  it("refuses what it cannot do, changing nothing", async () => {
    await run("set angle 10");
    for (const bad of ["lfo angle wobble 1 1", "lfo nope sine 1 1", "lfo angle sine -1 1", "lfo angle sine 1", "lfo angle sine 1 1 seed", "lfo angle sine 1 1 2"]) {
      const reply = await run(bad);
      expect(reply.ok, bad).toBe(false);
      expect(typeof reply.values[0]).toBe("string");
    }
    expect(await valuesOver("angle", 3)).toEqual([10, 10, 10]);
  });
});

describe("env and trigger", () => {
  it("rests until triggered, then rises, holds and falls back, block by block", async () => {
    await run("set angle 10");
    // attack 0.3 s, hold 0.2 s, release 0.4 s, peak 50; blocks of 0.1 s
    expect((await run("env angle 0.3 0.2 0.4 50"))).toMatchObject({ ok: true, values: ["angle", 0.3, 0.2, 0.4, 50] });
    expect(await valuesOver("angle", 2)).toEqual([10, 10]);
    expect((await run("trigger angle")).ok).toBe(true);
    const values = await valuesOver("angle", 11);
    // t = 0, 0.1, ... since the trigger: 10 + 40 t/0.3 before 0.3; 50 before 0.5; 50 - 40 (t - 0.5)/0.4 before 0.9; then 10
    const hand = [10, 10 + 40 / 3, 10 + 80 / 3, 50, 50, 50, 40, 30, 20, 10, 10];
    values.forEach((v, k) => expect(v, `block ${k}`).toBeCloseTo(hand[k], 3));
    // Retriggered mid-release: the attack starts from where it was.
    await run("trigger angle");
    await valuesOver("angle", 7); // attack, hold, and the release's first step: 40 next
    await run("trigger angle");
    const again = await valuesOver("angle", 2);
    expect(again[0]).toBeCloseTo(40, 3); // from where it was
    expect(again[1]).toBeCloseTo(40 + 10 / 3, 3); // to 50 in 0.3 s
    expect((await run("set angle 10")).ok).toBe(true);
    expect((await run("trigger angle")).ok).toBe(false); // set stopped the envelope
  });

  it("peaks at the top of a bounded control's range unless told, and refuses an open one", async () => {
    await run("bend net_8 mask prob @keep=0.2 seed 1");
    await run("set keep 0.2"); // the control outlived its last bending, at 0.3
    expect((await run("env keep 0 0.1 0")).values).toEqual(["keep", 0, 0.1, 0, 1]);
    await run("trigger keep");
    expect(await valuesOver("keep", 3)).toEqual([1, 0.2, 0.2]);
    expect((await run("env angle 0 0 0")).ok).toBe(false); // no upper bound: give the peak
    expect((await run("trigger nope")).ok).toBe(false);
    await run("set keep 0.5");
    await run("unbend net_8");
  });
});

describe("renders and memory", () => {
  it("renders the same frames on block time, with tensors flat over 1,000 frames", async () => {
    await run("set angle 10");
    await run("input 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 -0.1 -0.2 -0.3 -0.4 -0.5 -0.6 -0.7 -0.8");
    await run("lfo angle sine 1 30");
    const first = [];
    for (let i = 0; i < 5; i++) first.push(Array.from((await session.renderBlock()).data.subarray(0, 64)));
    await run("set angle 10");
    await run("lfo angle sine 1 30");
    for (let i = 0; i < 5; i++) expect(Array.from((await session.renderBlock()).data.subarray(0, 64)), `frame ${i}`).toEqual(first[i]);
    expect(first[1]).not.toEqual(first[0]); // the angle moved
    for (let i = 0; i < 20; i++) await session.renderBlock();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) await session.renderBlock();
    expect(tf.memory().numTensors).toBe(tensors);
    await run("set angle 10");
  });
});

describe("follow", () => {
  it("tracks the live input's level, block by block, while audio streams", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-follow-"));
    const live = new control.Session({ workspace, modelsDir: join(import.meta.dirname, "../models") });
    const exec = (line: string) => live.execute(tb.control.parseLine(line));
    try {
      expect((await exec("load audio")).ok).toBe(true);
      expect((await exec("bend net_2_conv mask prob @keep=1 seed 1")).ok).toBe(true);
      expect((await exec("follow keep 0 1")).ok).toBe(false); // decode takes latents, no live input
      expect((await exec("method forward")).ok).toBe(true);
      expect((await exec("follow keep")).ok).toBe(true); // Mask prob's range, 0..1
      expect(live.modulators.describe("keep")).toBe("follow 0 1");
      const seen: number[] = [];
      const blocks = new Promise<void>((done) => {
        live.onBlock(() => {
          seen.push(live.bended!.controls().find((c) => c.name === "keep")!.value);
          if (seen.length === 4) done();
        });
      });
      expect((await exec("stream start")).ok).toBe(true);
      const block = live.blockSamples;
      const levels = [0.25, 0.5, 0.75, 0.1];
      for (const level of levels) {
        const data = new Float32Array(block);
        for (let i = 0; i < block; i++) data[i] = level * Math.sin((2 * Math.PI * i) / 64);
        expect(live.receiveAudio({ source: "test", sampleRate: live.sampleRate, channels: 1, data, arrival: control.wallClockMs() }).ok).toBe(true);
      }
      await blocks;
      // The peak of each block (a sine at 64 samples a cycle reaches its amplitude exactly).
      seen.forEach((v, k) => expect(v, `block ${k}`).toBeCloseTo(levels[k], 6));
    } finally {
      live.dispose();
    }
  });
});
