// Backend selection: wasm by default here; TFBEND_BACKEND forces one or fails clearly.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const probe = 'import("tfbend").then((tb) => console.log(tb.backend()))';

describe("backend selection", () => {
  it("uses the embedded wasm backend by default (no native tfjs-node here)", () => {
    expect(process.env.TFBEND_BACKEND ?? "").toBe("");
    expect(tb.backend()).toBe("wasm");
  });

  it("TFBEND_BACKEND forces a backend", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", probe], {
      env: { ...process.env, TFBEND_BACKEND: "cpu" },
      encoding: "utf8",
    });
    expect(out.trim().split("\n").at(-1)).toBe("cpu");
  });

  it("an unknown or unavailable backend fails with a clear error", () => {
    for (const [name, message] of [
      ["bogus", /unknown backend 'bogus' \(choose one of tensorflow, webgpu, wasm, cpu\)/],
      ["tensorflow", /backend 'tensorflow' could not be loaded/],
    ] as const) {
      const run = spawnSync(process.execPath, ["--input-type=module", "-e", probe], {
        env: { ...process.env, TFBEND_BACKEND: name },
        encoding: "utf8",
      });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toMatch(message);
    }
  });
});
