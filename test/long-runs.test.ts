// What a long run needs: versions can be deleted and are capped (memory stays flat),
// status reports version memory, stream statistics are O(1) per block, and paths and
// manifests are confined (links resolved, numbers bounded before any allocation).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";
import type { WeightStatsDict } from "../src/protocol/index.js";

const { tf } = tb;

let session: tb.control.Session;

beforeAll(async () => {
  const dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  session = new tb.control.Session({ ...dirs, maxVersions: 3 });
  expect((await session.execute(["load", "audio"])).ok).toBe(true);
});

const run = (line: string) => session.execute(tb.control.parseLine(line));

describe("versions over a long run", () => {
  it("deletes versions, refuses one past the cap, reports version memory, and keeps tensors flat", async () => {
    const base = tf.memory().numTensors;
    expect(session.status()).toMatchObject({ versions: 0, version_mb: 0, max_versions: 3 });
    for (let round = 0; round < 5; round++) {
      for (const name of ["a", "b", "c"]) {
        await run("bend net_6_conv scale scale 1.01");
        expect(await run(`write ${name}`)).toMatchObject({ ok: true });
      }
      const status = session.status();
      expect(status.versions).toBe(3);
      expect(status.version_mb).toBeGreaterThan(0.5); // three copies of the ~0.7 MB decoder
      const capped = await run("write d");
      expect(capped).toMatchObject({ ok: false, values: [expect.stringMatching(/3 versions stored.*version delete/)] });
      expect(session.bended!.versionNames()).toEqual(["_default", "a", "b", "c"]);
      // the version in use (c) and _default cannot be deleted; the others can
      expect(await run("version delete c")).toMatchObject({ ok: false, values: [expect.stringMatching(/in use/)] });
      expect(await run("version delete default")).toMatchObject({ ok: false });
      expect(await run("version delete nope")).toMatchObject({ ok: false, values: [expect.stringMatching(/unknown version/)] });
      expect(await run("interpolate a 1 b 1")).toMatchObject({ ok: true });
      expect(await run("version delete a")).toMatchObject({ ok: false, values: [expect.stringMatching(/interpolation/)] });
      expect(await run("version default")).toMatchObject({ ok: true });
      for (const name of ["a", "b", "c"]) expect(await run(`version delete ${name}`)).toMatchObject({ ok: true, values: ["delete", name] });
      expect(session.status()).toMatchObject({ versions: 0, version_mb: 0 });
      expect(tf.memory().numTensors).toBe(base);
    }
  });

  it("refuses negative interpolation weights, which would extrapolate", async () => {
    await run("write pos");
    await run("version default");
    const reply = await run("interpolate default 2 pos -1");
    expect(reply).toMatchObject({ ok: false, values: [expect.stringMatching(/0 or more/)] });
    expect(session.bended!.interpolationWeights).toBeNull();
    await run("version delete pos");
  });
});

describe("weight statistics over a long run", () => {
  it("follow a control-driven weight bending and read only the weights that moved", async () => {
    const stats = async () => {
      const reply = await run("weightstats");
      expect(reply.ok, String(reply.values[0])).toBe(true);
      const rows = (reply.dict as unknown as WeightStatsDict).weights;
      return rows.find((r) => r.name === "net.2.conv.weight")!;
    };
    expect(await run("bend net.2.conv.weight scale scale @wgain=1")).toMatchObject({ ok: true });
    try {
      const plain = await stats();
      expect(plain).toMatchObject({ bended: true, changed: false });
      expect(await run("set wgain 2")).toMatchObject({ ok: true });
      const doubled = await stats();
      expect(doubled.changed).toBe(true);
      expect(doubled.current.std).toBeCloseTo(2 * plain.original.std, 3);
      // asked again with nothing moved: not one weight is read back
      const reads = { n: 0 };
      const data = tf.Tensor.prototype.data;
      tf.Tensor.prototype.data = function (this: tb.Tensor) {
        reads.n++;
        return data.call(this);
      } as typeof data;
      try {
        expect(await stats()).toEqual(doubled);
        expect(reads.n).toBe(0);
        expect(await run("set wgain 0.5")).toMatchObject({ ok: true });
        const halved = await stats();
        expect(halved.current.std).toBeCloseTo(0.5 * plain.original.std, 3);
        expect(reads.n).toBe(1); // the one bent weight, not the model
      } finally {
        tf.Tensor.prototype.data = data;
      }
    } finally {
      await run("unbend net.2.conv.weight");
    }
  });
});

