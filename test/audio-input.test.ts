// Live audio in → bent audio out, over real sockets on 127.0.0.1 started and stopped here:
// a stand-in jit.net.send sends a sine sweep at real-time pace to tfbend's jit.net.recv
// side, the output comes back on a stand-in jit.net.recv; the same over OSC and WebSocket.
// The output equals `forward` run offline on the same signal (through the same safety
// stage), block for block; bad input is refused or counted and the stream goes on.
import type { Socket as UdpSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { createServer, Socket, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { oscClient, type OscMessage } from "./helpers.js";

const { control, transports, tf } = tb;
const MODELS = join(import.meta.dirname, "../models");
const RATE = 44100;
const BLOCK = 2048;

let engine: tb.control.Engine;
let receiver: tb.transports.JitterReceiver;
let oscServer: tb.transports.OscServer;
let wsServer: tb.transports.WsServer;
let jitter: ReturnType<typeof tb.transports.attachJitter>;
let standIn: StandInReceiver;
let imageStandIn: StandInReceiver;
let udp: UdpSocket;
const oscInbox: OscMessage[] = [];
let offlineModel: tb.BendedModule;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sine sweep 100 Hz → 4 kHz at amplitude 0.5 (deterministic). */
function sweep(seconds: number): Float32Array {
  const n = Math.round(seconds * RATE);
  const x = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * (100 + 3900 * (i / n))) / RATE;
    x[i] = 0.5 * Math.sin(phase);
  }
  return x;
}

