// Replies a performer reads first: status after a load, bare commands that only read (and
// are not announced), `version default`, `trace` of the current method, `get` of an unknown
// name, and the whole dump as flat atoms (OSC, Pd).
import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir, startPlugin, type RunningPlugin } from "./session-fixture.js";

let session: tb.control.Session;
const run = (line: string) => session.execute(tb.control.parseLine(line));

beforeAll(async () => {
  const dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  session = new tb.control.Session({ ...dirs });
});
afterAll(() => session.dispose());

/** Resolves after `n` streamed blocks. */
function blocks(n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const off = session.onBlock(() => {
      if (++seen < n) return;
      off();
      resolve();
    });
  });
}

describe("session replies", () => {
  it("forgets the previous model's figures on load", async () => {
    await run("load audio");
    const streamed = blocks(3);
    await run("stream start");
    await streamed;
    await run("stream stop");
    const before = session.status();
    expect(before.blocks).toBeGreaterThanOrEqual(3);
    expect(before.rtf_p50).toBeGreaterThan(0);
    await run("load image");
    const after = session.status();
    expect(after).toMatchObject({ model: "image", blocks: 0, dropped: 0, rtf_p50: 0, rtf_p95: 0, underruns: 0 });
  });

  it("takes a bare 'method' or 'version' as a query, with arguments as a change", async () => {
    await run("load audio");
    const bare = await run("method");
    expect(bare.ok).toBe(true);
    expect(bare.effect).toBe("query");
    expect(tb.control.replyAnnounces(bare)).toBe(false);
    expect(tb.control.isQuery("method", [])).toBe(true);
    expect(tb.control.isQuery("method", ["decode"])).toBe(false);
    expect(tb.control.announces("version", [])).toBe(false);
    expect(tb.control.changesOutput("version", ["default"])).toBe(true);
    const change = await run("version default");
    expect(change.effect).toBeUndefined();
    expect(tb.control.replyAnnounces(change)).toBe(true);
  });

  it("answers 'version default' as 'default', never its stored name", async () => {
    await run("load audio");
    expect((await run("version default")).values).toEqual(["default"]);
    expect((await run("version")).values).toEqual(["default"]);
    await run("bend net.2.conv.weight mask prob 0.3 seed 1");
    await run("write masked");
    expect((await run("version")).values).toEqual(["masked"]);
    expect((await run("version default")).values).toEqual(["default"]);
  });

  it("traces the method the stream runs when 'trace' has no argument", async () => {
    const dirs = await makeModelsDir();
    const { copyFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    mkdirSync(dirs.workspace, { recursive: true });
    copyFileSync(join(import.meta.dirname, "fixtures/torchscript/rave_like.ts"), join(dirs.workspace, "rave_like.ts"));
    const rave = new tb.control.Session(dirs);
    try {
      await rave.execute(["load", "rave_like.ts"]);
      await rave.execute(["method", "decode"]);
      const reply = await rave.execute(["trace"]);
      expect(reply.values[0]).toBe("decode");
      expect(reply.values[1]).toBe(rave.requireModel().graph("decode").nodes.length);
      expect(reply.values[1]).not.toBe(rave.requireModel().graph("forward").nodes.length);
    } finally {
      rave.dispose();
    }
  });

  it("lists the model's controls and attributes when 'get' names neither", async () => {
    await run("load audio");
    await run("bend net_2_conv mask prob @keep=0.5 dim -2");
    const reply = await run("get nope");
    expect(reply.ok).toBe(false);
    expect(String(reply.values[0])).toMatch(/unknown control 'nope' of model 'audio' \(controls: keep; attributes: /);
    await run("reset");
  });

  it("gives the whole dump as flat atoms", async () => {
    await run("load audio");
    await run("bend net_2_conv mask prob @keep=0.5 dim -2");
    const reply = await run("dump");
    const dict = reply.dict as { status: Record<string, tb.control.Atom>; weights: string[]; controls: { name: string; value: number }[] };
    const pairs = new Map<tb.control.Atom, tb.control.Atom>();
    for (let i = 0; i < reply.values.length; i += 2) pairs.set(reply.values[i], reply.values[i + 1]);
    expect(reply.values.length % 2).toBe(0);
    for (const [key, value] of Object.entries(dict.status)) expect(pairs.get(key), key).toEqual(value);
    expect(pairs.get("weights")).toBe(dict.weights.length);
    expect(pairs.get("control:keep")).toBe(0.5);
    expect(pairs.get("methods")).toBeDefined();
    await run("reset");
  });
});

describe("announcements", () => {
  let plugin: RunningPlugin;
  beforeAll(async () => {
    plugin = await startPlugin();
  });
  afterAll(() => plugin.close());

  it("does not announce a bare 'method' or 'version' to other clients", async () => {
    const heard: string[] = [];
    const off = plugin.engine.onChange((reply) => heard.push([reply.command, ...reply.values].join(" ")));
    expect((await plugin.engine.execute(["method"])).ok).toBe(true);
    expect((await plugin.engine.execute(["version"])).ok).toBe(true);
    expect((await plugin.engine.execute(["version", "default"])).ok).toBe(true);
    off();
    expect(heard).toEqual(["version default"]);
  });
});
