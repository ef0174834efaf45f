// `render <in.wav> <out.wav>`: a sound file through `forward` of the shipped audio model gives
// the samples streaming the file gives, and a render while streaming leaves the stream as it
// would have been without it.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const MODELS = join(import.meta.dirname, "../models");
const RATE = 44100;
const BLOCK = 2048;
/** A length that ends inside a block (the render pads it, the output is cut to it). */
const LENGTH = BLOCK * 9 + 700;

function sweep(n: number): Float32Array {
  const x = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * (100 + (4000 * i) / n)) / RATE;
    x[i] = 0.5 * Math.sin(phase);
  }
  return x;
}

/** The file streamed through the session block by block (the last block padded with silence); the output's first LENGTH samples. */
async function streamFile(session: tb.control.Session, input: Float32Array, during?: () => void): Promise<Float32Array> {
  const out: Float32Array[] = [];
  let waiting: (() => void) | null = null;
  const off = session.onBlock((block) => {
    out.push(block.data.slice());
    waiting?.();
  });
  session.startStream();
  try {
    for (let b = 0; b * BLOCK < input.length; b++) {
      const data = new Float32Array(BLOCK);
      data.set(input.subarray(b * BLOCK, (b + 1) * BLOCK));
      const next = new Promise<void>((resolve) => (waiting = resolve));
      const reply = session.receiveAudio({ source: "test", sampleRate: RATE, channels: 1, data, arrival: tb.control.wallClockMs() });
      expect(reply.ok, String(reply.values[0])).toBe(true);
      await next;
      during?.();
    }
  } finally {
    off();
    session.stopStream();
  }
  const all = new Float32Array(out.length * BLOCK);
  out.forEach((block, i) => all.set(block, i * BLOCK));
  return all.subarray(0, input.length);
}

describe("render <in.wav> <out.wav>", () => {
  let session: tb.control.Session;
  let workspace: string;

  async function open(): Promise<void> {
    workspace = mkdtempSync(join(tmpdir(), "tfbend-render-file-"));
    mkdirSync(workspace, { recursive: true });
    session = new tb.control.Session({ workspace, modelsDir: MODELS });
    expect((await session.execute(["load", "audio"])).ok).toBe(true);
    expect((await session.execute(["method", "forward"])).ok).toBe(true);
    await tb.io.writeWav(join(workspace, "in.wav"), sweep(LENGTH), RATE);
  }
  afterEach(() => session.dispose());

  it("gives the samples streaming the file gives, and leaks nothing", async () => {
    await open();
    await session.execute(["bend", "net_2_conv", "mask", "prob", 0.5, "dim", -2, "seed", 1]);
    expect((await session.execute(["render", "in.wav", "first.wav"])).ok).toBe(true); // the bending's weights are cached
    const tensors = tb.tf.memory().numTensors;
    const reply = await session.execute(["render", "in.wav", "out.wav"]);
    expect(reply.ok, String(reply.values[0])).toBe(true);
    expect(tb.tf.memory().numTensors).toBe(tensors);
    const rendered = (await tb.io.readWav(join(workspace, "out.wav"))).samples;
    expect(rendered.length).toBe(LENGTH);
    const streamed = await streamFile(session, sweep(LENGTH));
    expect(Math.max(...rendered.map(Math.abs))).toBeGreaterThan(0.01);
    expect(Array.from(rendered)).toEqual(Array.from(streamed));
  });

  it("renders while streaming on a copy of the state: the stream is undisturbed", async () => {
    await open();
    const alone = await streamFile(session, sweep(LENGTH));
    // the same stream again, with a render of another file running meanwhile
    await tb.io.writeWav(join(workspace, "other.wav"), sweep(LENGTH * 2).map((v) => -v), RATE);
    let rendered = false;
    let blocksDuringRender = 0;
    const render = session.execute(["render", "other.wav", "other-out.wav"]).then((reply) => {
      rendered = true;
      return reply;
    });
    const streamed = await streamFile(session, sweep(LENGTH), () => {
      if (!rendered) blocksDuringRender++;
    });
    const reply = await render;
    expect(reply.ok, String(reply.values[0])).toBe(true);
    expect(blocksDuringRender).toBeGreaterThan(0);
    expect(Array.from(streamed)).toEqual(Array.from(alone));
    // and the render is what it is alone
    const during = (await tb.io.readWav(join(workspace, "other-out.wav"))).samples;
    expect((await session.execute(["render", "other.wav", "other-alone.wav"])).ok).toBe(true);
    expect(Array.from(during)).toEqual(Array.from((await tb.io.readWav(join(workspace, "other-alone.wav"))).samples));
  });

  it("refuses a method that does not take audio and a file at another rate", async () => {
    await open();
    await session.execute(["method", "decode"]);
    expect(String((await session.execute(["render", "in.wav", "out.wav"])).values[0])).toMatch(/does not take audio/);
    await session.execute(["method", "forward"]);
    await tb.io.writeWav(join(workspace, "48k.wav"), sweep(4800), 48000);
    expect(String((await session.execute(["render", "48k.wav", "out.wav"])).values[0])).toMatch(/48000 Hz.*44100 Hz/);
  });
});
