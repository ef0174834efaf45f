// The source tree's arrows point one way: no import cycle among src/ files, and the byte
// formats (src/formats) sit below everything that knows about modules, bending or the plugin.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const src = join(import.meta.dirname, "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Each file's relative imports and re-exports (type-only ones too: they are arrows as well), as paths under src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']/gms)]
      .map((m) => relative(src, resolve(dirname(file), m[1].replace(/\.js$/, ".ts"))));
    graph.set(relative(src, file), targets);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the files along it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") found.push(stack.slice(stack.indexOf(next)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe("source layout", () => {
  const graph = importGraph();

  it("reads the imports it checks", () => {
    expect(graph.get("load/load.ts")).toContain("formats/safetensors.ts");
    expect(graph.get("formats/media.ts")).toContain("formats/paths.ts");
  });

  it("has no import cycle", () => {
    expect(cycles(graph).map((c) => c.join(" -> "))).toEqual([]);
  });

  it("folders import one way: transports -> control -> bended -> bending/graph -> nn; protocol stands alone", () => {
    // Each folder, and the folders it must never import (directly).
    const never: Record<string, string[]> = {
      "protocol/": ["*"],
      "control/": ["transports/", "zoo/"],
      "bended/": ["control/", "transports/", "load/", "torchscript/", "zoo/", "native/"],
      "bending/": ["bended/", "control/", "transports/", "load/", "torchscript/", "native/"],
      "graph/": ["bended/", "bending/", "control/", "transports/", "load/", "torchscript/", "native/"],
      "nn/": ["graph/", "bended/", "bending/", "control/", "transports/", "load/", "torchscript/", "native/"],
      "torchscript/": ["bended/", "control/", "transports/", "load/", "native/"],
      "zoo/": ["bended/", "control/", "transports/", "load/", "native/"],
      "native/": ["control/", "transports/", "load/"],
    };
    const wrong = [...graph].flatMap(([file, targets]) => {
      const folder = Object.keys(never).find((f) => file.startsWith(f));
      if (!folder) return [];
      const banned = never[folder];
      return targets.filter((t) => !t.startsWith(folder) && (banned.includes("*") || banned.some((b) => t.startsWith(b)))).map((t) => `${file} -> ${t}`);
    });
    expect(wrong).toEqual([]);
  });

  it("src/formats imports only tf, errors, util and itself", () => {
    const allowed = (target: string) => target.startsWith("formats/") || target.startsWith("util/") || target === "tf.ts" || target === "errors.ts";
    const outside = [...graph].filter(([file]) => file.startsWith("formats/")).flatMap(([file, targets]) => targets.filter((t) => !allowed(t)).map((t) => `${file} -> ${t}`));
    expect(outside).toEqual([]);
  });

  it("src/load is imported by the plugin and the public API, never by what it loads into", () => {
    const below = ["formats/", "nn/", "graph/", "bending/", "bended/", "zoo/", "torchscript/", "util/"];
    const upward = [...graph].filter(([file]) => below.some((folder) => file.startsWith(folder)))
      .flatMap(([file, targets]) => targets.filter((t) => t.startsWith("load/")).map((t) => `${file} -> ${t}`));
    expect(upward).toEqual([]);
  });
});
