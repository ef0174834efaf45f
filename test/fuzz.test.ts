// 10,000 random and mutated messages over real OSC and WebSocket sockets: every one is
// answered or dropped, the process keeps serving, and the model's output is unchanged.
// Then a flood of `set` while streaming: blocks keep coming, the latest value wins.
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { startPlugin, type RunningPlugin } from "./session-fixture.js";

const { control, transports } = tb;

let plugin: RunningPlugin;
let engine: tb.control.Engine;
let oscServer: tb.transports.OscServer;
let wsServer: tb.transports.WsServer;
let udp: Socket;
let workspace: string;

// A small deterministic generator, so a failing run can be replayed.
let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const word = () => "zz" + Math.floor(rand() * 1e6).toString(36);

/** Messages that must fail (or only read): nothing in them can change the model. */
function mutated(): tb.control.Atom[] {
  const w = word();
  return pick<() => tb.control.Atom[]>([
    () => [w, rand()],
    () => ["set", w, rand()],
    () => ["set", "keep"],
    () => ["set", "keep", "loud"],
    () => ["get", w],
    () => ["bend", w, "mask", "prob", rand()],
    () => ["bend", "net_2_conv", w, "prob", 0.5],
    () => ["bend", "net_2_conv", "mask", "prob"],
    () => ["bend", "(", "mask"],
    () => ["bend", "net_2_conv", "lambda"],
    () => ["unbend", w],
    () => ["version", w],
    () => ["interpolate", "default"],
    () => ["interpolate", "default", 0],
    () => ["interpolate", w, 1],
    () => ["input", rand()],
    () => ["load", `../${w}`],
    () => ["load", "/etc/passwd"],
    () => ["render", "../escape.wav", 1],
    () => ["render", "x.wav", -1],
    () => ["config", "bogus", w],
    () => ["config", "load", w],
    () => ["trace", w],
    () => ["method", w],
    () => ["write"],
    () => ["stream", w],
    () => ["enable", w],
    () => ["weights"],
    () => ["status"],
    () => ["controls"],
  ])();
}

beforeAll(async () => {
  plugin = await startPlugin();
  ({ engine, oscServer, wsServer, workspace } = plugin);
  udp = createSocket("udp4");
  await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
  await engine.execute(["bend", "net_2_conv", "mask", "prob", "@keep=0.5", "dim", -2, "seed", 7]);
  await engine.execute(["input", 0, 1, 0, 0, 0, 0, 0, 0]);
});

afterAll(async () => {
  udp.close();
  await plugin.close();
});

function oscBytes(address: string, args: { type: string; value: unknown }[]): Uint8Array {
  return osc.writePacket({ address, args }, { metadata: true });
}

async function ws(): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
  await new Promise((r) => socket.once("open", r));
  return socket;
}

const pause = () => new Promise((r) => setTimeout(r, 5));

