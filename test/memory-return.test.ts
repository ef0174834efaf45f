// Memory returns: wasm memory never shrinks, so after a large model is replaced the engine
// starts a fresh inference thread with the new model; the process's RSS comes back within
// 25% of what it was before the large model was loaded. Measured in a child process
// (bench/memory-return.js), whose RSS is the plugin's alone.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
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
