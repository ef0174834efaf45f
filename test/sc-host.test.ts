// The SuperCollider file in sclang itself (headless: Qt offscreen), against the plugin on
// 127.0.0.1: each unit of patches/tfbend.scd (a line, or a ( ... ) block) is interpreted in
// order, as a user evaluates them, and every /tfbend/ message a line sends must be answered
// with ok. The live-input block needs a server: scsynth runs on JACK's dummy driver (no
// sound card), and its chunks must reach the plugin as /tfbend/audio_in and play through forward.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeUdpPort, HostProcess, installed, onPath, repoRoot, startHostPlugin, type HostPlugin } from "./patch-hosts.js";

const hasSclang = installed("sclang", "-v");
/** The live-input block runs only with a server: scsynth on a JACK server of its own (dummy driver). */
const hasServer = installed("scsynth", "-v") && onPath("jackd") && onPath("jack_wait");
/** sclang's Qt classes start Chromium, which refuses to run as root without this flag. */
const SCLANG_ENV = { QT_QPA_PLATFORM: "offscreen", QTWEBENGINE_CHROMIUM_FLAGS: "--no-sandbox" };

interface Unit {
  /** The command a top-level `~tfbend.sendMsg('/tfbend/<command>', ...)` line sends. */
  command: string | null;
  code: string;
  needsServer: boolean;
}

/** The file's evaluation units: a ( ... ) block, or one line; comments and blank lines are none. */
function units(text: string): Unit[] {
  const result: Unit[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith("//")) continue;
    let code = line;
    if (line === "(") {
      const end = lines.findIndex((l, j) => j > i && l.trim() === ")");
      code = lines.slice(i, end + 1).join("\n");
      i = end;
    }
    const command = /^~tfbend\.sendMsg\('\/tfbend\/(\w+)'/.exec(code)?.[1] ?? null;
    result.push({ command, code, needsServer: /\bs\.|\(s,|\bSynth\(/.test(code) });
  }
  return result;
}

/** Where the live-input section begins: its first line chooses the method. */
function liveSection(all: Unit[]): number {
  const from = all.findIndex((u) => u.command === "method");
  expect(from, "the live-input section starts with a method line").toBeGreaterThan(0);
  return from;
}

/** An sclang string literal. */
const scString = (text: string) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

describe.skipIf(!hasSclang)("patches/tfbend.scd in sclang", () => {
  const file = readFileSync(join(repoRoot, "patches/tfbend.scd"), "utf8");
  let plugin: HostPlugin;
  const hosts: HostProcess[] = [];

  beforeAll(async () => {
    plugin = await startHostPlugin();
  });

  afterAll(async () => {
    for (const host of hosts.reverse()) await host.stop();
    await plugin?.close();
  });

  /** Runs these units of the file (plugin port put in) in sclang; resolves once the last one ran. */
  async function runInSclang(selected: Unit[], serverPort: number | null, name: string): Promise<{ sclang: HostProcess; replies: string[] }> {
    const portLine = /NetAddr\("127\.0\.0\.1", \d+\)/;
    const prelude = [
      `~units = [${selected.map((u) => `[${u.command ? `"${u.command}"` : "nil"}, ${scString(u.code.replace(portLine, `NetAddr("127.0.0.1", ${plugin.osc.port})`))}]`).join(",\n")}];`,
      `~serverPort = ${serverPort ?? "nil"};`,
    ].join("\n");
    const path = join(plugin.workspace, `${name}.scd`);
    writeFileSync(path, `${prelude}\n${readFileSync(join(repoRoot, "test/fixtures/scd-runner.scd"), "utf8")}`);
    const sclang = new HostProcess("sclang", [path], SCLANG_ENV);
    hosts.push(sclang);
    const end = await sclang.lineFrom(0, /^HARNESS units done$|^ERROR/);
    expect(end?.line, sclang.lines.join("\n")).toBe("HARNESS units done");
    return { sclang, replies: sclang.lines.filter((l) => l.startsWith("HARNESS ok") || l.startsWith("HARNESS error")) };
  }

  it("every message a line sends is answered with ok, in the file's order (setup and live input aside)", async () => {
    const all = units(file);
    expect(all[0].code).toMatch(/NetAddr\("127\.0\.0\.1", 7400\)/);
    const selected = all.slice(0, liveSection(all));
    expect(selected.filter((u) => u.needsServer)).toEqual([]);
    const sent = selected.filter((u) => u.command);
    expect(sent.length).toBeGreaterThan(15);
    const { sclang, replies } = await runInSclang(selected, null, "tfbend-lines");
    expect(replies.length).toBe(sent.length);
    replies.forEach((reply, i) => expect(reply, sent[i].code).toMatch(new RegExp(`^HARNESS ok ${sent[i].command}\\b`)));
    await sclang.stop();
  });

  it.skipIf(!hasServer)("the live-input block sends the server's input as /tfbend/audio_in chunks that play through forward", async () => {
    const all = units(file);
    const live = all.slice(liveSection(all));
    expect(live.some((u) => u.needsServer)).toBe(true);
    // a JACK server of its own, on the dummy driver, and scsynth on it
    const jackName = `tfbend-test-${process.pid}`;
    const env = { JACK_DEFAULT_SERVER: jackName };
    hosts.push(new HostProcess("jackd", ["--no-realtime", "-n", jackName, "-d", "dummy", "-r", "44100", "-p", "512"], env));
    const wait = new HostProcess("jack_wait", ["-w"], env);
    hosts.push(wait);
    expect(await wait.exited).toBe(0);
    const serverPort = await freeUdpPort();
    const scsynth = new HostProcess("scsynth", ["-u", String(serverPort), "-i", "1", "-o", "2", "-R", "0", "-l", "1"], env);
    hosts.push(scsynth);
    expect((await scsynth.lineFrom(0, /server ready/))?.line, scsynth.lines.join("\n")).toMatch(/server ready/);

    let blocks = 0;
    const threeBlocks = new Promise<void>((resolve) => {
      const stop = plugin.engine.onBlock(() => {
        if (++blocks < 3) return;
        stop();
        resolve();
      });
    });
    const { replies } = await runInSclang([all[0], ...live], serverPort, "tfbend-live");
    expect(replies.filter((r) => !r.startsWith("HARNESS ok"))).toEqual([]);
    expect(replies.map((r) => r.split(" ")[2])).toEqual(["method", "stream"]);
    // forward runs only on input: blocks mean the chunks arrived and played
    await threeBlocks;
    const status = await plugin.engine.execute(["status"]);
    const field = (name: string) => status.values[status.values.indexOf(name) + 1];
    expect(field("method")).toBe("forward");
    expect(field("audio_in")).not.toBe("none");
    expect(field("input_refused")).toBe(0);
    expect(await plugin.engine.execute(["stream", "stop"])).toMatchObject({ ok: true });
  });
});
