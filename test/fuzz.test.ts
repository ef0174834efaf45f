// 10,000 random and mutated messages over real OSC and WebSocket sockets: every one is
// answered or dropped, the process keeps serving, and the model's output is unchanged.
// Then a flood of `set` while streaming: blocks keep coming, the latest value wins.
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { startPlugin, type RunningPlugin } from "./session-fixture.js";

const { control } = tb;

let plugin: RunningPlugin;
let engine: tb.control.Engine;
let oscServer: tb.control.OscServer;
let wsServer: tb.control.WsServer;
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
        const good = oscBytes("/tfbend/set", control.toOscArgs(["keep", 0.9]));
        packet = good.subarray(0, Math.max(1, Math.floor(rand() * (good.length - 1))));
      } else if (kind === 2) packet = oscBytes(pick(["/", "/tfbend", "/tfbend/a/b", "/other/set", `/tfbend/${word()}`]), [{ type: "f", value: rand() }]);
      else if (kind === 3) packet = oscBytes("/tfbend/set", [{ type: "b", value: new Uint8Array([1, 2, 3]) }, { type: "f", value: 0.9 }]);
      else {
        const [cmd, ...args] = mutated();
        packet = oscBytes(`/tfbend/${cmd}`, control.toOscArgs(args));
      }
      udp.send(packet, oscServer.boundPort, "127.0.0.1");
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
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) {
      client.send(`set keep ${(i % 100) / 100}`);
      if (i % 50 === 0) await pause(); // ~5,000 per second
    }
    client.send("set keep 0.77");
    await new Promise((r) => setTimeout(r, 300));
    const seconds = (performance.now() - t0) / 1000;
    await engine.execute(["stream", "stop"]);
    const blockSeconds = 2048 / 44100;
    expect(frames).toBeGreaterThan((seconds / blockSeconds) * 0.6);
    expect((await engine.execute(["get", "keep"])).values).toEqual(["keep", 0.77]);
    client.close();
  });
});
