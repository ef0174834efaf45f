// OSC, WebSocket and Max end in the same command table: same replies, same errors,
// real sockets on 127.0.0.1 started and stopped here.
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { makeModelsDir, startPlugin, type RunningPlugin } from "./session-fixture.js";
import { oscClient, type OscMessage } from "./helpers.js";

const { control, transports } = tb;
type Reply = tb.control.Reply;

let plugin: RunningPlugin;
let engine: tb.control.Engine;
let oscServer: tb.transports.OscServer;
let wsServer: tb.transports.WsServer;
let udp: Socket;
const oscInbox: OscMessage[] = [];

beforeAll(async () => {
  plugin = await startPlugin();
  ({ engine, oscServer, wsServer } = plugin);
  udp = await oscClient(oscInbox);
});

afterAll(async () => {
  udp.close();
  await plugin.close();
});

function sendOsc(address: string, args: { type: string; value: unknown }[]): void {
  const bytes = osc.writePacket({ address, args }, { metadata: true });
  udp.send(bytes, oscServer.port, "127.0.0.1");
}

async function oscCommand(command: string, atoms: tb.control.Atom[] = []): Promise<(typeof oscInbox)[number]> {
  const start = oscInbox.length;
  sendOsc(`/tfbend/${command}`, transports.toOscArgs(atoms));
  for (let i = 0; i < 200; i++) {
    const found = oscInbox.slice(start).find((m) => (m.address === "/tfbend/ok" || m.address === "/tfbend/error") && m.args[0]?.value === command);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no OSC reply to ${command}`);
}

async function wsClient(): Promise<{ socket: WebSocket; messages: unknown[]; frames: Buffer[] }> {
  const socket = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
  const messages: unknown[] = [];
  const frames: Buffer[] = [];
  socket.on("message", (data, isBinary) => (isBinary ? frames.push(data as Buffer) : messages.push(JSON.parse(String(data)))));
  await new Promise((r) => socket.once("open", r));
  return { socket, messages, frames };
}

async function wsCommand(client: Awaited<ReturnType<typeof wsClient>>, text: string): Promise<Reply & { type: string }> {
  const start = client.messages.length;
  client.socket.send(text);
  for (let i = 0; i < 200; i++) {
    const found = client.messages.slice(start).find((m) => (m as { type: string }).type === "reply");
    if (found) return found as Reply & { type: string };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no WebSocket reply to ${text}`);
}

