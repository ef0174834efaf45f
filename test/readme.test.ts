// Every ```ts block of README.md is a standalone program importing "tfbend"; each runs as a
// user would run it: under tsx (esbuild), compiled by tsc, and as a minified esbuild bundle.
// Transpilers rename identifiers differently, so this keeps the README honest for all of them.
// A block that cannot run here says why on its first lines: `// readme-test: skip (needs ...)`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

interface Block {
  index: number;
  line: number;
  code: string;
  skip?: string;
}

/** The ```ts blocks of a markdown text, with the line each starts on. */
function typescriptBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(ts|typescript)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j].trimEnd() === indent + fence || lines[j].trim() === fence)) body.push(lines[j++].slice(indent.length));
    const code = body.join("\n") + "\n";
    const skip = /\/\/\s*readme-test:\s*skip\s*\(([^)]*)\)/.exec(code)?.[1];
    blocks.push({ index: blocks.length + 1, line: i + 1, code, skip });
    i = j;
  }
  return blocks;
}

const blocks = typescriptBlocks(readFileSync(join(root, "README.md"), "utf8"));
let dir: string;

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: dir, encoding: "utf8", env: { ...process.env, TFBEND_BACKEND: "wasm" }, timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}`.slice(-4000) };
}

beforeAll(() => {
  // A project of a user who installed tfbend: node_modules/tfbend is this checkout (built by pretest).
  dir = mkdtempSync(join(tmpdir(), "tfbend-readme-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(root, join(dir, "node_modules", "tfbend"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out",
        skipLibCheck: true, types: ["node"], typeRoots: [join(root, "node_modules", "@types")],
      },
      include: ["*.ts"],
    }),
  );
  for (const block of blocks) writeFileSync(join(dir, `block${block.index}.ts`), block.code);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("README.md TypeScript blocks", () => {
  it("finds the blocks, and skips are rare and say why", () => {
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(block.code).toMatch(/from "tfbend"/);
    expect(blocks.filter((b) => b.skip !== undefined).length).toBeLessThanOrEqual(Math.floor(blocks.length / 3));
  });

  it("says how Max users on macOS and Windows install the package", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(readme).toMatch(/ln -s "\$PWD\/plugin" ~\/Documents\/Max\\ 9\/Packages\/tfbend/);
    expect(readme).toMatch(/mklink \/J "%USERPROFILE%\\Documents\\Max 9\\Packages\\tfbend" "%CD%\\plugin"/);
    expect(readme).toMatch(/@node_bin_path/);
  });

  it("lists every folder of the source tree, and the others, in its Layout section", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const layout = readme.slice(readme.indexOf("\n## Layout"));
    const folders = readdirSync(join(root, "src"), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `src/${d.name}`);
    expect(folders).toContain("src/formats");
    for (const folder of [...folders, "panel/", "plugin/", "patches/", "models/", "bench/", "test/", "docs/"]) expect(layout, folder).toContain(`\`${folder}`);
  });

  it("links only to files a user of the repository has, and tells shell users about --osc-reply", () => {
    for (const doc of ["README.md", "docs/benchmarks.md"]) {
      const text = readFileSync(join(root, doc), "utf8");
      expect(text).not.toMatch(/\.\.\/shared\//);
      const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
      expect(links.length).toBeGreaterThan(0);
      for (const link of links) expect(existsSync(join(root, dirname(doc), link)), `${doc} links to ${link}`).toBe(true);
    }
    const readme = readFileSync(join(root, "README.md"), "utf8");
    // GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens
    const anchors = new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-")));
    const targets = [...readme.matchAll(/\]\(#([^)]+)\)/g), ...readFileSync(join(root, "docs/benchmarks.md"), "utf8").matchAll(/\]\(\.\.\/README\.md#([^)]+)\)/g)].map((m) => m[1]);
    expect(targets.length).toBeGreaterThan(10);
    for (const target of targets) expect(anchors, `#${target}`).toContain(target);
    const run = readme.slice(readme.indexOf("\n## Run"), readme.indexOf("\n## API"));
    expect(run).toMatch(/oscsend/);
    expect(run).toMatch(/--osc-reply/);
  });

  it("all compile with tsc (strict)", () => {
    const { status, output } = run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
    expect(status, output).toBe(0);
  });

  for (const block of blocks) {
    const title = `block ${block.index} (README.md line ${block.line})`;
    if (block.skip !== undefined) {
      it.skip(`${title}: ${block.skip}`, () => {});
      continue;
    }
    it(`${title} runs under tsx`, () => {
      const { status, output } = run(bin("tsx"), [`block${block.index}.ts`]);
      expect(status, output).toBe(0);
    });
    it(`${title} runs compiled by tsc`, () => {
      const { status, output } = run(process.execPath, [join("out", `block${block.index}.js`)]);
      expect(status, output).toBe(0);
    });
    it(`${title} runs as a minified bundle`, () => {
      const bundle = `bundle${block.index}.mjs`;
      const built = run(bin("esbuild"), [`block${block.index}.ts`, "--bundle", "--minify", "--platform=node", "--format=esm", "--external:tfbend", `--outfile=${bundle}`]);
      expect(built.status, built.output).toBe(0);
      const { status, output } = run(process.execPath, [bundle]);
      expect(status, output).toBe(0);
    });
  }
});
