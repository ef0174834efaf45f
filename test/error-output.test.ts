// A user's mistake in a script prints the error and its stack, a few lines: the wasm
// backend's glue must not leave handlers that make Node print its 30 KB minified line.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

// Node prints the glue's line when source maps are on: tsx turns them on, as does --enable-source-maps.
const RUNNERS = { "node --enable-source-maps": ["--enable-source-maps"], tsx: ["--import", "tsx"] } as const;

function runScript(runner: readonly string[], body: string): { status: number | null; stderr: string } {
  const script = `import * as tb from "tfbend";\nconst bended = new tb.BendedModule(new tb.zoo.Stanley());\nbended.trace([tb.tf.zeros([1, 1, 16])]);\n${body}`;
  const result = spawnSync(process.execPath, [...runner, "--input-type=module", "-e", script], { cwd: root, encoding: "utf8", env: { ...process.env, TFBEND_BACKEND: "wasm" } });
  return { status: result.status, stderr: result.stderr };
}

const THROWN = `bended.bend(new tb.Mask(0.5), "no_such_layer");`;
const CASES = [
  ["thrown", "node --enable-source-maps", THROWN],
  ["thrown", "tsx", THROWN],
  ["rejected", "tsx", `await Promise.resolve().then(() => { ${THROWN} });`],
  ["thrown in a timer", "node --enable-source-maps", `setTimeout(() => { ${THROWN} }, 1);`],
] as const;

describe("uncaught errors after import", () => {
  it.each(CASES)("%s, under %s: under 3 KB, the message near the top, no wasm glue", (_, runner, body) => {
    const { status, stderr } = runScript(RUNNERS[runner], body);
    expect(status).not.toBe(0);
    expect(stderr.length, stderr.slice(0, 500)).toBeLessThan(3000);
    expect(stderr).not.toMatch(/WasmBackendModule|tfjs-backend-wasm\.js/);
    const lines = stderr.split("\n");
    const at = lines.findIndex((l) => l.startsWith("BendingError: no weight or activation matches 'no_such_layer'"));
    expect(at, stderr).toBeGreaterThanOrEqual(0);
    // before it at most Node's own pointer to the throwing line (file, code, caret)
    expect(lines.slice(0, at).filter((l) => l.trim() !== "" && !l.startsWith("tfbend: ")).length, stderr).toBeLessThanOrEqual(3);
    expect(lines.slice(at + 1).filter((l) => /^\s+at /.test(l)).length).toBeGreaterThan(0);
  });
});