describe("fuzz", () => {
  it("survives 10,000 random and mutated messages with the output unchanged", async () => {
    expect((await engine.execute(["render", "before.wav", 0.2])).ok).toBe(true);
    const client = await ws();
    let wsReplies = 0;
    let wsOks = 0;
    client.on("message", (data, binary) => {
      if (binary) return;
      const m = JSON.parse(String(data));
      if (m.type === "reply") {
        wsReplies++;
        if (m.ok && !["weights", "status", "controls"].includes(m.command)) {
          wsOks++;
          console.log("unexpected ok:", m.command, m.values);
        }
      }
    });
    for (let i = 0; i < 5000; i++) {
      // OSC: garbage, truncated packets, foreign addresses, non-atom arguments, mutated commands
      const kind = i % 5;
      let packet: Uint8Array;
      if (kind === 0) packet = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256));
      else if (kind === 1) {
        const good = oscBytes("/tfbend/set", transports.toOscArgs(["keep", 0.9]));
        packet = good.subarray(0, Math.max(1, Math.floor(rand() * (good.length - 1))));
      } else if (kind === 2) packet = oscBytes(pick(["/", "/tfbend", "/tfbend/a/b", "/other/set", `/tfbend/${word()}`]), [{ type: "f", value: rand() }]);
      else if (kind === 3) packet = oscBytes("/tfbend/set", [{ type: "b", value: new Uint8Array([1, 2, 3]) }, { type: "f", value: 0.9 }]);
      else {
        const [cmd, ...args] = mutated();
        packet = oscBytes(`/tfbend/${cmd}`, transports.toOscArgs(args));
      }
      udp.send(packet, oscServer.port, "127.0.0.1");
      // WebSocket: random text, broken JSON, wrong JSON types, binary frames, mutated commands
      const text = pick<() => string | Buffer>([
        () => String.fromCharCode(...Array.from({ length: Math.floor(rand() * 40) }, () => 32 + Math.floor(rand() * 90))),
        () => '{"cmd": "set", "args": [',
        () => JSON.stringify({ cmd: 5, args: "x" }),
        () => JSON.stringify({ cmd: "set", args: [{ nested: true }] }),
        () => Buffer.from([1, 2, 3, 4]),
        () => {
          const [cmd, ...args] = mutated();
          return JSON.stringify({ cmd, args });
        },
        () => control.formatLine(mutated()),
      ])();
      client.send(text);
      if (i % 200 === 0) await pause();
    }
    // a client that disconnects in the middle of a stream
    const leaving = await ws();
    await engine.execute(["stream", "start"]);
    await new Promise((r) => setTimeout(r, 100));
    leaving.terminate();
    await new Promise((r) => setTimeout(r, 100));
    await engine.execute(["stream", "stop"]);

    for (let i = 0; i < 200 && wsReplies < 4000; i++) await pause();
    expect(wsReplies).toBeGreaterThan(4000); // binary frames and empty lines get no reply
    expect(wsOks).toBe(0);
    const status = await engine.execute(["status"]);
    expect(status.ok).toBe(true);
    expect((await engine.execute(["get", "keep"])).values).toEqual(["keep", 0.5]);
    expect((await engine.execute(["render", "after.wav", 0.2])).ok).toBe(true);
    const before = readFileSync(join(workspace, "before.wav"));
    const after = readFileSync(join(workspace, "after.wav"));
    expect(after.equals(before)).toBe(true);
    client.close();
  });

  it("a flood of `set` while streaming does not stop the blocks; the latest value wins", async () => {
    const client = await ws();
    let frames = 0;
    client.on("message", (_data, binary) => binary && frames++);
    await engine.execute(["stream", "start"]);
    for (let i = 0; i < 5000; i++) {
      client.send(`set keep ${(i % 100) / 100}`);
      if (i % 50 === 0) await pause(); // ~5,000 per second
    }
    client.send("set keep 0.77");
    // The stream is still going after the flood: more blocks arrive (however fast this
    // machine is; real-time figures under a flood come from `npm run soak`).
    const afterFlood = frames;
    for (let i = 0; i < 400 && frames < afterFlood + 2; i++) await pause();
    await engine.execute(["stream", "stop"]);
    await new Promise((r) => setTimeout(r, 100));
    expect(frames).toBeGreaterThanOrEqual(afterFlood + 2);
    // Every block the session computed reached the client: none was lost to the flood.
    const computed = Number(engine.status().blocks);
    expect(frames).toBeGreaterThanOrEqual(computed - 1);
    expect(frames).toBeGreaterThan(5);
    expect((await engine.execute(["get", "keep"])).values).toEqual(["keep", 0.77]);
    const controls = (await engine.execute(["controls"])).values; // answered by the session itself
    expect(controls[controls.indexOf("keep") + 1]).toBe(0.77);
    client.close();
  });
});

// --- structured hostile cases ------------------------------------------------------------
// Each case: an error reply, nothing changed (the session's state, the files around the
// workspace, and a rendered WAV byte for byte), and the process still serving.

/** Every file below `dir` (links listed, not followed). */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