describe("hostile saved configs", () => {
  it("a malformed configs/<name>.json is refused with what to send, nothing changed", async () => {
    await run("bend net_2_conv mask prob @keep=0.5 dim -2");
    const before = JSON.stringify([(await run("bendings")).dict, (await run("controls")).dict]);
    const configs = join(session.workspace, "configs");
    mkdirSync(configs, { recursive: true });
    const cases: unknown[] = [
      null, 5, [], { format: "tfbend-config" }, { format: "tfbend-config", callbacks: [null], entries: [] },
      { format: "tfbend-config", callbacks: [{ type: "Mask" }], entries: [] },
      { format: "tfbend-config", callbacks: [{ type: 5, args: {} }], entries: [] },
      { format: "tfbend-config", callbacks: [{ type: "Chain", args: { callbacks: "x" } }], entries: [] },
      { format: "tfbend-config", callbacks: [{ type: "Chain", args: { callbacks: [7] } }], entries: [] },
      { format: "tfbend-config", callbacks: [{ type: "Mask", args: {}, seed: "x" }], entries: [] },
      { format: "tfbend-config", callbacks: [], entries: [null] },
      { format: "tfbend-config", callbacks: [], entries: [{ callback: 0, pattern: "x" }] },
      { format: "tfbend-config", callbacks: [], entries: [{ callback: "0", pattern: 3 }] },
    ];
    for (const [i, json] of cases.entries()) {
      writeFileSync(join(configs, `bad${i}.json`), JSON.stringify(json));
      const reply = await run(`config load bad${i}`);
      expect(reply.ok, JSON.stringify(json)).toBe(false);
      expect(String(reply.values[0])).not.toMatch(/is not a function|of undefined|of null|is not iterable/);
    }
    writeFileSync(join(configs, "text.json"), "SECRET-CONTENT {");
    const text = await run("config load text");
    expect(text).toMatchObject({ ok: false, values: [expect.stringMatching(/not valid JSON/)] });
    expect(String(text.values[0])).not.toContain("SECRET");
    expect(JSON.stringify([(await run("bendings")).dict, (await run("controls")).dict])).toBe(before);
    await run("reset");
  });
});

describe("stream statistics", () => {
  it("windowed quantiles from a fixed histogram match sorted quantiles within a bin", () => {
    const q = new tb.WindowedQuantiles(100);
    let seed = 3;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const all: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const v = 0.01 + rand() * (i < 500 ? 10 : 0.1); // the window forgets the large early values
      all.push(v);
      q.add(v);
    }
    expect(q.size).toBe(100);
    const last = all.slice(-100).sort((a, b) => a - b);
    for (const p of [0.05, 0.5, 0.95]) {
      const exact = last[Math.round(p * 99)];
      expect(Math.abs(q.quantile(p) / exact - 1)).toBeLessThan(0.025);
    }
    q.clear();
    expect(q.quantile(0.5)).toBe(0);
  });
});

describe("confined paths", () => {
  it("resolves links through the deepest existing folder and refuses dangling links", () => {
    const root = mkdtempSync(join(tmpdir(), "tfbend-confine-"));
    const inside = join(root, "inside");
    const outside = join(root, "outside");
    mkdirSync(inside);
    mkdirSync(outside);
    symlinkSync(outside, join(inside, "out"));
    symlinkSync(join(outside, "nothing.wav"), join(inside, "dangling.wav"));
    mkdirSync(join(inside, "real"));
    symlinkSync(join(inside, "real"), join(inside, "alias"));
    const confined = (p: string) => tb.io.confinedPath(p, [inside], inside);
    expect(confined("alias/new/x.wav")).toBe(join(inside, "real", "new", "x.wav"));
    expect(() => confined("out/x.wav")).toThrow(/outside/);
    expect(() => confined("out/deeper/x.wav")).toThrow(/outside/);
    expect(() => confined("dangling.wav")).toThrow(/does not exist/);
    expect(() => confined("../outside/x.wav")).toThrow(/outside/);
    expect(() => confined("a\0b")).toThrow(/NUL/);
    writeFileSync(join(inside, "plain.txt"), "x");
    expect(confined("plain.txt")).toBe(join(inside, "plain.txt"));
    expect(existsSync(join(outside, "nothing.wav"))).toBe(false);
  });

  it("a write does not follow a link swapped in after the check", async () => {
    const root = mkdtempSync(join(tmpdir(), "tfbend-nofollow-"));
    const target = join(root, "victim.txt");
    const link = join(root, "link.txt");
    symlinkSync(target, link);
    await expect(tb.io.writeFileNoFollow(link, "x")).rejects.toThrow(/became a link/);
    expect(existsSync(target)).toBe(false);
  });
});

describe("safetensors errors", () => {
  it("a tensor whose bytes do not fit its shape is refused naming the file, the tensor and the sizes", () => {
    const header = JSON.stringify({ w: { dtype: "F32", shape: [100000, 100000, 100000], data_offsets: [0, 4] } });
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    expect(() => tb.io.parseSafetensors(bytes, "weights/w.safetensors")).toThrow(
      /^weights\/w\.safetensors: tensor 'w' holds 4 bytes, but shape \[100000, 100000, 100000\] of F32 needs/,
    );
  });
});

describe("reloading models", () => {
  it("reloading a model in a session frees the previous one", async () => {
    const dirs = await makeModelsDir();
    mkdirSync(dirs.workspace, { recursive: true });
    const session = new tb.control.Session(dirs);
    await session.execute(["load", "audio"]);
    tb.nn.derivedCacheSize(); // sweeps filters derived from disposed weights
    const start = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) expect((await session.execute(["load", "audio"])).ok).toBe(true);
    tb.nn.derivedCacheSize();
    expect(tf.memory().numTensors).toBe(start);
    session.dispose();
  });
});
