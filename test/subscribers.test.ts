// Who receives output blocks and change events: one subscriber per reply destination.
// Real sockets on 127.0.0.1; every wait is on a message arriving (a deadline only turns a
// hang into a failure). Datagrams from one socket to one destination arrive in order on
// the loopback, so a reply that arrives after a block was sent proves every earlier
// copy of it has arrived too.
import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { startPlugin, type RunningPlugin } from "./session-fixture.js";
import type { OscMessage } from "./helpers.js";

const { transports } = tb;
const HOST = "127.0.0.1";
const DEADLINE_MS = 30_000;

/** Messages in arrival order; `until` resolves when one arriving from now on (or already there past `from`) matches. */
class Inbox<T> {
  readonly messages: T[] = [];
  private waiters: { from: number; match: (m: T) => boolean; resolve: (m: T) => void }[] = [];

  push(message: T): void {
    this.messages.push(message);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(message)) return true;
      w.resolve(message);
      return false;
    });
  }

  until(match: (m: T) => boolean, from = this.messages.length, what = "a message"): Promise<T> {
    const there = this.messages.slice(from).find(match);
    if (there) return Promise.resolve(there);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms`)), DEADLINE_MS);
      this.waiters.push({ from, match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** Resolves when `n` messages since `from` match. */
  untilCount(match: (m: T) => boolean, n: number, from: number, what: string): Promise<void> {
    let seen = this.since(from).filter(match).length;
    if (seen >= n) return Promise.resolve();
    return this.until((m) => match(m) && ++seen >= n, this.messages.length, what).then(() => undefined);
  }

  since(from: number): T[] {
    return this.messages.slice(from);
  }
}

/** A UDP socket on 127.0.0.1 whose OSC messages go to an inbox. */
async function oscListener(): Promise<{ socket: Socket; port: number; inbox: Inbox<OscMessage> }> {
  const socket = createSocket("udp4");
  const inbox = new Inbox<OscMessage>();
  socket.on("message", (data) => inbox.push(osc.readPacket(new Uint8Array(data), { metadata: true }) as OscMessage));
  await new Promise<void>((r) => socket.bind(0, HOST, () => r()));
  return { socket, port: socket.address().port, inbox };
}

const isReply = (command: string) => (m: OscMessage) => (m.address === "/tfbend/ok" || m.address === "/tfbend/error") && m.args[0]?.value === command;
const isEvent = (command: string, first: string) => (m: OscMessage) => m.address === "/tfbend/event" && m.args[0]?.value === command && m.args[1]?.value === first;
const isAudio = (m: OscMessage) => m.address === "/tfbend/audio";
const seqOf = (m: OscMessage) => Number(m.args[0].value);

function send(from: Socket, port: number, command: string, atoms: tb.control.Atom[] = []): void {
  from.send(osc.writePacket({ address: `/tfbend/${command}`, args: transports.toOscArgs(atoms) }, { metadata: true }), port, HOST);
}

let plugin: RunningPlugin;

beforeAll(async () => {
  plugin = await startPlugin();
});

afterAll(async () => {
  await plugin.engine.execute(["stream", "stop"]);
  await plugin.close();
});

describe("OSC subscribers", () => {
  it("with --osc-reply, start/stop pairs from changing sender ports deliver each block and each event exactly once", async () => {
    const listener = await oscListener();
    const server = new transports.OscServer(plugin.engine, { host: HOST, port: 0, replyTo: { host: HOST, port: listener.port } });
    await server.ready;
    // As oscsend does: every command from a fresh socket (a new sender port), replies to one address.
    const command = async (name: string, atoms: tb.control.Atom[] = []): Promise<OscMessage> => {
      const from = createSocket("udp4");
      await new Promise<void>((r) => from.bind(0, HOST, () => r()));
      const start = listener.inbox.messages.length;
      send(from, server.port, name, atoms);
      const reply = await listener.inbox.until(isReply(name), start, `reply to ${name}`);
      from.close();
      expect(reply.address, `${name} ${atoms.join(" ")}`).toBe("/tfbend/ok");
      return reply;
    };
    try {
      for (let pair = 0; pair < 3; pair++) {
        await command("stream", ["start"]);
        await command("stream", ["stop"]);
      }
      expect(server.subscriberCount).toBe(0);
      await command("enable", [1]);
      await command("enable", ["0"]); // some senders send every atom as a string
      expect(server.subscriberCount).toBe(0);

      const started = listener.inbox.messages.length;
      await command("stream", ["start"]);
      expect(server.subscriberCount).toBe(1);
      await listener.inbox.untilCount((m) => isAudio(m) && m.args[2].value === 0, 4, started, "four blocks");
      await command("input", ["hold"]);
      await command("subscribe"); // already subscribed: still one
      expect(server.subscriberCount).toBe(1);
      await command("stream", ["stop"]); // every block sent before this reply has arrived
      expect(server.subscriberCount).toBe(0);

      const received = listener.inbox.since(started);
      const bySeq = new Map<number, number[]>();
      for (const m of received.filter(isAudio)) bySeq.set(seqOf(m), [...(bySeq.get(seqOf(m)) ?? []), Number(m.args[2].value)]);
      expect(bySeq.size).toBeGreaterThanOrEqual(4);
      for (const [seq, offsets] of bySeq) expect(offsets, `block ${seq}`).toEqual([0, 1024]); // 2048 frames in 1024-sample blobs, once each
      expect(received.filter(isEvent("input", "hold")).length).toBe(1);
      expect(received.filter(isEvent("stream", "stop")).length).toBe(1);

      // Stopped: nothing subscribed, so a change is answered and not announced to this address.
      const afterStop = listener.inbox.messages.length;
      await command("input", ["walk", 0.25]);
      expect(listener.inbox.since(afterStop).filter((m) => m.address === "/tfbend/event" || isAudio(m))).toEqual([]);
    } finally {
      listener.socket.close();
      await server.close();
    }
  });

  it("without --osc-reply, each sender is its own destination; unsubscribe ends its deliveries at once", async () => {
    const server = new transports.OscServer(plugin.engine, { host: HOST, port: 0 });
    await server.ready;
    const a = await oscListener();
    const b = await oscListener();
    const ask = async (client: typeof a, name: string, atoms: tb.control.Atom[] = []) => {
      const start = client.inbox.messages.length;
      send(client.socket, server.port, name, atoms);
      return client.inbox.until(isReply(name), start, `reply to ${name}`);
    };
    try {
      await ask(a, "subscribe");
      await ask(a, "subscribe");
      await ask(b, "stream", ["start"]);
      expect(server.subscriberCount).toBe(2);
      await a.inbox.until(isAudio, 0, "a block at a");
      const unsubscribed = await ask(a, "unsubscribe");
      expect(unsubscribed.address).toBe("/tfbend/ok");
      const after = a.inbox.messages.length;
      // b goes on receiving; a gets nothing sent after its unsubscribe was handled.
      await b.inbox.untilCount(isAudio, 4, b.inbox.messages.length, "two more blocks at b");
      await ask(a, "status"); // every datagram sent to a before this reply has arrived
      expect(a.inbox.since(after).filter(isAudio)).toEqual([]);
      // two subscriptions from one sender were one: no block reached a twice
      const seqs = a.inbox.messages.filter(isAudio).filter((m) => m.args[2].value === 0).map(seqOf);
      expect(new Set(seqs).size).toBe(seqs.length);
      await ask(b, "stream", ["stop"]);
      expect(server.subscriberCount).toBe(0);
    } finally {
      a.socket.close();
      b.socket.close();
      await server.close();
    }
  });

  it("a subscriber silent for the timeout is dropped; any message renews it", async () => {
    let now = 0;
    const server = new transports.OscServer(plugin.engine, { host: HOST, port: 0, subscriberTimeoutMs: 1000, clock: () => now });
    await server.ready;
    const quiet = await oscListener();
    const talking = await oscListener();
    const ask = async (client: typeof quiet, name: string, atoms: tb.control.Atom[] = []) => {
      const start = client.inbox.messages.length;
      send(client.socket, server.port, name, atoms);
      return client.inbox.until(isReply(name), start, `reply to ${name}`);
    };
    try {
      await ask(quiet, "subscribe");
      await ask(talking, "subscribe");
      now = 900;
      await ask(talking, "status"); // renews talking only
      expect(server.subscriberCount).toBe(2);
      now = 1000; // quiet has been silent for the timeout
      expect(server.subscriberCount).toBe(1);
      await plugin.engine.execute(["stream", "start"]);
      await talking.inbox.untilCount(isAudio, 4, 0, "two blocks at the subscriber that spoke");
      await plugin.engine.execute(["stream", "stop"]);
      await ask(quiet, "status"); // heard again, but not subscribed again: a timeout is final
      expect(quiet.inbox.messages.filter(isAudio)).toEqual([]);
      expect(server.subscriberCount).toBe(1);
    } finally {
      quiet.socket.close();
      talking.socket.close();
      await server.close();
    }
  });
});

describe("WebSocket subscribers", () => {
  it("every connection gets blocks and events until it unsubscribes, and again after subscribe", async () => {
    const connect = async () => {
      const socket = new WebSocket(`ws://${HOST}:${plugin.wsServer.port}`);
      const inbox = new Inbox<{ binary: boolean; json?: { type: string; command?: string; values?: unknown[] } }>();
      socket.on("message", (data, binary) => inbox.push(binary ? { binary } : { binary, json: JSON.parse(String(data)) }));
      await new Promise((r) => socket.once("open", r));
      const ask = (line: string) => {
        const start = inbox.messages.length;
        socket.send(line);
        return inbox.until((m) => m.json?.type === "reply", start, `reply to ${line}`);
      };
      return { socket, inbox, ask };
    };
    const off = await connect();
    const on = await connect();
    try {
      expect((await off.ask("unsubscribe")).json).toMatchObject({ ok: true, command: "unsubscribe" });
      const after = off.inbox.messages.length;
      await on.ask("stream start");
      await on.inbox.untilCount((m) => m.binary, 2, on.inbox.messages.length, "two frames");
      await on.ask("input hold");
      await on.inbox.until((m) => m.json?.type === "event" && m.json.command === "input", 0, "the input event");
      await off.ask("status"); // TCP: everything sent to `off` before this reply has arrived
      expect(off.inbox.since(after).filter((m) => m.binary || m.json?.type === "event")).toEqual([]);
      await off.ask("subscribe");
      await off.inbox.until((m) => m.binary, off.inbox.messages.length, "a frame after subscribing again");
      await on.ask("stream stop");
    } finally {
      off.socket.close();
      on.socket.close();
    }
  });
});

describe("Subscribers", () => {
  it("keeps one entry per destination, drops the silent ones and the quietest past the limit", () => {
    let now = 0;
    const subscribers = new transports.Subscribers<string>({ timeoutMs: 100, max: 2, clock: () => now });
    subscribers.add("a", "A");
    subscribers.add("a", "A again");
    expect(subscribers.destinations()).toEqual(["A again"]);
    now = 50;
    subscribers.add("b", "B");
    now = 99;
    subscribers.heardFrom("a");
    now = 120; // b heard at 50, a at 99
    subscribers.add("c", "C"); // past the limit: b, the quietest, goes
    expect(subscribers.destinations().sort()).toEqual(["A again", "C"]);
    now = 199;
    expect(subscribers.has("a")).toBe(false); // silent since 99
    expect(subscribers.destinations()).toEqual(["C"]);
    expect(subscribers.remove("c")).toBe(true);
    expect(subscribers.size).toBe(0);
    expect(() => new transports.Subscribers({ timeoutMs: 0 })).toThrow(/timeout/);
  });
});