describe("hostile input", () => {
  let root: string;
  let outside: string;
  let baseline: string;
  let baselineWav: Buffer;

  /** What a command could change: the session's state, controls, bendings, and the files around the workspace. */
  async function fingerprint(): Promise<string> {
    const parts = await Promise.all(["state", "controls", "bendings"].map((c) => engine.execute([c])));
    const files = listFiles(root).filter((f) => !f.endsWith("probe.wav")).map((f) => relative(root, f));
    return JSON.stringify({ parts: parts.map((p) => [p.ok, p.values, p.dict]), files });
  }

  async function renderProbe(): Promise<Buffer> {
    const reply = await engine.execute(["render", "probe.wav", 0.1]);
    expect(reply.ok).toBe(true);
    return readFileSync(join(workspace, "probe.wav"));
  }

  /** The reply is an error that names no JavaScript internal; state, files and output are as before. */
  async function expectRefused(reply: tb.control.Reply, label: string, options: { render?: boolean } = {}): Promise<void> {
    expect(reply.ok, `${label}: ${JSON.stringify(reply.values).slice(0, 200)}`).toBe(false);
    const message = String(reply.values[0]);
    expect(message, label).not.toMatch(/is not a function|of undefined|of null|Maximum call stack|\(intermediate value\)/);
    expect(await fingerprint(), label).toBe(baseline);
    if (options.render) expect((await renderProbe()).equals(baselineWav), `${label}: output changed`).toBe(true);
  }

  beforeAll(async () => {
    root = dirname(workspace);
    outside = join(root, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "secret.txt"), "SECRET-CONTENT-1234");
    await engine.execute(["stream", "stop"]);
    baselineWav = await renderProbe();
    baseline = await fingerprint();
  });

  it("every command with every wrong atom type: an error, nothing changed", async () => {
    const help = await engine.execute(["help"]);
    const commands = help.values as string[];
    expect(commands.length).toBeGreaterThan(20);
    const long = "x".repeat(tb.control.LIMITS.wordChars + 1);
    // Wrong for every command, whatever it takes.
    const generic: tb.control.Atom[][] = [[long], [Number.NaN], [Number.POSITIVE_INFINITY], ["keep", Number.NEGATIVE_INFINITY], new Array(tb.control.LIMITS.atoms).fill(1)];
    // Wrong for one command: missing, mistyped, extra or out-of-domain atoms.
    const specific: Record<string, tb.control.Atom[][]> = {
      help: [["x"]], models: [[1]], weights: [["x"]], reset: [["x"]], bendings: [[1]], controls: [["x"]], versions: [[1]], dump: [["x"]],
      load: [[], [1], ["audio", "image"], ["../outside"], ["/etc"], ["zz-none"]],
      method: [[1], ["zz-none"], ["forward", "x"]],
      trace: [[1], ["zz-none"], ["forward", "x"]],
      activations: [[1], ["zz-none"], ["forward", 1]],
      graph: [[1], ["zz-none"], ["forward", 1]],
      bend: [[], [1], ["net_2_conv"], ["net_2_conv", 1], ["net_2_conv", "zz-none"], ["net_2_conv", "mask", "prob"], ["zz-none", "mask", "prob", 0.5], ["(", "mask"], ["net_2_conv", "lambda"]],
      unbend: [[], [1], ["zz-none"], ["net_2_conv", "x"]],
      set: [[], [1], ["keep"], ["keep", "loud"], [1, 0.5], ["zz-none", 0.5], ["keep", 0.5, 1]],
      get: [[], [1], ["zz-none"], ["keep", 1]],
      write: [[], [1], ["_default"], ["v", "w"], [".."], ["."], [".hidden"], ["a/b"], ["y".repeat(65)]],
      version: [[1], ["zz-none"], ["delete"], ["delete", "zz-none"], ["delete", "_default"], ["delete", 1], ["a", "b", "c"]],
      interpolate: [[], ["default"], ["default", "x"], [1, 1], ["zz-none", 1], ["default", 0], ["default", -1], ["default", 1, "zz-none", 1]],
      config: [[], ["save"], ["save", 1], ["save", ".."], ["save", "."], ["save", ".hidden"], ["save", "a/b"], ["save", "y".repeat(65)], ["save", "ok", "extra"], ["bogus", "x"], ["load", "zz-none"], ["load", ".."]],
      input: [[], ["x"], [1], [1, 2, 3, 4, 5, 6, 7, 8, 9]],
      render: [[], [1], ["x.wav"], ["x.wav", "long"], ["x.wav", -1], ["x.wav", 0], ["x.wav", 601], ["x.txt", 1], ["../outside/x.wav", 0.1], ["/tmp/x.wav", 0.1], ["x.wav", 0.1, 1]],
      stream: [[], [1], ["zz-none"], ["start", 1]],
      enable: [[], ["x"], [2], [-1], [0.5], [1, 1]],
      status: [["x"]],
    };
    let cases = 0;
    for (const command of commands) {
      for (const args of [...generic, ...(specific[command] ?? [])]) {
        const atoms = [command, ...args];
        const label = tb.control.formatLine(atoms).slice(0, 120);
        await expectRefused(await engine.execute(atoms), label);
        cases++;
      }
      // One render per command: its failures left the output exactly as it was.
      expect((await renderProbe()).equals(baselineWav), `${command}: output changed`).toBe(true);
    }
    expect(cases).toBeGreaterThan(200);
    // Unknown commands, and atoms that are not words or numbers, never reach a command.
    await expectRefused(await engine.execute(["zz-unknown"]), "unknown command");
    await expectRefused(await engine.execute([long]), "long command name");
  });

  it("WebSocket: deep, huge, empty and mistyped frames get an error reply; the server keeps serving", async () => {
    const client = await ws();
    const replies: { ok: boolean; values: unknown[]; id?: unknown }[] = [];
    client.on("message", (data, binary) => {
      if (!binary) replies.push(JSON.parse(String(data)));
    });
    const next = async (frame: string | Buffer) => {
      const start = replies.length;
      client.send(frame);
      for (let i = 0; i < 400 && replies.length === start; i++) await pause();
      expect(replies.length, `no reply to ${String(frame).slice(0, 60)}`).toBe(start + 1);
      return replies[start];
    };
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const frames = [
      `{"cmd": "status", "id": ${deep(5000)}}`,
      `{"cmd": "status", "args": ${deep(5000)}}`,
      `{"cmd": "set", "args": [${deep(3)}]}`,
      `{"cmd": "status", "id": {"a": 1}}`,
      `{"cmd": "status", "id": "${"i".repeat(300)}"}`,
      JSON.stringify({ cmd: "input", args: new Array(5000).fill(0.5) }),
      JSON.stringify({ cmd: "set", args: ["keep", "v".repeat(70 * 1024)] }),
      `set keep ${"9".repeat(70 * 1024)}`,
      JSON.stringify({ cmd: "set", args: ["keep", null] }),
      JSON.stringify([1, 2, 3]),
      "{}",
      "",
      "   ",
      "\n",
    ];
    for (const frame of frames) {
      const reply = await next(frame);
      expect(reply.ok, frame.slice(0, 60)).toBe(false);
      expect(reply.id, "a structure is never echoed").toBeUndefined();
      expect(JSON.stringify(reply).length).toBeLessThan(2000);
    }
    // a string id comes back; strings may hold brackets without counting as nesting
    const withId = await next(JSON.stringify({ cmd: "get", args: ["keep"], id: "[[[[[[" }));
    expect(withId).toMatchObject({ ok: true, id: "[[[[[[" });
    // a frame over the socket's limit closes that connection only
    const big = await ws();
    const closed = new Promise((r) => big.once("close", r));
    big.on("error", () => undefined);
    big.send("x".repeat(2 << 20));
    await closed;
    expect((await next("status")).ok).toBe(true);
    expect(await fingerprint()).toBe(baseline);
    client.close();
  });

  it("OSC: malformed and truncated packets get an error reply to the sender", async () => {
    const inbox: { address: string; args: { value: unknown }[] }[] = [];
    const listener = (data: Buffer) => {
      try {
        inbox.push(osc.readPacket(new Uint8Array(data), { metadata: true }) as (typeof inbox)[number]);
      } catch {
        // not OSC
      }
    };
    udp.on("message", listener);
    const good = oscBytes("/tfbend/set", transports.toOscArgs(["keep", 0.9]));
    const packets = [
      Uint8Array.from([1, 2, 3, 4, 5, 6, 7]),
      good.subarray(0, good.length - 3),
      Uint8Array.from([47, 116, 102, 98, 0, 0, 0, 0, 44, 120, 0, 0]), // "/tfb" with an unknown type tag 'x'
      oscBytes("/tfbend/set", [{ type: "s", value: "keep" }, { type: "s", value: "z".repeat(5000) }]),
      Uint8Array.from([...new TextEncoder().encode("/tfbend/set\0"), 44, 105, 0, 0]), // ",i" and no int after it
    ];
    for (const packet of packets) {
      const start = inbox.length;
      udp.send(packet, oscServer.port, "127.0.0.1");
      for (let i = 0; i < 200 && !inbox.slice(start).some((m) => m.address === "/tfbend/error"); i++) await pause();
      const error = inbox.slice(start).find((m) => m.address === "/tfbend/error");
      expect(error, `packet of ${packet.length} bytes`).toBeDefined();
      // What is wrong, never the decoder's internals or the packet's bytes echoed back.
      const text = error!.args.map((a) => String(a.value)).join(" ");
      expect(text).not.toMatch(/DataView|offset|bounds|undefined|zzzz|\\x|0x/i);
    }
    udp.off("message", listener);
    expect(await fingerprint()).toBe(baseline);
  });

  it("symlink layouts: renders and presets never land outside the workspace; a failed save adds no preset", async () => {
    symlinkSync(outside, join(workspace, "out"));
    symlinkSync(join(outside, "made.wav"), join(workspace, "dangling.wav"));
    mkdirSync(join(workspace, "configs"), { recursive: true });
    symlinkSync(join(outside, "evil.json"), join(workspace, "configs", "evil.json"));
    symlinkSync(outside, join(workspace, "models-link"));
    baseline = await fingerprint();
    await expectRefused(await engine.execute(["render", "out/x.wav", 0.1]), "render into a linked folder", { render: true });
    await expectRefused(await engine.execute(["render", "dangling.wav", 0.1]), "render onto a dangling link");
    await expectRefused(await engine.execute(["config", "save", "evil"]), "config save onto a dangling link");
    await expectRefused(await engine.execute(["load", "models-link"]), "load through a link outside");
    await expectRefused(await engine.execute(["load", "out/../../outside"]), "load above the workspace");
    // configs itself a link pointing outside
    rmSync(join(workspace, "configs"), { recursive: true });
    symlinkSync(outside, join(workspace, "configs"));
    baseline = await fingerprint();
    await expectRefused(await engine.execute(["config", "save", "fine"]), "config save into a linked configs folder", { render: true });
    expect(readdirSync(outside).sort()).toEqual(["secret.txt"]);
    for (const link of ["out", "dangling.wav", "configs", "models-link"]) rmSync(join(workspace, link));
    baseline = await fingerprint();
  });

  it("hostile manifests: confined, errors never quote content, numbers bounded before allocating", async () => {
    const source = join(root, "models", "audio");
    const manifestOf = () => JSON.parse(readFileSync(join(source, "tfbend.json"), "utf8"));
    let n = 0;
    const hostile = (change: (m: Record<string, unknown>, dir: string) => void) => {
      const dir = join(workspace, `evil${n++}`);
      cpSync(source, dir, { recursive: true });
      const m = manifestOf();
      change(m, dir);
      writeFileSync(join(dir, "tfbend.json"), JSON.stringify(m));
      return relative(workspace, dir);
    };
    const safetensors = (header: object) => {
      const json = Buffer.from(JSON.stringify(header));
      const out = Buffer.alloc(8 + json.length + 16);
      out.writeBigUInt64LE(BigInt(json.length), 0);
      json.copy(out, 8);
      return out;
    };
    const folders = [
      hostile((m) => (m.weights = "../../outside/secret.txt")),
      hostile((m) => (m.weights = join(outside, "secret.txt"))),
      hostile((m, dir) => {
        writeFileSync(join(dir, "notes.safetensors"), "SECRET-CONTENT-1234");
        m.weights = "notes.safetensors";
      }),
      hostile((m, dir) => {
        symlinkSync(join(outside, "secret.txt"), join(dir, "linked.safetensors"));
        m.weights = "linked.safetensors";
      }),
      hostile((m) => (m.config = "/etc/passwd")),
      hostile((m) => (m.config = "../../outside/secret.txt")),
      hostile((m, dir) => {
        cpSync(join(outside, "secret.txt"), join(dir, "bending.json"));
        m.config = "bending.json";
      }),
      hostile((m) => (m.versions = { v: "../../outside/secret.txt" })),
      hostile((m) => (m.versions = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`v${i}`, "decoder.safetensors"])))),
      hostile((m) => (m.traces = { forward: [[100000, 100000, 100000]] })),
      hostile((m) => (m.traces = { forward: [[1, 8, -8]] })),
      hostile((m) => (m.traces = { forward: "x" })),
      hostile((m) => (m.metadata = { kind: "audio", latent_dim: "1000000000000" })),
      hostile((m) => (m.metadata = { kind: "audio", ratio: "-3" })),
      hostile((m) => (m.architecture = { kind: "registered", name: "stanley", options: { nChannels: 1e12 } })),
      hostile((m) => (m.architecture = { kind: "layers-model", path: "../../outside/secret.txt" })),
      hostile((m) => (m.architecture = "x")),
      hostile((m) => (m.weights = 5)),
      hostile((m, dir) => {
        writeFileSync(join(dir, "shape.safetensors"), safetensors({ w: { dtype: "F32", shape: "x", data_offsets: [0, 16] } }));
        m.weights = "shape.safetensors";
      }),
      hostile((m, dir) => {
        writeFileSync(join(dir, "huge.safetensors"), safetensors({ w: { dtype: "F32", shape: [1e6, 1e6], data_offsets: [0, 16] } }));
        m.weights = "huge.safetensors";
      }),
      hostile((m, dir) => {
        writeFileSync(join(dir, "offsets.safetensors"), safetensors({ w: { dtype: "F32", shape: [4], data_offsets: "x" } }));
        m.weights = "offsets.safetensors";
      }),
      hostile((m, dir) => {
        writeFileSync(join(dir, "dtype.safetensors"), safetensors({ w: { dtype: ["F32"], shape: [4], data_offsets: [0, 16] } }));
        m.weights = "dtype.safetensors";
      }),
    ];
    // a manifest that is not JSON (its content must not be quoted back)
    const broken = hostile(() => undefined);
    writeFileSync(join(workspace, broken, "tfbend.json"), '{"format": "tfbend", SECRET-CONTENT-1234');
    folders.push(broken);
    // the manifest itself a link to a file outside
    const linked = join(workspace, `evil${n++}`);
    mkdirSync(linked);
    symlinkSync(join(outside, "secret.txt"), join(linked, "tfbend.json"));
    folders.push(relative(workspace, linked));
    // a FIFO as the model file and as a manifest's weights: opening one would block the thread
    execFileSync("mkfifo", [join(workspace, "pipe.ts")]);
    folders.push("pipe.ts");
    folders.push(hostile((m, dir) => {
      execFileSync("mkfifo", [join(dir, "pipe.safetensors")]);
      m.weights = "pipe.safetensors";
    }));
    baseline = await fingerprint();
    for (const folder of folders) {
      const t0 = performance.now();
      const reply = await engine.execute(["load", folder]);
      await expectRefused(reply, `load ${folder}: ${JSON.stringify(reply.values).slice(0, 160)}`);
      expect(String(reply.values[0])).not.toContain("SECRET");
      expect(performance.now() - t0, `load ${folder} stalls`).toBeLessThan(5000);
    }
    expect((await renderProbe()).equals(baselineWav)).toBe(true);
    expect((await engine.execute(["status"])).values).toContain("audio");
  });
});
