// nn~'s buffer and tensor attributes filled from samples a transport carries, over real
// sockets on 127.0.0.1 started and stopped here: /tfbend/buffer and /tfbend/tensor with a
// float32 blob (OSC), and Jitter matrices that `matrix buffer|tensor` routes (jit.buffer~ →
// jit.net.send). Refusals (size, dtype, shape, names) reply clearly and change nothing.
import { mkdirSync, copyFileSync } from "node:fs";
import type { Socket as UdpSocket } from "node:dgram";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";
import { oscClient, type OscMessage } from "./helpers.js";

const { tf, control, transports } = tb;
const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");
type Reply = tb.control.Reply;

/** The Session itself as the transports' engine (in this thread, so the model can be read back). */
class SessionEngine implements tb.transports.CommandEngine {
  constructor(readonly session: tb.control.Session) {}
  execute(atoms: tb.control.Atom[], data?: Float32Array): Promise<Reply> {
    return this.session.execute(atoms, data);
  }
  pushAudio(chunk: tb.control.AudioChunk): Promise<Reply> {
    const reply = this.session.receiveAudio(chunk);
    this.audioReplies.push(reply);
    return Promise.resolve(reply);
  }
  readonly audioReplies: Reply[] = [];
  onBlock(listener: (block: tb.control.OutputBlock) => void): () => void {
    return this.session.onBlock(listener);
  }
  onChange(): () => void {
    return () => {};
  }
  declareLimits(): void {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  for (const t0 = performance.now(); performance.now() - t0 < ms; ) {
    if (test()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const blob = (data: Float32Array) => ({ type: "b", value: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
const int = (value: number) => ({ type: "i", value });
const str = (value: string) => ({ type: "s", value });

let workspace: string;
let udp: UdpSocket;
const inbox: OscMessage[] = [];

/** Sends one OSC message to `port` and waits for the reply to it (/tfbend/ok or /tfbend/error). */
async function oscCall(port: number, address: string, args: { type: string; value: unknown }[]): Promise<{ ok: boolean; values: unknown[] }> {
  const start = inbox.length;
  udp.send(osc.writePacket({ address, args }, { metadata: true }), port, "127.0.0.1");
  await until(`reply to ${address}`, () => inbox.length > start);
  const m = inbox[start];
  return { ok: m.address === "/tfbend/ok", values: m.args.map((a) => a.value) };
}

beforeAll(async () => {
  const dirs = await makeModelsDir();
  workspace = dirs.workspace;
  mkdirSync(workspace, { recursive: true });
  copyFileSync(join(FIXTURES, "torch2.ts"), join(workspace, "torch2.ts"));
  udp = await oscClient(inbox);
});
afterAll(() => udp?.close());

describe("buffer and tensor attributes over OSC", () => {
  it("/tfbend/buffer <name> <sr> [channels] <blob> fills a buffer attribute (channel after channel); /tfbend/tensor <attr> <dims> <blob> sets a tensor attribute; refusals change nothing", async () => {
    const session = new control.Session({ workspace, modelsDir: join(workspace, "..", "models"), safety: false });
    const engine = new SessionEngine(session);
    const server = new transports.OscServer(engine, { host: "127.0.0.1", port: 0, maxDataBytes: 4096 });
    await server.ready;
    try {
      expect((await session.execute(["load", "torch2.ts"])).ok).toBe(true);
      const root = session.requireModel().module as tb.torchscript.TorchScriptRoot;
      const buffer = () => root.attribute("buffer") as { field(name: string): unknown };
      const wave = Float32Array.from([-0.5, -0.25, 0, 0.25, 0.5]);
      expect(await oscCall(server.port, "/tfbend/buffer", [str("buffer"), int(22050), blob(wave)])).toEqual({ ok: true, values: ["buffer", "buffer", 1, 5, 22050] });
      expect(buffer().field("sr")).toBe(22050);
      // the model's own method reads it: x + the buffer tiled
      const out = tf.tidy(() => Array.from((root.invoke("buffered", [tf.zeros([1, 1, 10])]) as tb.Tensor).dataSync()));
      out.forEach((v, i) => expect(v).toBeCloseTo(wave[i % 5], 6));

      // two channels, channel after channel: [channels, frames]
      const stereo = Float32Array.from([1, 2, 3, -1, -2, -3]);
      expect(await oscCall(server.port, "/tfbend/buffer", [str("buffer"), int(48000), int(2), blob(stereo)])).toEqual({ ok: true, values: ["buffer", "buffer", 2, 3, 48000] });
      const stored = buffer().field("value") as tb.Tensor;
      expect(stored.shape).toEqual([2, 3]);
      expect(Array.from(stored.dataSync())).toEqual(Array.from(stereo));

      // refusals: nothing changes
      const refusals: [string, { type: string; value: unknown }[], RegExp][] = [
        ["/tfbend/buffer", [str("buffer"), int(44100), int(4), blob(stereo)], /6 samples are not whole frames of 4 channels/],
        ["/tfbend/buffer", [str("nothing"), int(44100), blob(wave)], /unknown buffer attribute 'nothing' \(buffer attributes: buffer\)/],
        ["/tfbend/buffer", [str("buffer"), int(44100), { type: "b", value: new Uint8Array(6) }], /6 bytes is not whole float32 samples/],
        ["/tfbend/buffer", [str("buffer"), int(44100), blob(new Float32Array(2048))], /8192 bytes is larger than 4096/],
        ["/tfbend/buffer", [str("buffer"), int(44100), blob(Float32Array.from([0, NaN]))], /sample 1 is not a finite number/],
        ["/tfbend/buffer", [str("buffer"), int(-3), blob(wave)], /sample rate must be a positive int/],
        ["/tfbend/buffer", [str("buffer"), blob(wave), int(44100)], /usage: \/tfbend\/buffer <name> <sample_rate> \[channels\] <blob/],
        ["/tfbend/tensor", [str("wavetable"), int(3), int(2), blob(stereo)], /the model refused wavetable/],
        ["/tfbend/tensor", [str("wavetable"), int(7), blob(stereo)], /shape \[7\] holds 7 values, the samples are 6/],
        ["/tfbend/tensor", [str("mix"), int(6), blob(stereo)], /unknown tensor attribute 'mix'/],
      ];
      const before = tf.memory().numTensors;
      for (const [address, args, message] of refusals) {
        const reply = await oscCall(server.port, address, args);
        expect(reply.ok, `${address} ${message}`).toBe(false);
        expect(String(reply.values[1])).toMatch(message);
      }
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from((buffer().field("value") as tb.Tensor).dataSync())).toEqual(Array.from(stereo));
      expect((await session.execute(["get", "wavetable"])).values).toEqual(["wavetable", 32]);

      // a tensor attribute from a blob with its shape
      const table = Float32Array.from({ length: 12 }, (_, i) => i / 12);
      expect(await oscCall(server.port, "/tfbend/tensor", [str("wavetable"), int(12), blob(table)])).toEqual({ ok: true, values: ["tensor", "wavetable", 12] });
      const got = root.getTensorAttribute("wavetable");
      Array.from(got.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(table[i], 6));
      got.dispose();
      // a command that takes no samples refuses them
      expect(await oscCall(server.port, "/tfbend/set", [str("mix"), blob(table)])).toMatchObject({ ok: false });
    } finally {
      server.close();
      session.dispose();
    }
  });

  it("through the inference thread: the blob's samples travel with the command", async () => {
    const dirs = { workspace, modelsDir: join(workspace, "..", "models") };
    const engine = await control.Engine.start({ ...dirs, model: "audio" });
    const server = new transports.OscServer(engine, { host: "127.0.0.1", port: 0 });
    await server.ready;
    try {
      expect((await engine.execute(["load", "torch2.ts"])).ok).toBe(true);
      expect((await engine.execute(["buffers"])).values).toEqual(["buffer", 1]);
      const wave = Float32Array.from([0.1, 0.2, 0.3]);
      expect(await oscCall(server.port, "/tfbend/buffer", [str("buffer"), int(16000), blob(wave)])).toEqual({ ok: true, values: ["buffer", "buffer", 1, 3, 16000] });
      expect((await engine.execute(["buffers"])).values).toEqual(["buffer", 0]);
      expect(await oscCall(server.port, "/tfbend/tensor", [str("wavetable"), int(3), blob(wave)])).toEqual({ ok: true, values: ["tensor", "wavetable", 3] });
      expect((await engine.execute(["get", "wavetable"])).values).toEqual(["wavetable", 3]);
    } finally {
      server.close();
      await engine.close();
    }
  });
});

describe("buffer and tensor attributes over Jitter", () => {
  it("'matrix buffer <name> <sr>' routes the next matrices (jit.buffer~: one plane per channel) to a buffer attribute, 'matrix tensor' to a tensor attribute, 'matrix audio' back to live audio", async () => {
    const session = new control.Session({ workspace, modelsDir: join(workspace, "..", "models"), safety: false });
    const engine = new SessionEngine(session);
    const receiver = new transports.JitterReceiver(engine, { host: "127.0.0.1", port: 0 });
    await receiver.ready;
    const sender = new transports.JitterSender({ port: receiver.port, reconnectMs: 20 }).start();
    const matrix = (data: Float32Array, channels: number): tb.control.OutputBlock =>
      ({ stream: "audio", seq: 0, sampleRate: 44100, frames: data.length / channels, channels, width: 0, height: 0, data });
    /** Sends a matrix and waits until the session has answered it. */
    const send = async (data: Float32Array, channels: number): Promise<Reply> => {
      const n = engine.audioReplies.length;
      expect(sender.send(matrix(data, channels))).toBe(true);
      await until("the matrix", () => engine.audioReplies.length > n);
      return engine.audioReplies[n];
    };
    try {
      await until("jitter connected", () => sender.stats().connected);
      expect((await session.execute(["load", "torch2.ts"])).ok).toBe(true);
      const root = session.requireModel().module as tb.torchscript.TorchScriptRoot;
      const buffer = () => root.attribute("buffer") as { field(name: string): unknown };
      expect((await session.execute(["matrix"])).values).toEqual(["audio"]);
      expect((await session.execute(["matrix", "buffer", "buffer", 32000])).values).toEqual(["buffer", "buffer", 32000]);
      expect((await session.execute(["matrix"])).values).toEqual(["buffer", "buffer", 32000]);
      const stereo = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4]); // planar: channel 0, then channel 1
      expect(await send(stereo, 2)).toEqual({ command: "buffer", ok: true, values: ["buffer", 2, 4, 32000] });
      expect(buffer().field("sr")).toBe(32000);
      const stored = buffer().field("value") as tb.Tensor;
      expect(stored.shape).toEqual([2, 4]);
      expect(Array.from(stored.dataSync())).toEqual(Array.from(stereo));
      // a refused matrix changes nothing and is counted
      const refused = await send(Float32Array.from([1, NaN]), 1);
      expect(refused.ok).toBe(false);
      expect(String(refused.values[0])).toMatch(/Jitter matrix for buffer buffer: .*sample 1 is not a finite number/);
      await until("counted", () => receiver.stats().refused === 1);
      expect(Array.from((buffer().field("value") as tb.Tensor).dataSync())).toEqual(Array.from(stereo));

      // tensor: one plane gives [frames]; the model refuses [planes, frames] for its 1-d table
      expect((await session.execute(["matrix", "tensor", "wavetable"])).values).toEqual(["tensor", "wavetable"]);
      const table = Float32Array.from({ length: 16 }, (_, i) => Math.cos(i));
      expect(await send(table, 1)).toEqual({ command: "tensor", ok: true, values: ["wavetable", 16] });
      const got = root.getTensorAttribute("wavetable");
      Array.from(got.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(table[i], 6));
      got.dispose();
      expect((await send(stereo, 2)).values[0]).toMatch(/the model refused wavetable/);
      expect((await session.execute(["get", "wavetable"])).values).toEqual(["wavetable", 16]);

      // routes are checked when set; back to audio, matrices are live input again
      expect((await session.execute(["matrix", "buffer", "nothing", 44100])).values[0]).toMatch(/unknown buffer attribute 'nothing'/);
      expect((await session.execute(["matrix", "tensor", "mix"])).values[0]).toMatch(/unknown tensor attribute 'mix'/);
      expect((await session.execute(["matrix", "video"])).values[0]).toMatch(/audio, buffer or tensor/);
      expect((await session.execute(["matrix"])).values).toEqual(["tensor", "wavetable"]);
      expect((await session.execute(["matrix", "audio"])).values).toEqual(["audio"]);
      expect((await send(table, 1)).values[0]).toMatch(/does not take audio|stream is stopped/);
    } finally {
      await sender.close();
      await receiver.close();
      session.dispose();
    }
  });
});
