// Limits on everything a client can make the plugin hold, over real sockets on
// 127.0.0.1: a WebSocket handshake trickled a byte at a time is closed, pending
// handshakes and WebSocket clients are capped, silent Jitter-in connections are closed and
// capped, an OSC bundle carries at most so many commands, and replies per second per
// client are cut (dropped and counted). Each limit is declared to the engine for `status`.
import { connect, type Socket as TcpSocket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket as UdpSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { oscClient, type OscMessage } from "./helpers.js";

type Reply = tb.control.Reply;

/** An engine that answers every command ok at once, records them and the limits declared to it. */
class StubEngine implements tb.transports.CommandEngine {
  readonly executed: Promise<Reply>[] = [];
  readonly limits: tb.transports.ClientLimits = {};
  execute(atoms: tb.control.Atom[]): Promise<Reply> {
    const reply = Promise.resolve({ command: String(atoms[0]), ok: true, values: atoms.slice(1) });
    this.executed.push(reply);
    return reply;
  }
  pushAudio(): Promise<Reply> {
    return Promise.resolve({ command: "audio_in", ok: true, values: [] });
  }
  onBlock(): () => void {
    return () => {};
  }
  onChange(): () => void {
    return () => {};
  }
  declareLimits(limits: tb.transports.ClientLimits): void {
    Object.assign(this.limits, limits);
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Resolves when `socket` closes, with how long that took (ms). */
function closed(socket: TcpSocket): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => socket.once("close", () => resolve(performance.now() - started)));
}

async function tcp(port: number): Promise<TcpSocket> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {}); // a reset by the server is what some tests wait for
  await new Promise((r) => socket.once("connect", r));
  return socket;
}

/** Resolves once `inbox` holds `n` messages. */
function received(udp: UdpSocket, inbox: OscMessage[], n: number): Promise<OscMessage[]> {
  return new Promise((resolve) => {
    const check = () => {
      if (inbox.length < n) return;
      udp.off("message", onMessage);
      resolve(inbox.slice(0, n));
    };
    const onMessage = () => setImmediate(check); // the inbox fills in another listener
    udp.on("message", onMessage);
    check();
  });
}

async function oscSetup(options: tb.transports.OscOptions): Promise<{ engine: StubEngine; server: tb.transports.OscServer; udp: UdpSocket; inbox: OscMessage[] }> {
  const engine = new StubEngine();
  const server = new tb.transports.OscServer(engine, { host: "127.0.0.1", port: 0, ...options });
  await server.ready;
  const inbox: OscMessage[] = [];
  const udp = await oscClient(inbox);
  cleanups.push(() => server.close(), () => udp.close());
  return { engine, server, udp, inbox };
}

function bundle(count: number): Uint8Array {
  const packets = Array.from({ length: count }, (_, i) => ({ address: "/tfbend/ping", args: [{ type: "i", value: i }] }));
  return osc.writePacket({ timeTag: osc.timeTag(0), packets }, { metadata: true });
}

describe("OSC limits", () => {
  it("a bundle carries at most so many commands; the rest are refused with one error", async () => {
    const { engine, server, udp, inbox } = await oscSetup({ maxCommandsPerDatagram: 8 });
    expect(engine.limits.osc_commands_per_datagram).toBe(8);
    udp.send(bundle(40), server.port, "127.0.0.1");
    const replies = await received(udp, inbox, 9);
    expect(engine.executed.length).toBe(8);
    expect(server.commandsRefused).toBe(32);
    expect(replies.filter((m) => m.address === "/tfbend/ok")).toHaveLength(8);
    const errors = replies.filter((m) => m.address === "/tfbend/error");
    expect(errors).toHaveLength(1);
    expect(String(errors[0].args[1].value)).toMatch(/at most 8 commands/);
  });

  it("replies per second per client are cut: the excess is dropped and counted, not queued", async () => {
    const { engine, server, udp, inbox } = await oscSetup({ repliesPerSecond: 5 });
    udp.send(bundle(20), server.port, "127.0.0.1"); // a burst of two seconds' worth (10) goes out
    await new Promise<void>((resolve) => udp.once("message", () => resolve()));
    await Promise.all(engine.executed);
    await new Promise((r) => setImmediate(r)); // the replies go out right after their commands
    expect(engine.executed.length).toBe(20);
    const sent = 20 - server.repliesDropped;
    expect(server.repliesDropped).toBeGreaterThanOrEqual(9);
    expect((await received(udp, inbox, sent)).every((m) => m.address === "/tfbend/ok")).toBe(true);
  });

  it("ReplyRate refills at its rate", () => {
    const rate = new tb.transports.ReplyRate(10);
    let passed = 0;
    for (let i = 0; i < 30; i++) if (rate.take("a", 0)) passed++;
    expect(passed).toBe(20); // a burst of two seconds' worth
    expect(rate.dropped).toBe(10);
    expect(rate.take("a", 50)).toBe(false); // half a token: not yet
    expect(rate.take("a", 200)).toBe(true);
  });
});