/** What the plugin should output for `signal`: forward offline on the whole signal (full blocks), then the safety stage. */
function offline(signal: Float32Array): Float32Array {
  const samples = Math.floor(signal.length / BLOCK) * BLOCK;
  tb.zoo.setStreaming(offlineModel.module, false);
  const y = tf.tidy(() => (offlineModel.call("forward", tf.tensor(signal.subarray(0, samples), [1, 1, samples])) as tb.Tensor).dataSync());
  return new control.SafetyStage().process(Float32Array.from(y));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Sends `signal` in chunks of `chunk` samples at real-time pace (what is due by the clock; a late timer catches up). */
async function sendPaced(signal: Float32Array, chunk: number, send: (data: Float32Array, index: number) => void): Promise<void> {
  const t0 = performance.now();
  let sent = 0;
  let index = 0;
  while (sent < signal.length) {
    const due = Math.min(signal.length, Math.floor(((performance.now() - t0) / 1000) * RATE));
    while (sent < due) {
      const n = Math.min(chunk, signal.length - sent);
      if (sent + n > due && n === chunk) break;
      send(signal.slice(sent, sent + n), index++);
      sent += n;
    }
    await sleep(4);
  }
}

/** A stand-in jit.net.recv: collects the matrices tfbend sends and answers each with JMLP. */
class StandInReceiver {
  readonly server: Server;
  readonly matrices: tb.transports.DecodedMatrix[] = [];
  readonly ready: Promise<void>;
  constructor() {
    this.server = createServer((socket) => {
      let rx = Buffer.alloc(0);
      socket.on("data", (data: Buffer) => {
        rx = Buffer.concat([rx, data]);
        while (rx.length >= 296) {
          const total = 296 + rx.readInt32BE(8 + 276);
          if (rx.length < total) break;
          const m = transports.decodeMatrixPacket(rx.subarray(0, total));
          this.matrices.push(m);
          socket.write(transports.encodeLatencyPacket(m.time, performance.now(), performance.now()));
          rx = rx.subarray(total);
        }
      });
      socket.on("error", () => {});
    });
    this.ready = new Promise((r) => this.server.listen(0, "127.0.0.1", () => r()));
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A stand-in jit.net.send: JitterSender sending audio matrices of any length. */
async function jitSend(): Promise<tb.transports.JitterSender> {
  const sender = new transports.JitterSender({ port: receiver.port, reconnectMs: 50 }).start();
  for (let i = 0; i < 200 && !sender.stats().connected; i++) await sleep(10);
  expect(sender.stats().connected).toBe(true);
  return sender;
}

function audioMatrix(data: Float32Array, seq: number): tb.control.OutputBlock {
  return { stream: "audio", seq, sampleRate: RATE, frames: data.length, channels: 1, width: 0, height: 0, data };
}

async function until(what: string, test: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = performance.now(); performance.now() - t0 < ms; ) {
    if (test()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function run(line: string): Promise<tb.control.Reply> {
  const reply = await engine.execute(control.parseLine(line));
  expect(reply.ok, `${line}: ${reply.values.join(" ")}`).toBe(true);
  return reply;
}

/** Stops any stream, lets the sender go, starts `forward` afresh. */
async function freshForward(): Promise<number> {
  await run("stream stop");
  await run("method forward");
  const before = standIn.matrices.length;
  await run("stream start");
  return before;
}

beforeAll(async () => {
  offlineModel = await tb.load(join(MODELS, "audio"));
  // A deep jitter buffer and patience with a late or silent sender: on a loaded machine the
  // input waits instead of being dropped, replaced by silence or let go, so the output can be
  // compared sample for sample (real-time figures are the benchmark's business; underruns and
  // a sender that stops are tested in-process below with the defaults).
  engine = await control.Engine.start({
    modelsDir: MODELS, workspace: mkdtempSync(join(tmpdir(), "tfbend-audio-in-")), model: "audio", input: { maxBlocks: 128, lateBlocks: 64, idleMs: 2500 },
  });
  receiver = new transports.JitterReceiver(engine, { host: "127.0.0.1", port: 0 });
  oscServer = new transports.OscServer(engine, { host: "127.0.0.1", port: 0 });
  wsServer = new transports.WsServer(engine, { host: "127.0.0.1", port: 0 });
  standIn = new StandInReceiver();
  imageStandIn = new StandInReceiver();
  await Promise.all([receiver.ready, oscServer.ready, wsServer.ready, standIn.ready, imageStandIn.ready]);
  jitter = transports.attachJitter(engine, { host: "127.0.0.1", audioPort: standIn.port, imagePort: imageStandIn.port });
  udp = await oscClient(oscInbox);
  await until("jitter output connected", () => jitter.senders[0].stats().connected);
}, 60_000);

afterAll(async () => {
  udp?.close();
  await jitter?.close();
  await receiver?.close();
  oscServer?.close();
  await wsServer?.close();
  await standIn?.close();
  await imageStandIn?.close();
  await engine?.close();
  offlineModel?.dispose();
});

function sendOsc(address: string, args: { type: string; value: unknown }[]): void {
  udp.send(osc.writePacket({ address, args }, { metadata: true }), oscServer.port, "127.0.0.1");
}

function oscChunk(seq: number, data: Float32Array, rate = RATE): void {
  sendOsc("/tfbend/audio_in", [{ type: "i", value: seq }, { type: "i", value: rate }, { type: "b", value: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }]);
}

function concatBlocks(matrices: tb.transports.DecodedMatrix[]): Float32Array {
  const out = new Float32Array(matrices.reduce((n, m) => n + m.data.length, 0));
  let at = 0;
  for (const m of matrices) {
    out.set(m.data, at);
    at += m.data.length;
  }
  return out;
}

describe("live audio input", () => {
  it("Jitter: a sweep sent at real-time pace comes back as forward of it, block for block, no gap", async () => {
    const signal = sweep(10);
    const expected = offline(signal);
    const before = await freshForward();
    const sender = await jitSend();
    // 300-sample matrices (not a divisor of the 2048-sample block): re-cut by tfbend.
    await sendPaced(signal, 300, (data, i) => sender.send(audioMatrix(data, i)));
    const blocks = expected.length / BLOCK;
    await until("every output block", () => standIn.matrices.length - before >= blocks, 60_000);
    const status = engine.status();
    const received = standIn.matrices.slice(before, before + blocks);
    expect(received.every((m) => m.planecount === 1 && m.dim[0] === BLOCK)).toBe(true);
    expect(maxDiff(concatBlocks(received), expected)).toBeLessThan(1e-4);
    expect(status).toMatchObject({ method: "forward", underruns: 0, overruns: 0, input_nonfinite: 0 });
    expect(status.audio_in).toMatch(/^jitter 127\.0\.0\.1:\d+$/);
    // latency from a block's first sample arriving to its output: one block (46.4 ms) + compute + transport
    expect(Number(status.input_latency_ms)).toBeGreaterThan(30);
    expect(Number(status.input_latency_ms)).toBeLessThan(128 * 46.5);
    expect(Number(status.input_level_db)).toBeGreaterThan(-7); // peak 0.5 ≈ −6 dBFS
    expect(sender.stats().latencyMs).not.toBeNull(); // JMLP replies were understood by a jit.net.send-like client

    // The sender stops: the output ends cleanly (its partial block dropped), the input is free again.
    await sender.close();
    await until("the sender let go", () => engine.status().audio_in === "none", 10_000);
    const after = engine.status();
    expect(after).toMatchObject({ audio_in: "none", input_queued: 0, streaming: 1 });
    const count = standIn.matrices.length;
    await sleep(300);
    expect(standIn.matrices.length).toBe(count);
  }, 90_000);

  it("OSC: /tfbend/audio_in chunks (blobs and floats), some out of order, come back as forward of the signal", async () => {
    const signal = sweep(2.5);
    const expected = offline(signal);
    await freshForward();
    sendOsc("/tfbend/subscribe", []);
    await sleep(50);
    const start = oscInbox.length;
    const pending: [number, Float32Array][] = [];
    await sendPaced(signal, 512, (data, i) => {
      // swap each 4th pair: the sequencer puts them back in order
      if (i % 8 === 3) pending.push([i, data]);
      else if (i % 5 === 0) {
        // the form Pd and sclang send: mono samples as plain floats
        sendOsc("/tfbend/audio_in", [{ type: "i", value: i }, { type: "i", value: RATE }, ...Array.from(data, (v) => ({ type: "f", value: v }))]);
        for (const [j, d] of pending.splice(0)) oscChunk(j, d);
      } else {
        oscChunk(i, data);
        for (const [j, d] of pending.splice(0)) oscChunk(j, d);
      }
    });
    for (const [j, d] of pending.splice(0)) oscChunk(j, d);
    const blocks = expected.length / BLOCK;
    const audio = () => oscInbox.slice(start).filter((m) => m.address === "/tfbend/audio");
    const seqs = () => new Set(audio().map((m) => m.args[0].value as number));
    await until("OSC output blocks", () => seqs().size >= blocks, 40_000);
    const first = Math.min(...seqs());
    const out = new Float32Array(blocks * BLOCK);
    for (const m of audio()) {
      const b = (m.args[0].value as number) - first;
      if (b >= blocks) continue;
      const bytes = m.args[4].value as Uint8Array;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < bytes.byteLength / 4; i++) out[b * BLOCK + (m.args[2].value as number) + i] = view.getFloat32(i * 4, true);
    }
    expect(maxDiff(out, expected)).toBeLessThan(1e-4);
    expect(engine.status()).toMatchObject({ underruns: 0, overruns: 0 });
    expect(oscServer.audioInStats()).toEqual({ missing: 0, late: 0 });
    sendOsc("/tfbend/unsubscribe", []);
  }, 60_000);

  it("WebSocket: binary frames with stream id 'input' come back as forward of the signal", async () => {
    const signal = sweep(2.5);
    const expected = offline(signal);
    const socket = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
    const frames: Buffer[] = [];
    const replies: { type: string; ok: boolean; command: string }[] = [];
    socket.on("message", (data, binary) => (binary ? frames.push(data as Buffer) : replies.push(JSON.parse(String(data)))));
    await new Promise((r) => socket.once("open", r));
    await freshForward();
    const start = frames.length;
    await sendPaced(signal, 1000, (data, i) => {
      socket.send(control.encodeFrame({ stream: "input", seq: i, sampleRate: RATE, frames: data.length, channels: 1, width: 0, height: 0, data }));
    });
    const blocks = expected.length / BLOCK;
    const audio = () => frames.slice(start).map((f) => control.decodeFrame(f)).filter((b) => b.stream === "audio");
    await until("WebSocket output blocks", () => audio().length >= blocks, 40_000);
    const out = new Float32Array(blocks * BLOCK);
    audio().slice(0, blocks).forEach((b, i) => out.set(b.data, i * BLOCK));
    expect(maxDiff(out, expected)).toBeLessThan(1e-4);
    expect(replies.filter((r) => r.type === "reply" && r.command === "audio_in")).toEqual([]);
    expect(engine.status()).toMatchObject({ underruns: 0, overruns: 0, audio_in: expect.stringMatching(/^ws \d+$/) });
    socket.close();
  }, 60_000);

  it("bad input is refused or counted; the stream goes on and the model is unchanged", async () => {
    await freshForward();
    const sender = await jitSend();
    const tone = sweep(0.2);
    const send = (block: tb.control.OutputBlock) => sender.send(block);
    // wrong type (char matrix through a raw packet), wrong plane count, oversized
    const char = transports.encodeMatrixPacket(audioMatrix(tone.subarray(0, 64), 0), 1);
    char.writeInt32BE(0, 8 + 12); // type char (data bytes then mean nothing)
    const raw = new Socket();
    await new Promise<void>((r) => raw.connect(receiver.port, "127.0.0.1", () => r()));
    raw.resume(); // read (and ignore) its JMLP replies, so 'close' can follow
    const refused = receiver.stats().refused;
    raw.write(char);
    send({ ...audioMatrix(new Float32Array(128), 1), channels: 2, frames: 64 });
    send(audioMatrix(new Float32Array(300_000), 2)); // 1.2 MB > 1 MiB
    await until("refusals counted", () => receiver.stats().refused >= refused + 3);
    // non-finite samples: replaced by 0 and counted
    const bad = Float32Array.from(tone.subarray(0, 4096));
    bad[10] = NaN;
    bad[20] = Infinity;
    send(audioMatrix(bad, 3));
    await until("non-finite counted", () => Number(engine.status().input_nonfinite) === 2);
    // a second sender at once (OSC) gets an error; a wrong sample rate too
    const start = oscInbox.length;
    oscChunk(0, tone.subarray(0, 512));
    await until("second sender refused", () => oscInbox.slice(start).some((m) => m.address === "/tfbend/error" && /in use by jitter/.test(String(m.args[1]?.value))));
    // garbage on the TCP port: that connection is closed, the server keeps listening
    const closed = new Promise((r) => raw.once("close", r));
    raw.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await closed;
    expect(receiver.stats().protocolErrors).toBeGreaterThanOrEqual(1);
    // the good sender's audio still flows
    const before = standIn.matrices.length;
    await sendPaced(sweep(0.5), 512, (data, i) => sender.send(audioMatrix(data, 10 + i)));
    await until("output after bad input", () => standIn.matrices.length > before);
    await sender.close();
    await until("the input free again", () => engine.status().audio_in === "none", 10_000);
    await sleep(1100); // the error throttle (one a second) lets the next through
    // wrong sample rate (numbering goes on: an old number would be dropped as late)
    const start2 = oscInbox.length;
    oscChunk(1, tone.subarray(0, 512), 48000);
    await until("rate refused", () => oscInbox.slice(start2).some((m) => m.address === "/tfbend/error" && /48000 Hz.*44100 Hz/.test(String(m.args[1]?.value))));
    // method that takes latents: audio is refused with a clear error
    await run("method decode");
    const start3 = oscInbox.length;
    await sleep(1100); // the error throttle lets one a second through
    oscChunk(2, tone.subarray(0, 512));
    await until("latent method refuses audio", () => oscInbox.slice(start3).some((m) => m.address === "/tfbend/error" && /does not take audio/.test(String(m.args[1]?.value))));
    expect((await run("bendings")).values).toEqual([]);
    await run("stream stop");
    raw.destroy();
  }, 60_000);

  it("an input-driven stream in-process: tensors stay flat over 100 blocks with control changes (crossfades)", async () => {
    const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-audio-in-")), modelsDir: MODELS });
    expect((await session.execute(["load", "audio"])).ok).toBe(true);
    await session.execute(["method", "forward"]);
    await session.execute(["bend", "net_2_conv", "mask", "prob", "@keep=0.5", "dim", -2]);
    let blocks = 0;
    session.onBlock(() => blocks++);
    session.startStream();
    const tone = sweep(0.1);
    let fed = 0;
    const feed = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const reply = session.receiveAudio({ source: "test", sampleRate: RATE, channels: 1, data: Float32Array.from(tone.subarray(0, BLOCK)), arrival: control.wallClockMs() });
        expect(reply.ok, String(reply.values[0])).toBe(true);
        fed++;
        if (i % 3 === 0) await session.execute(["set", "keep", (i % 10) / 10]);
        // the block of this input sent (the queue empties when its render starts, before it is sent)
        await until("block", () => blocks >= fed && Number(session.status().input_queued) === 0);
      }
    };
    await feed(10);
    const tensors = tf.memory().numTensors;
    await feed(100);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(blocks).toBe(110);
    session.dispose();
  }, 60_000);

  it("a sender more than a block late gets silence in its place (an underrun); one that stops is let go", async () => {
    const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-audio-in-")), modelsDir: MODELS, input: { idleMs: 600 } });
    await session.execute(["load", "audio"]);
    await session.execute(["method", "forward"]);
    const blocks: tb.control.OutputBlock[] = [];
    session.onBlock((b) => blocks.push(b));
    const notices: tb.control.Reply[] = [];
    session.onNotice((r) => notices.push(r));
    session.startStream();
    const send = () => session.receiveAudio({ source: "late", sampleRate: RATE, channels: 1, data: sweep(0.05).subarray(0, BLOCK).slice(), arrival: control.wallClockMs() });
    expect(send().ok).toBe(true);
    await until("the first block", () => blocks.length === 1);
    await sleep(250); // > 2 blocks (92.9 ms) late, < idleMs: still sending
    expect(send().ok).toBe(true);
    await until("a silence block and the late one", () => blocks.length >= 3);
    expect(session.input.underruns).toBeGreaterThanOrEqual(1);
    expect(Number(session.status().underruns)).toBe(session.input.underruns);
    await sleep(900); // stopped: let go, announced
    expect(notices.map((n) => n.values)).toEqual([["stopped", "late"]]);
    expect(session.status()).toMatchObject({ audio_in: "none", input_queued: 0 });
    session.dispose();
  }, 60_000);

  it("the sequencer puts chunks back in order, fills a lost one with silence and drops late ones", () => {
    const seq = new transports.ChunkSequencer<{ data: Float32Array }>(2);
    const chunk = (v: number) => ({ data: new Float32Array(4).fill(v) });
    const silence = (n: number) => ({ data: new Float32Array(n) });
    const order: number[] = [];
    for (const [s, v] of [[0, 0], [2, 2], [1, 1], [4, 4], [5, 5], [6, 6], [1, 1]] as const) {
      for (const c of seq.accept(s, chunk(v), silence)) order.push(c.data[0]);
    }
    expect(order).toEqual([0, 1, 2, 0, 4, 5, 6]); // 3 never came: silence, counted
    expect(seq.missing).toBe(1);
    expect(seq.late).toBe(1);
  });
});