describe("transports", () => {
  it("OSC and WebSocket give the same replies and errors", async () => {
    const ws = await wsClient();
    const oscWeights = await oscCommand("weights");
    const wsWeights = await wsCommand(ws, "weights");
    expect(oscWeights.address).toBe("/tfbend/ok");
    expect(oscWeights.args.slice(1).map((a) => a.value)).toEqual(wsWeights.values);
    const oscError = await oscCommand("set", ["nope", 1]);
    const wsError = await wsCommand(ws, JSON.stringify({ cmd: "set", args: ["nope", 1] }));
    expect(oscError.address).toBe("/tfbend/error");
    expect(wsError.ok).toBe(false);
    expect(oscError.args[1].value).toBe(wsError.values[0]);
    ws.socket.close();
  });

  it("sends numbers as OSC floats, even integral ones", async () => {
    await oscCommand("bend", ["net_2_conv", "mask", "prob", "@level=1", "dim", -2]);
    const reply = await oscCommand("get", ["level"]);
    expect(reply.args[2]).toEqual({ type: "f", value: 1 });
    await oscCommand("reset");
  });

  it("takes numbers sent as OSC strings, and says which argument is wrong and what to send", async () => {
    const strings = (atoms: string[]) => atoms.map((value) => ({ type: "s", value }));
    const reply = async (command: string, atoms: string[]) => {
      const start = oscInbox.length;
      sendOsc(`/tfbend/${command}`, strings(atoms));
      for (let i = 0; i < 200; i++) {
        const found = oscInbox.slice(start).find((m) => (m.address === "/tfbend/ok" || m.address === "/tfbend/error") && m.args[0]?.value === command);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no OSC reply to ${command}`);
    };
    await oscCommand("reset");
    expect((await reply("bend", ["net_2_conv", "mask", "prob", "0.3", "dim", "-2"])).address).toBe("/tfbend/ok");
    const typo = await reply("bend", ["net_2_conv", "mask", "prb", "0.3"]);
    expect(typo.address).toBe("/tfbend/error");
    expect(String(typo.args[1].value)).toMatch(/Mask has no argument 'prb' \(its arguments: prob, dim, seed\)/);
    const dim = await reply("bend", ["net_2_conv", "mask", "prob", "0.3", "dim", "x"]);
    expect(String(dim.args[1].value)).toMatch(/Mask dim must be an integer axis .*got the word 'x'/);
    expect((await oscCommand("bendings")).args.slice(1).map((a) => a.value)).toEqual(["Mask(prob=0.300, dim=-2)"]);
    await oscCommand("reset");
  });

  it("announces a bending made over OSC to WebSocket clients", async () => {
    const ws = await wsClient();
    await oscCommand("bend", ["net_3_conv1", "scale", "scale", 0.5]);
    for (let i = 0; i < 100 && !ws.messages.some((m) => (m as { type: string }).type === "event"); i++) await new Promise((r) => setTimeout(r, 10));
    expect(ws.messages).toContainEqual(expect.objectContaining({ type: "event", command: "bend" }));
    await oscCommand("reset");
    ws.socket.close();
  });

  it("streams binary frames over WebSocket and blobs over OSC, while commands are answered", async () => {
    const ws = await wsClient();
    const start = oscInbox.length;
    await oscCommand("stream", ["start"]);
    const t0 = performance.now();
    const status = await wsCommand(ws, "status");
    expect(performance.now() - t0).toBeLessThan(200);
    expect(status.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    await oscCommand("stream", ["stop"]);
    expect(ws.frames.length).toBeGreaterThan(2);
    const block = control.decodeFrame(ws.frames[0]);
    expect(block).toMatchObject({ stream: "audio", sampleRate: 44100, frames: 2048, channels: 1 });
    expect(block.data.length).toBe(2048);
    const blobs = oscInbox.slice(start).filter((m) => m.address === "/tfbend/audio");
    expect(blobs.length).toBeGreaterThan(2);
    expect((blobs[0].args[4].value as Uint8Array).byteLength).toBe(4096);
    ws.socket.close();
  });

  it("answers get and set on the transport thread while the inference thread is busy; the stream applies them in order", async () => {
    const ws = await wsClient();
    expect((await wsCommand(ws, "bend net_2_conv mask prob @gate=0.5 dim -2")).ok).toBe(true);
    expect((await wsCommand(ws, "get gate")).values).toEqual(["gate", 0.5]); // the controls reached the main thread
    plugin.threads.busy(1500); // as if a block took 1.5 s to render
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    expect(await wsCommand(ws, "set gate 0.25")).toMatchObject({ ok: true, values: ["gate", 0.25] });
    expect(await wsCommand(ws, "get gate")).toMatchObject({ ok: true, values: ["gate", 0.25] });
    const quick = performance.now() - t0;
    const slow = await engine.execute(["controls"]); // the inference thread answers this one
    const waited = performance.now() - t0;
    expect(quick).toBeLessThan(500);
    expect(waited).toBeGreaterThan(1000);
    const values = slow.values;
    expect(values[values.indexOf("gate") + 1]).toBe(0.25); // the set reached the session
    expect(await wsCommand(ws, "set gate nope")).toMatchObject({ ok: false, values: [expect.stringMatching(/must be a number/)] });
    // a command that may change controls is answered by the inference thread, and so is what follows it
    plugin.threads.busy(300);
    const bend = engine.execute(["bend", "net_3_conv1", "scale", "scale", "@gate=0.9"]);
    const get = await engine.execute(["get", "gate"]);
    expect((await bend).ok).toBe(true);
    expect(get.values).toEqual(["gate", 0.25]); // an existing control keeps its value
    await wsCommand(ws, "reset");
    ws.socket.close();
  });

  it("drives the Max entry through a stand-in with max-api's interface", async () => {
    const outlets: unknown[][] = [];
    const dicts = new Map<string, object>();
    const handlers = new Map<string, (...args: never[]) => unknown>();
    let onOutlet: (args: unknown[]) => void = () => undefined;
    const maxApi: tb.transports.MaxApiLike = {
      MESSAGE_TYPES: { ALL: "all" },
      addHandler: (selector, handler) => void handlers.set(selector, handler),
      outlet: async (...args) => {
        outlets.push(args);
        onOutlet(args);
      },
      post: async () => undefined,
      setDict: async (id, dict) => (dicts.set(id, dict), dict),
    };
    const dirs = await makeModelsDir();
    mkdirSync(dirs.workspace, { recursive: true });
    const max = await transports.startMax(maxApi, { ...dirs, model: "audio" });
    const call = async (selector: string, ...args: (string | number)[]) => {
      await (handlers.get(selector) as unknown as (...a: unknown[]) => Promise<void>)(...args);
    };
    await call("bend", "net_2_conv", "mask", "prob", 0.4, "dim", -2);
    expect(outlets.at(-1)!.slice(0, 3)).toEqual(["ok", "bend", "net_2_conv"]);
    await call("weights");
    expect(outlets).toContainEqual(["dict", "weights", "tfbend_weights"]);
    expect((dicts.get("tfbend_weights") as { items: unknown[] }).items.length).toBeGreaterThan(10);
    await call("set", "nothing", 1);
    expect(outlets.at(-1)!.slice(0, 2)).toEqual(["error", "set"]);
    // The catch-all handler answers without being awaited: wait for its outlet.
    const answered = new Promise<unknown[]>((resolve) => (onOutlet = (args) => args[1] === "frobnicate" && resolve(args)));
    await (handlers.get("all") as unknown as (...a: unknown[]) => Promise<void>)(false, "frobnicate", 1);
    expect((await answered).slice(0, 2)).toEqual(["error", "frobnicate"]);
    await max.close();
  });

  it("restarts the inference thread if it dies, and keeps serving", async () => {
    await plugin.threads.crash();
    const reply = await engine.execute(["weights"]);
    expect(reply.ok).toBe(true);
    expect(reply.values[0]).toBe("net.0.weight");
    expect(engine.restarts).toBe(1);
    expect((await oscCommand("activations")).address).toBe("/tfbend/ok");
  });
});

describe("WebSocket origins", () => {
  it("accepts patch clients and local pages, refuses other web pages", () => {
    const { originAllowed } = tb.transports;
    expect(originAllowed(undefined, [])).toBe(true);
    expect(originAllowed("http://127.0.0.1:7401", [])).toBe(true);
    expect(originAllowed("http://localhost:5173", [])).toBe(true);
    expect(originAllowed("https://evil.example", [])).toBe(false);
    expect(originAllowed("null", [])).toBe(false);
    expect(originAllowed("https://show.example", ["https://show.example"])).toBe(true);
  });

  it("a browser page from elsewhere cannot open the socket", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${wsServer.port}`, { origin: "https://evil.example" });
    const outcome = await new Promise((r) => {
      socket.once("open", () => r("open"));
      socket.once("error", () => r("refused"));
    });
    expect(outcome).toBe("refused");
  });
});

describe("engine start failures", () => {
  it("a thread that fails to start is reported, not restarted in a loop", async () => {
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void errors.push(args.join(" "));
    try {
      await expect(control.Engine.start({ modelsDir: "/nonexistent", workspace: undefined as unknown as string, model: "audio" })).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 800));
      expect(errors.filter((e) => String(e).includes("restarting with model")).length).toBe(0);
      expect(errors.some((e) => String(e).includes("not restarting it (it failed to start)"))).toBe(true);
    } finally {
      console.error = original;
    }
  });
});