describe("WebSocket limits", () => {
  async function wsSetup(options: tb.transports.WsOptions): Promise<{ engine: StubEngine; server: tb.transports.WsServer }> {
    const engine = new StubEngine();
    const server = new tb.transports.WsServer(engine, { host: "127.0.0.1", port: 0, ...options });
    await server.ready;
    cleanups.push(() => server.close());
    return { engine, server };
  }

  it("a handshake trickled a byte at a time is closed after the handshake timeout", async () => {
    const { engine, server } = await wsSetup({ handshakeTimeoutMs: 300 });
    expect(engine.limits.ws_handshake_ms).toBe(300);
    const socket = await tcp(server.port);
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
    let at = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && at < request.length) socket.write(request.subarray(at, ++at));
    }, 20);
    cleanups.push(() => clearInterval(trickle));
    const ms = await closed(socket);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(server.refusedConnections).toBe(1);
  });

  it("pending handshakes and clients are capped; a client past the cap hears 503", async () => {
    const { server } = await wsSetup({ maxPendingHandshakes: 2, maxClients: 1 });
    const idle = [await tcp(server.port), await tcp(server.port)];
    const third = await tcp(server.port);
    await closed(third);
    expect(idle.every((s) => !s.destroyed)).toBe(true);
    expect(server.refusedConnections).toBe(1);
    for (const s of idle) {
      const gone = closed(s);
      s.destroy();
      await gone;
    }
    const first = new WebSocket(`ws://127.0.0.1:${server.port}`);
    cleanups.push(() => first.terminate());
    await new Promise((r) => first.once("open", r));
    const second = new WebSocket(`ws://127.0.0.1:${server.port}`);
    second.on("error", () => {});
    const status = await new Promise<number>((resolve) => second.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(503);
    // the first client is served
    const reply = new Promise<string>((resolve) => first.once("message", (data) => resolve(String(data))));
    first.send("ping 1");
    expect(JSON.parse(await reply)).toMatchObject({ type: "reply", ok: true, command: "ping" });
  });
});

describe("Jitter-in limits", () => {
  it("connections are capped and a silent one is closed after the idle timeout", async () => {
    const engine = new StubEngine();
    const receiver = new tb.transports.JitterReceiver(engine, { host: "127.0.0.1", port: 0, maxConnections: 2, idleTimeoutMs: 300 });
    await receiver.ready;
    cleanups.push(() => receiver.close());
    expect(engine.limits).toMatchObject({ jitter_connections: 2, jitter_idle_ms: 300 });
    const a = await tcp(receiver.port);
    const b = await tcp(receiver.port);
    const c = await tcp(receiver.port);
    const [ta, tb2, tc] = await Promise.all([closed(a), closed(b), closed(c)]);
    expect(tc).toBeLessThan(ta);
    expect(Math.min(ta, tb2)).toBeGreaterThanOrEqual(250);
    expect(receiver.stats().closedByLimits).toBe(3);
  });
});

describe("status lists the limits", () => {
  it("each transport's limits are in the engine's status as limit_<name> and a limits dict", async () => {
    const root = mkdtempSync(join(tmpdir(), "tfbend-limits-"));
    const engine = await tb.control.Engine.start({ workspace: root, modelsDir: join(root, "models") });
    const server = new tb.transports.OscServer(engine, { host: "127.0.0.1", port: 0, maxCommandsPerDatagram: 16 });
    const ws = new tb.transports.WsServer(engine, { host: "127.0.0.1", port: 0 });
    cleanups.push(() => rmSync(root, { recursive: true, force: true }), () => engine.close(), () => server.close(), () => ws.close());
    await Promise.all([server.ready, ws.ready]);
    const status = await engine.execute(["status"]);
    const values = status.values;
    const at = (name: string) => values[values.indexOf(name) + 1];
    expect(at("limit_osc_commands_per_datagram")).toBe(16);
    expect(at("limit_ws_handshake_ms")).toBe(tb.transports.CLIENT_LIMITS.ws_handshake_ms);
    expect((status.dict as { limits: Record<string, number> }).limits).toMatchObject({ osc_subscribers: 64, ws_clients: tb.transports.CLIENT_LIMITS.ws_clients });
  });
});
