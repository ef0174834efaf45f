// `npm install` is quiet and correct: every dependency with an install script is reviewed in
// package.json's allowScripts (npm 11 warns about the others, npm 12 skips them), and the ones
// tfbend needs are allowed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { hasInstallScript?: boolean; version?: string }>;
};

/** Packages of the lockfile that run an install script, by name. */
const withScripts = Object.entries(lock.packages)
  .filter(([path, entry]) => path !== "" && entry.hasInstallScript)
  .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));

describe("npm install", () => {
  it("reviews every install script of the dependency tree", () => {
    expect(withScripts.length).toBeGreaterThan(0);
    const allow = pkg.allowScripts ?? {};
    const unreviewed = withScripts.filter((name) => typeof allow[name] !== "boolean");
    expect(unreviewed, "add them to allowScripts in package.json (true or false)").toEqual([]);
    expect(Object.keys(allow).filter((name) => !withScripts.includes(name)), "allowScripts entries for packages that are gone").toEqual([]);
  });

  it("allows the scripts tfbend relies on", () => {
    // esbuild checks its native binary (the panel is bundled with it); webgpu clears macOS's quarantine flag on dawn.node
    expect(pkg.allowScripts).toMatchObject({ esbuild: true, webgpu: true });
  });

  it("never runs onnxruntime-node's download script (npm 11: allowScripts; npm 10: .npmrc)", () => {
    // its CPU binaries ship in the npm package; the script only fetches GPU extras from outside the npm registry
    expect(pkg.allowScripts?.["onnxruntime-node"]).toBe(false);
    expect(readFileSync(join(root, ".npmrc"), "utf8")).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});