describe("transport guards", () => {
  it("an exception in a handler is answered with an error, logged once, and the servers keep serving", async () => {
    let calls = 0;
    const failing = {
      onBlock: () => () => undefined,
      onChange: () => () => undefined,
      execute: async () => {
        calls++;
        throw new Error("boom in a handler");
      },
    } as unknown as tb.control.Engine;
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void errors.push(args.join(" "));
    const wsServer = new transports.WsServer(failing, { host: "127.0.0.1", port: 0, http: () => { throw new Error("boom in a route"); } });
    const oscServer = new transports.OscServer(failing, { host: "127.0.0.1", port: 0 });
    try {
      await Promise.all([wsServer.ready, oscServer.ready]);
      const socket = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
      const replies: { ok: boolean; values: string[] }[] = [];
      socket.on("message", (data) => replies.push(JSON.parse(String(data))));
      await new Promise((r) => socket.once("open", r));
      socket.send("status x");
      socket.send("weights");
      for (let i = 0; i < 200 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(replies.map((r) => r.ok)).toEqual([false, false]);
      expect(replies[1].values[0]).toMatch(/internal error.*boom in a handler/);
      const page = await fetch(`http://127.0.0.1:${wsServer.port}/`);
      expect(page.status).toBe(500);
      const inbox: { address: string }[] = [];
      const client = createSocket("udp4");
      await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
      client.on("message", (data) => inbox.push(osc.readPacket(new Uint8Array(data), { metadata: true }) as { address: string }));
      client.send(osc.writePacket({ address: "/tfbend/weights", args: [] }, { metadata: true }), oscServer.port, "127.0.0.1");
      for (let i = 0; i < 200 && inbox.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(inbox[0]?.address).toBe("/tfbend/error");
      client.close();
      socket.close();
      expect(calls).toBe(3);
      expect(errors.filter((e) => String(e).includes("boom in a handler")).length).toBe(2); // once for ws, once for osc
    } finally {
      console.error = original;
      await oscServer.close();
      await wsServer.close();
    }
  });
});

describe("the transport base", () => {
  it("OSC, WebSocket and the Jitter receiver are one kind of server: ready, then .port is the port bound", async () => {
    const servers = [
      new transports.OscServer(engine, { host: "127.0.0.1", port: 0 }),
      new transports.WsServer(engine, { host: "127.0.0.1", port: 0 }),
      new transports.JitterReceiver(engine, { host: "127.0.0.1", port: 0 }),
    ];
    try {
      await Promise.all(servers.map((s) => s.ready));
      for (const s of servers) {
        expect(s).toBeInstanceOf(transports.Transport);
        expect(s.port, s.name).toBeGreaterThan(0);
      }
      expect(new Set(servers.map((s) => s.port)).size).toBe(3);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  it("lets one error a second through per sender and counts the ones held back", () => {
    const throttle = new transports.ErrorThrottle();
    expect(throttle.pass("a", 0)).toBe(0);
    expect(throttle.pass("a", 400)).toBeNull();
    expect(throttle.pass("b", 400)).toBe(0);
    expect(throttle.pass("a", 999)).toBeNull();
    expect(throttle.pass("a", 1000)).toBe(2);
    expect(throttle.pass("a", 1500)).toBeNull();
  });

  it("live input takes 1..64 channels", () => {
    expect([0, 1, 64, 65, 1.5, Number.NaN].map((c) => transports.channelsProblem(c))).toEqual([
      "audio_in: channels must be 1..64", null, null, "audio_in: channels must be 1..64", "audio_in: channels must be 1..64", "audio_in: channels must be 1..64",
    ]);
  });
});
