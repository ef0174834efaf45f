// The first sound: the stream walks through the shipped model's latent space by default, at
// about -18 dBFS RMS before the limiter; `input walk <speed>`, `input hold` and `input <values>`
// control it; renders of the walk repeat exactly.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { LatentWalk } from "../dist/control/latent-walk.js";

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
      ["input", /missing latent values; usage: input <latent values\.\.\.> \| input walk \[speed\] \| input hold/],
    ] as const) {
      const reply = await run(line);
      expect(reply.ok, line).toBe(false);
      expect(String(reply.values[0])).toMatch(message);
    }
    expect(session.latent).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
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
