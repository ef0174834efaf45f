// The first sound: the stream walks through the shipped model's latent space by default, at
// about -18 dBFS RMS before the limiter; `input walk <speed>`, `input hold` and `input <values>`
// control it; renders of the walk repeat exactly.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { LatentWalk, latentStatistics } from "../dist/control/latent-walk.js";

const root = join(import.meta.dirname, "..");
let session: tb.control.Session;
let workspace: string;
const run = (line: string) => session.execute(tb.control.parseLine(line));

beforeAll(async () => {
  workspace = mkdtempSync(join(tmpdir(), "tfbend-walk-"));
  mkdirSync(workspace, { recursive: true });
  // the shipped models, without the output limiter: the level is measured before it
  session = new tb.control.Session({ modelsDir: join(root, "models"), workspace, safety: false });
  await run("load audio");
});

async function blocks(n: number): Promise<{ samples: Float32Array[]; latents: number[][] }> {
  const samples: Float32Array[] = [];
  const latents: number[][] = [];
  for (let i = 0; i < n; i++) {
    samples.push((await session.renderBlock()).data);
    latents.push([...session.latent]);
  }
  return { samples, latents };
}

const rmsDb = (parts: Float32Array[]) => {
  let sum = 0;
  let count = 0;
  for (const p of parts) for (const v of p) (sum += v * v), count++;
  return 10 * Math.log10(sum / count);
};

describe("LatentWalk", () => {
  const stats = { mean: [1, -2, 0], std: [0.5, 2, 0] };

  it("stays around the latent statistics and repeats from its origin", () => {
    const walk = new LatentWalk(stats, { seed: 3 });
    walk.speed = 4;
    const path = Array.from({ length: 4000 }, () => walk.step(0.05));
    for (const d of [0, 1]) {
      const values = path.map((p) => p[d]);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      expect(Math.abs(mean - stats.mean[d])).toBeLessThan(0.25 * stats.std[d]);
      expect(std / stats.std[d]).toBeGreaterThan(0.75);
      expect(std / stats.std[d]).toBeLessThan(1.25);
    }
    expect(path.every((p) => p[2] === 0)).toBe(true); // a dimension with std 0 stays at its mean
    const again = walk.fresh();
    const first = new LatentWalk(stats, { seed: 3 });
    first.speed = 4;
    expect(again.step(0.05)).toEqual(first.step(0.05));
  });

  it("refuses speeds it cannot walk at", () => {
    const walk = new LatentWalk(stats);
    expect(() => walk.walk(0, [1, -2, 0])).toThrow(/walk speed must be in \(0, 100\]/);
    expect(() => walk.walk(Number.NaN, [1, -2, 0])).toThrow(tb.BendingError);
  });
});

describe("LatentWalk between anchors", () => {
  const mean = [0, 0];
  const std = [1, 1];
  const anchors = [[1, 0], [0, 1], [-1, 0], [0, -1]];

  it("reads anchors from metadata only where each is a latent of the model's size", () => {
    const meta = (a: unknown) => ({ latent_mean: JSON.stringify(mean), latent_std: JSON.stringify(std), latent_anchors: JSON.stringify(a) });
    expect(latentStatistics(meta(anchors), 2)?.anchors).toEqual(anchors);
    for (const bad of [[[1, 0]], [[1, 0], [0]], [[1, 0], [0, null]], "[1,2]", [[1, 0], [0, 1e400]]]) {
      const stats = latentStatistics(meta(bad), 2);
      expect(stats, JSON.stringify(bad)).toMatchObject({ mean, std });
      expect(stats?.anchors, JSON.stringify(bad)).toBeUndefined();
    }
  });

  it("starts at an anchor, reaches the next one every 1/speed seconds, never stays, and repeats from its origin", () => {
    const walk = new LatentWalk({ mean, std, anchors }, { seed: 5 });
    walk.speed = 0.5; // two seconds a leg
    const isAnchor = (p: number[]) => anchors.findIndex((a) => Math.abs(a[0] - p[0]) < 1e-9 && Math.abs(a[1] - p[1]) < 1e-9);
    const visited = [isAnchor(walk.position)];
    expect(visited[0]).toBeGreaterThanOrEqual(0);
    for (let leg = 0; leg < 12; leg++) {
      const between = walk.step(1); // half way: not at an anchor, on the segment between two
      expect(isAnchor(between)).toBe(-1);
      const reached = isAnchor(walk.step(1));
      expect(reached).toBeGreaterThanOrEqual(0);
      expect(reached).not.toBe(visited.at(-1));
      visited.push(reached);
    }
    expect(new Set(visited).size).toBeGreaterThan(2);
    const again = walk.fresh();
    const first = new LatentWalk({ mean, std, anchors }, { seed: 5 });
    first.speed = 0.5;
    expect(again.position).toEqual(first.position);
    expect(again.step(0.7)).toEqual(first.step(0.7));
  });

  it("eases out of where `input walk` starts it and into the anchor it goes to", () => {
    const walk = new LatentWalk({ mean, std, anchors }, { seed: 2 });
    walk.walk(1, [5, 5]);
    expect(walk.position).toEqual([5, 5]);
    const near = walk.step(0.01);
    const far = walk.step(0.49);
    // smoothstep: the first hundredth of a leg moves 0.03 % of the way (about 7 units here), half a leg 50 %
    expect(Math.hypot(near[0] - 5, near[1] - 5)).toBeLessThan(0.01);
    expect(Math.hypot(far[0] - 5, far[1] - 5)).toBeGreaterThan(2);
  });
});

