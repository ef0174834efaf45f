// Memory returns: RSS of the plugin process (main thread + inference thread) before a
// large model is loaded, with it, and after it is replaced by a small one. Run as its own
// process: node --expose-gc bench/memory-return.js [megabytes, default 100; at most 108] [--json]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tb from "tfbend";

const MB = 2 ** 20;
const rss = () => process.memoryUsage().rss / MB;

export async function runMemoryReturn(megabytes = 100) {
  const root = mkdtempSync(join(tmpdir(), "tfbend-memory-"));
  try {
    const modelsDir = join(root, "models");
    // Stanley's first conv has 3 weights per channel, its second 24: 27 floats per channel.
    const channels = Math.round((megabytes * MB) / 4 / 27);
    await tb.save(new tb.BendedModule(tb.createModule("stanley", { nChannels: channels })), join(modelsDir, "large"));
    await tb.save(new tb.BendedModule(tb.createModule("stanley", { nChannels: 4 })), join(modelsDir, "small"));
    tb.tf.disposeVariables();
    const engine = await tb.control.Engine.start({ workspace: join(root, "workspace"), modelsDir, model: "small" });
    global.gc?.();
    const before = rss();
    const large = await engine.execute(["load", "large"]);
    if (!large.ok) throw new Error(`load large: ${large.values[0]}`);
    const loaded = rss();
    // A fresh inference thread takes over once the large model's memory is left over: wait for it (or 10 s).
    let fresh = null;
    const restarted = new Promise((resolve) => {
      const off = engine.onChange((reply) => {
        if (reply.command !== "engine") return;
        off();
        fresh = String(reply.values[0]);
        resolve();
      });
      setTimeout(resolve, 10_000).unref();
    });
    const small = await engine.execute(["load", "small"]);
    if (!small.ok) throw new Error(`load small: ${small.values[0]}`);
    await restarted;
    global.gc?.();
    const after = rss();
    const backend = String(engine.status().backend);
    await engine.close();
    return { megabytes, backend, before, loaded, after, fresh };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function printMemoryReturn(r) {
  const grew = r.after / r.before - 1;
  console.log(`memory return (${r.megabytes} MB model, ${r.backend}): RSS ${r.before.toFixed(0)} MB before, ${r.loaded.toFixed(0)} MB loaded, ${r.after.toFixed(0)} MB after the small model replaced it (${(grew * 100).toFixed(0)}% over before)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runMemoryReturn(Number(process.argv[2] ?? 100));
  if (process.argv.includes("--json")) console.log(JSON.stringify(result));
  else printMemoryReturn(result);
}
