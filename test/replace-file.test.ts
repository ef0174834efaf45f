// Files a user owns are replaced atomically: a write that fails midway (a failing writer, a
// file-size limit the kernel enforces as a full disk would) leaves the old file byte-identical
// and no temporary file beside it; renders, configs and saves all go through the one helper.
import { spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const root = join(import.meta.dirname, "..");
const scratch = mkdtempSync(join(tmpdir(), "tfbend-replace-"));
let folders = 0;

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh folder holding one file `name` with `contents`. */
function folderWith(name: string, contents: Uint8Array | string): { dir: string; path: string; before: Buffer } {
  const dir = join(scratch, `case${folders++}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, contents);
  return { dir, path, before: readFileSync(path) };
}

function noise(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 131 + seed * 7919) & 0xff;
  return out;
}

/**
 * Runs `script` (an ES module body with `root` bound to the checkout) in a child process whose
 * files may grow to `limitKiB` KiB: past it the kernel answers EFBIG, as a full disk answers
 * ENOSPC (SIGXFSZ is ignored so that the write fails instead of killing the process).
 */
function underFileSizeLimit(limitKiB: number, script: string): { status: number | null; output: string } {
  const file = join(scratch, `child${folders++}.mjs`);
  writeFileSync(file, `const root = ${JSON.stringify(root)};\n${script}`);
  const result = spawnSync("bash", ["-c", `trap '' XFSZ; ulimit -f ${limitKiB}; exec "${process.execPath}" "${file}"`], {
    encoding: "utf8",
    env: { ...process.env, TFBEND_BACKEND: "wasm" },
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe("replaceFile", () => {
  it("writes new contents and keeps the old file's permissions", async () => {
    const { dir, path } = folderWith("take.bin", "old");
    chmodSync(path, 0o640);
    await tb.io.replaceFile(path, noise(5000, 1));
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(noise(5000, 1)))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    tb.io.replaceFileSync(path, "sync");
    expect(readFileSync(path, "utf8")).toBe("sync");
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(["take.bin"]);
  });

  it("a writer that fails midway leaves the old file byte-identical and no temporary file", async () => {
    const { dir, path, before } = folderWith("render.wav", noise(3000, 2));
    const failure = tb.io.replaceFile(path, async (write) => {
      await write(noise(64 * 1024, 3));
      await write(noise(64 * 1024, 4));
      throw new Error("the encoder failed after 128 KiB");
    });
    await expect(failure).rejects.toThrow(/encoder failed/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(["render.wav"]);
  });

  it("a write into a folder that is gone fails without touching anything else", async () => {
    const missing = join(scratch, "no-such-folder", "out.wav");
    await expect(tb.io.replaceFile(missing, "x")).rejects.toMatchObject({ code: "ENOENT" });
    expect(() => tb.io.replaceFileSync(missing, "x")).toThrow(/ENOENT/);
  });

  it("through a link it replaces the file linked to (as writeFile did); writeFileNoFollow refuses it", async () => {
    const { dir, path } = folderWith("real.json", "{}");
    const link = join(dir, "link.json");
    symlinkSync(path, link);
    await tb.io.replaceFile(link, '{"a":1}');
    expect(readFileSync(path, "utf8")).toBe('{"a":1}');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["link.json", "real.json"]);
    await expect(tb.io.writeFileNoFollow(link, "x")).rejects.toThrow(/became a link/);
    expect(readFileSync(path, "utf8")).toBe('{"a":1}');
    expect(readdirSync(dir).sort()).toEqual(["link.json", "real.json"]);
  });
});

describe("a full disk never destroys the previous file", () => {
  // 16 KiB is what the child may write: the old files fit, the new ones do not.
  const LIMIT_KIB = 16;

  it("writeWav (renders), saveSafetensors (version exports) and BendingConfig.save (configs)", () => {
    const wav = folderWith("take.wav", tb.io.encodeWav(new Float32Array(1000).fill(0.25), 48000));
    const weights = folderWith("version.safetensors", noise(4000, 5));
    const config = folderWith("bending.json", '{"format":"tfbend-config","version":1,"callbacks":[],"entries":[]}');
    const { status, output } = underFileSizeLimit(LIMIT_KIB, `
      const tb = await import(root + "/dist/index.js");
      const { writeWav, saveSafetensors } = tb.io;
      const results = [];
      const attempt = async (what, run) => {
        try { await run(); results.push(what + ": written"); } catch (e) { results.push(what + ": " + (e.code ?? e.message)); }
      };
      await attempt("wav", () => writeWav(${JSON.stringify(wav.path)}, new Float32Array(48000).fill(0.5), 48000));
      await attempt("safetensors", () => saveSafetensors(${JSON.stringify(weights.path)}, { w: tb.tf.ones([100, 100]) }));
      await attempt("config", () => {
        const config = new tb.BendingConfig();
        config.toJSON = () => ({ padding: "x".repeat(64 * 1024) });
        config.save(${JSON.stringify(config.path)});
      });
      console.log(JSON.stringify(results));
    `);
    expect(status, output).toBe(0);
    const results = JSON.parse(output.trim().split("\n").filter((l) => l.startsWith("["))[0]) as string[];
    expect(results).toEqual([expect.stringMatching(/^wav: .*EFBIG/), "safetensors: EFBIG", "config: EFBIG"]);
    for (const { dir, path, before } of [wav, weights, config]) {
      expect(readFileSync(path).equals(before), path).toBe(true);
      expect(readdirSync(dir), dir).toHaveLength(1);
    }
  });

  it("tb.save into a folder it saved before keeps the earlier save whole", async () => {
    const dir = join(scratch, "saved-model");
    const bended = new tb.BendedModule(new tb.nn.Linear(64, 64));
    await tb.save(bended, dir);
    const before = Object.fromEntries(readdirSync(dir).filter((n) => n.endsWith(".json") || n.endsWith(".safetensors")).map((n) => [n, readFileSync(join(dir, n))]));
    const { status, output } = underFileSizeLimit(1, `
      const tb = await import(root + "/dist/index.js");
      try { await tb.save(new tb.BendedModule(new tb.nn.Linear(64, 64)), ${JSON.stringify(dir)}); console.log("written"); } catch (e) { console.log("failed: " + (e.code ?? e.message)); }
    `);
    expect(status, output).toBe(0);
    expect(output).toMatch(/failed: EFBIG/);
    for (const [name, bytes] of Object.entries(before)) expect(readFileSync(join(dir, name)).equals(bytes), name).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    bended.dispose();
  });
});

describe("WAV renders", () => {
  it("float data has the fmt chunk's cbSize and a fact chunk (RIFF for non-PCM), and reads back", async () => {
    const frames = 300;
    const samples = Float32Array.from({ length: frames * 2 }, (_, i) => Math.sin(i / 7) * (i % 2 ? 0.5 : 1));
    const bytes = Buffer.from(tb.io.encodeWav(samples, 44100, 2));
    expect(bytes.toString("latin1", 12, 16)).toBe("fmt ");
    expect(bytes.readUInt32LE(16)).toBe(18); // fmt chunk size: 16 + cbSize
    expect(bytes.readUInt16LE(20)).toBe(3); // WAVE_FORMAT_IEEE_FLOAT
    expect(bytes.readUInt16LE(36)).toBe(0); // cbSize
    expect(bytes.toString("latin1", 38, 42)).toBe("fact");
    expect(bytes.readUInt32LE(46)).toBe(frames);
    expect(bytes.toString("latin1", 50, 54)).toBe("data");
    expect(bytes.readUInt32LE(54)).toBe(frames * 2 * 4);
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    const path = join(scratch, "stereo.wav");
    await tb.io.writeWav(path, samples, 44100, 2);
    const back = await tb.io.readWav(path);
    expect(back.sampleRate).toBe(44100);
    expect(Array.from(back.samples)).toEqual(Array.from(samples.filter((_, i) => i % 2 === 0)));
  });

  // sox is a system package (.ci/run installs it); without it this check cannot run here.
  const sox = spawnSync("sox", ["--version"]).status === 0;
  it.skipIf(!sox)("sox reads it without a warning", async () => {
    const path = join(scratch, "sox.wav");
    await tb.io.writeWav(path, new Float32Array(4800).fill(0.1), 48000);
    const info = spawnSync("sox", ["--i", path], { encoding: "utf8" });
    expect(info.status).toBe(0);
    expect(info.stderr).not.toMatch(/WARN/);
    expect(info.stdout).toMatch(/32-bit Floating Point PCM/);
    expect(info.stdout).toMatch(/4800 samples/);
  });
});
