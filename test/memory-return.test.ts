// Memory returns: wasm memory never shrinks, so after a large model is replaced the engine
// starts a fresh inference thread with the new model; the process's RSS comes back within
// 25% of what it was before the large model was loaded. Measured in a child process
// (bench/memory-return.js), whose RSS is the plugin's alone.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tb from "tfbend";
import { describe, expect, it } from "vitest";

describe("memory returns", () => {
  it("RSS after a 100 MB model is replaced by a small one is within 25% of before it was loaded", () => {
    const bench = fileURLToPath(new URL("../bench/memory-return.js", import.meta.url));
    const run = spawnSync(process.execPath, ["--expose-gc", bench, "100", "--json"], { encoding: "utf8", timeout: 240_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { before: number; loaded: number; after: number; fresh: string | null };
    expect(result.loaded - result.before).toBeGreaterThan(80); // the large model was really held
    expect(result.fresh).toMatch(/memory of a model no longer loaded returns.*model small restored/);
    expect(result.after).toBeLessThan(result.before * 1.25);
  }, 300_000);
});

describe("status reports memory", () => {
  it("rss_mb is the process's resident memory, read when status answers; the inference thread's heap, tensors and wasm heap beside it", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-status-memory-"));
    const engine = await tb.control.Engine.start({ workspace, modelsDir: fileURLToPath(new URL("../models", import.meta.url)), model: "audio" });
    try {
      const status = (await engine.execute(["status"])).dict as Record<string, number>;
      const rss = process.memoryUsage.rss() / 2 ** 20;
      expect(status.rss_mb).toBeGreaterThan(rss * 0.8);
      expect(status.rss_mb).toBeLessThan(rss * 1.25);
      for (const field of ["heap_mb", "tensor_mb", "wasm_mb"]) expect(status[field], field).toBeGreaterThan(0);
      // a patch watching for a leak sees a fresh figure each time, not one cached with the thread's last report
      const held = new Float64Array(64 * 2 ** 20 / 8).fill(1);
      const after = (await engine.execute(["status"])).dict as Record<string, number>;
      expect(after.rss_mb - status.rss_mb).toBeGreaterThan(40);
      expect(held[held.length - 1]).toBe(1);
    } finally {
      await engine.close();
      rmSync(workspace, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("memory returns only when a larger model's memory is left over", () => {
  it("switching back and forth between two small models while streaming never restarts the inference thread", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-small-switch-"));
    copyFileSync(fileURLToPath(new URL("./fixtures/torchscript/rave_like.ts", import.meta.url)), join(workspace, "rave_like.ts"));
    const engine = await tb.control.Engine.start({ workspace, modelsDir: fileURLToPath(new URL("../models", import.meta.url)), model: "audio" });
    const restarts: string[] = [];
    const off = engine.onChange((reply) => {
      if (reply.command === "engine") restarts.push(String(reply.values[0]));
    });
    try {
      expect((await engine.execute(["stream", "start"])).ok).toBe(true);
      for (let i = 0; i < 6; i++) {
        const reply = await engine.execute(i % 2 === 0 ? ["load", "rave_like.ts", "decode"] : ["load", "audio"]);
        expect(reply.ok, String(reply.values[0])).toBe(true);
        // what the decision reads: tensors held now, the wasm heap, both far below a larger model's
        const status = (await engine.execute(["status"])).dict as Record<string, number>;
        expect(status.wasm_mb).toBeLessThan(2 * status.tensor_mb + 64);
      }
      expect((await engine.execute(["status"])).dict).toMatchObject({ streaming: 1 });
      expect(restarts).toEqual([]);
    } finally {
      off();
      await engine.close();
      rmSync(workspace, { recursive: true, force: true });
    }
  }, 120_000);
});