describe("the shipped image model's stream", () => {
  it("walks between the pictures its anchors decode", async () => {
    const images = new tb.control.Session({ modelsDir: join(root, "models"), workspace, safety: false });
    try {
      expect((await images.execute(["load", "image"])).ok).toBe(true);
      const anchors = JSON.parse(images.bended!.metadata.latent_anchors) as number[][];
      expect(anchors.length).toBeGreaterThanOrEqual(2);
      const nearest = (z: number[]) => Math.min(...anchors.map((a) => Math.max(...a.map((v, i) => Math.abs(v - z[i])))));
      expect(nearest([...images.latent])).toBeLessThan(1e-6); // it starts on a picture
      for (let i = 0; i < 30; i++) await images.renderBlock(); // a second at 30 frames/s
      expect(nearest([...images.latent])).toBeGreaterThan(1e-3); // and moves on towards the next
      // `input random` jumps to a picture (an anchor), not to a patchwork of independent cells, and holds it
      const drawn = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const reply = await images.execute(["input", "random"]);
        expect(reply.ok).toBe(true);
        expect(reply.values[0]).toBe("random");
        const z = reply.values.slice(1).map(Number);
        expect(z).toEqual([...images.latent]);
        const at = anchors.findIndex((a) => a.every((v, j) => Math.abs(v - z[j]) < 1e-9));
        expect(at).toBeGreaterThanOrEqual(0);
        drawn.add(at);
      }
      expect(drawn.size).toBeGreaterThan(2); // different pictures, not one
      expect((await images.execute(["status"])).dict).toMatchObject({ input: "hold" });
      const held = [...images.latent];
      await images.renderBlock();
      expect([...images.latent]).toEqual(held);
    } finally {
      images.dispose();
    }
  });
});

describe("the first sound", () => {
  it("walks by default, at about -18 dBFS RMS as it plays (after the safety stage), moving, not a drone", async () => {
    expect((await run("status")).dict).toMatchObject({ input: "walk" });
    const { samples, latents } = await blocks(Math.ceil((8 * 44100) / session.blockSamples));
    // what plays: the stream's safety stage (its DC blocker takes the decoder's offset out)
    const safety = new tb.control.SafetyStage();
    const level = rmsDb(samples.map((block) => safety.process(block.slice())));
    expect(level).toBeGreaterThan(-21);
    expect(level).toBeLessThan(-15);
    // the latent moves through the space: far from where it started, in units of the latent std
    const std = JSON.parse(session.bended!.metadata.latent_std) as number[];
    const moved = latents.map((l) => Math.hypot(...l.map((v, i) => (v - latents[0][i]) / std[i])));
    expect(Math.max(...moved)).toBeGreaterThan(1);
    // and the sound with it: second-long stretches differ in level
    const second = Math.round(44100 / session.blockSamples);
    const levels = Array.from({ length: Math.floor(samples.length / second) }, (_, k) => rmsDb(samples.slice(k * second, (k + 1) * second)));
    expect(Math.max(...levels) - Math.min(...levels)).toBeGreaterThan(1);
  });

  it("input hold stops it, input <values> sets a place, input walk resumes; errors say what to send", async () => {
    expect(await run("input hold")).toMatchObject({ ok: true, values: ["hold", ...session.latent] });
    const held = [...session.latent];
    await blocks(3);
    expect(session.latent).toEqual(held);
    expect((await run("status")).dict).toMatchObject({ input: "hold" });
    expect(await run("input walk 2")).toMatchObject({ ok: true, values: ["walk", 2] });
    await blocks(3);
    expect(session.latent).not.toEqual(held);
    expect((await run("input 0 1 0 0 0 0 0 0")).ok).toBe(true);
    await blocks(2);
    expect(session.latent).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    for (const [line, message] of [
      ["input walk 0", /walk speed must be in \(0, 100\]/],
      ["input walk fast", /walk speed must be a number, got the word 'fast'/],
      ["input walk 1 2", /too many arguments; usage: input walk \[speed\]/],
      ["input hold 1", /too many arguments/],
      ["input", /missing latent values; usage: input <latent values\.\.\.> \| input walk \[speed\] \| input hold \| input random/],
    ] as const) {
      const reply = await run(line);
      expect(reply.ok, line).toBe(false);
      expect(String(reply.values[0])).toMatch(message);
    }
    expect(session.latent).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    // `input random` on a model with latent statistics and no anchors: mean + std · N(0, 1), held
    const stats = { mean: JSON.parse(session.bended!.metadata.latent_mean) as number[], std: JSON.parse(session.bended!.metadata.latent_std) as number[] };
    const units: number[] = [];
    for (let i = 0; i < 40; i++) {
      const reply = await run("input random");
      expect(reply.values).toEqual(["random", ...session.latent]);
      units.push(...session.latent.map((v, j) => (v - stats.mean[j]) / stats.std[j]));
    }
    const mean = units.reduce((a, b) => a + b, 0) / units.length;
    const sd = Math.sqrt(units.reduce((a, b) => a + (b - mean) ** 2, 0) / units.length);
    expect(Math.abs(mean)).toBeLessThan(0.25);
    expect(sd).toBeGreaterThan(0.8);
    expect(sd).toBeLessThan(1.2);
    expect((await run("status")).dict).toMatchObject({ input: "hold" });
    expect(String((await run("input random 2")).values[0])).toMatch(/too many arguments; usage: input random/);
    expect((await run("input walk")).values).toEqual(["walk", 0.25]);
  });

  it("renders of the walk repeat exactly and leave the stream's walk where it was", async () => {
    await run("input walk 0.5");
    await blocks(2);
    const before = [...session.latent];
    expect((await run("render a.wav 1")).ok).toBe(true);
    expect((await run("render b.wav 1")).ok).toBe(true);
    expect(readFileSync(join(workspace, "a.wav")).equals(readFileSync(join(workspace, "b.wav")))).toBe(true);
    expect(session.latent).toEqual(before);
  });
});
