// nn~ methods in the Session: the shipped audio model's forward / encode / decode with
// their ratios and block sizes, the streaming encoder, `reset state`, and nn~ attributes
// beside live controls (on a small nn~ module defined here, so nothing is shipped-specific).
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { maxAbsDiff } from "./helpers.js";

const { tf } = tb;
const MODELS = join(import.meta.dirname, "../models");

/** A chirp, deterministic, in [-0.5, 0.5]. */
function sweep(samples: number): Float32Array {
  const x = new Float32Array(samples);
  for (let i = 0; i < samples; i++) x[i] = 0.5 * Math.sin(2 * Math.PI * (100 + 2000 * (i / samples)) * (i / 44100));
  return x;
}

/** An nn~ module with two attributes: out = gain · x (+ 1 when mode is "offset"). */
class GainModule extends tb.nn.Module implements tb.nn.NnTildeInterface {
  scale = new tb.nn.Identity();
  gain = 1;
  mode = "plain";
  resets = 0;
  readonly methods: tb.nn.MethodSpec[] = [
    { name: "forward", inChannels: 1, inRatio: 1, outChannels: 1, outRatio: 1, inputLabels: ["in"], outputLabels: ["out"] },
  ];
  get attributes(): tb.nn.AttributeSpec[] {
    return [{ name: "gain", type: "float", value: this.gain }, { name: "mode", type: "str", value: this.mode }];
  }
  override forward(x: tb.Tensor): tb.Tensor {
    const y = tb.F.mul(this.scale.call(x) as tb.Tensor, this.gain);
    return this.mode === "offset" ? tb.F.add(y, 1) : y;
  }
  getAttribute(name: string): tb.nn.AttributeValue {
    if (name === "gain") return this.gain;
    if (name === "mode") return this.mode;
    throw new tb.BendingError(`no attribute ${name}`);
  }
  setAttribute(name: string, value: tb.nn.AttributeValue): void {
    if (name === "gain") this.gain = Number(value);
    else if (name === "mode") this.mode = String(value);
  }
  resetState(): void {
    this.resets++;
  }
}

let session: tb.control.Session;
const run = (line: string) => session.execute(tb.control.parseLine(line));

beforeAll(() => {
  const workspace = mkdtempSync(join(tmpdir(), "tfbend-methods-"));
  session = new tb.control.Session({ workspace, modelsDir: MODELS, safety: false });
});

describe("nn~ methods of the shipped audio model", () => {
  it("lists forward, encode and decode with channels and ratios; decode streams 2048-sample blocks by default", async () => {
    expect((await run("load audio")).ok).toBe(true);
    const list = await run("method");
    expect(list.values).toEqual(["forward", 1, 1, 1, 1, "encode", 1, 1, 8, 256, "decode", 8, 256, 1, 1]);
    expect(session.method).toBe("decode");
    const st = session.status();
    expect(st).toMatchObject({ method: "decode", in_channels: 8, in_ratio: 256, out_channels: 1, out_ratio: 1, block: 2048 });
    expect(String(st.model_path)).toMatch(/models[/\\]audio$/);
    const block = await session.renderBlock();
    expect(block).toMatchObject({ stream: "audio", frames: 2048, channels: 1 });

    expect((await run("method encode")).values).toEqual(["encode", 1, 1, 8, 256, 2048]);
    const latent = await session.renderBlock();
    expect(latent).toMatchObject({ stream: "latent", frames: 8, channels: 8, sampleRate: 44100 / 256 });
    expect(latent.data.length).toBe(64);
    expect(session.status()).toMatchObject({ method: "encode", in_ratio: 1, out_channels: 8, out_ratio: 256 });
    expect((await run("render x.wav 0.1")).ok).toBe(false); // encode outputs latents, not audio

    expect((await run("method forward")).values).toEqual(["forward", 1, 1, 1, 1, 2048]);
    expect(await session.renderBlock()).toMatchObject({ stream: "audio", frames: 2048 });
    const bad = await run("method nosuch");
    expect(bad.ok).toBe(false);
    expect(bad.values[0]).toMatch(/no method 'nosuch' \(methods: forward, encode, decode\)/);
    expect(session.method).toBe("forward");
    // bendings written for the decoder reach every method that runs it
    expect((await run("bend net_2_conv mask prob 0.5 dim -2")).ok).toBe(true);
    expect(session.bended!.activationNames("forward")).toEqual(expect.arrayContaining(["encoder_net_0", "net_2_conv"]));
    await run("reset");
  });

  it("encode and forward stream block by block exactly as on the whole signal (causal encoder)", async () => {
    await run("load audio");
    const model = session.bended!;
    const x = tf.tensor(sweep(4 * 2048), [1, 1, 4 * 2048]);
    for (const fn of ["encode", "forward"]) {
      tb.zoo.setStreaming(model.module, false);
      const whole = model.call(fn, x) as tb.Tensor;
      tb.zoo.setStreaming(model.module, true);
      const parts = [0, 1, 2, 3].map((b) => model.call(fn, tf.slice(x, [0, 0, b * 2048], [1, 1, 2048])) as tb.Tensor);
      const joined = tf.concat(parts, 2);
      expect(joined.shape).toEqual(whole.shape);
      expect(maxAbsDiff(joined, whole), fn).toBeLessThan(1e-5);
      tf.dispose([whole, joined, ...parts]);
    }
    x.dispose();
  });

  it("reset state forgets the streamed past", async () => {
    await run("load audio");
    await run("input 1 -1 0.5 0 0 0 0 0");
    const first = (await session.renderBlock()).data;
    const second = (await session.renderBlock()).data;
    expect(Math.max(...second.map((v, i) => Math.abs(v - first[i])))).toBeGreaterThan(1e-4);
    expect((await run("reset state")).values).toEqual(["state"]);
    const again = (await session.renderBlock()).data; // same ramp target, reached already: compare with a fresh load
    await run("load audio");
    await run("input 1 -1 0.5 0 0 0 0 0");
    await session.renderBlock();
    await run("reset state");
    const fresh = (await session.renderBlock()).data;
    expect(Array.from(again)).toEqual(Array.from(fresh));
    expect((await run("reset sideways")).ok).toBe(false);
  });
});

describe("nn~ attributes beside live controls", () => {
  let gainSession: tb.control.Session;
  let module: GainModule;
  const exec = (line: string) => gainSession.execute(tb.control.parseLine(line));

  beforeAll(async () => {
    tb.registerArchitecture("test-gain", () => (module = new GainModule()));
    const root = mkdtempSync(join(tmpdir(), "tfbend-gain-"));
    const bended = new tb.BendedModule(tb.createModule("test-gain"));
    bended.metadata = { sample_rate: "48000" };
    bended.trace({ x: tf.zeros([1, 1, 16]) });
    await tb.save(bended, join(root, "models", "gain"));
    mkdirSync(join(root, "workspace"));
    gainSession = new tb.control.Session({ workspace: join(root, "workspace"), modelsDir: join(root, "models"), safety: false, blockSamples: 512 });
  });

  it("streams any nn~ module, and reaches its attributes with set/get", async () => {
    expect((await exec("load gain")).values).toEqual(["gain", "audio"]);
    expect(gainSession.status()).toMatchObject({ method: "forward", block: 512, sample_rate: 48000, in_ratio: 1, out_ratio: 1 });
    expect((await exec("get gain")).values).toEqual(["gain", 1]);
    expect((await exec("set gain 2.5")).values).toEqual(["gain", 2.5]);
    expect(module.gain).toBe(2.5);
    expect((await exec("set mode offset")).values).toEqual(["mode", "offset"]);
    expect(module.mode).toBe("offset");
    for (const bad of ["set gain loud", "set gain 1 2", "get nosuch", "set"]) expect((await exec(bad)).ok, bad).toBe(false);
    expect(module.gain).toBe(2.5);
    const dump = (await exec("dump")).dict as { attributes: unknown[] };
    expect(dump.attributes).toEqual([{ name: "gain", value: 2.5 }, { name: "mode", value: "offset" }]);
    const resets = module.resets;
    expect((await exec("reset state")).ok).toBe(true);
    expect(module.resets).toBe(resets + 1);
  });

  it("a name that is both a control and an attribute is an error unless prefixed", async () => {
    await exec("load gain");
    expect((await exec("bend scale scale scale @gain=1")).ok).toBe(true);
    const both = await exec("set gain 3");
    expect(both.ok).toBe(false);
    expect(both.values[0]).toMatch(/'gain' is both a live control and an attribute.*'control:gain' or 'attribute:gain'/);
    expect(module.gain).toBe(1);
    expect((await exec("set attribute:gain 3")).values).toEqual(["gain", 3]);
    expect((await exec("set control:gain 0.5")).values).toEqual(["gain", 0.5]);
    expect(module.gain).toBe(3);
    expect((await exec("get control:gain")).values).toEqual(["gain", 0.5]);
    expect((await exec("get attribute:gain")).values).toEqual(["gain", 3]);
    expect((await exec("get gain")).ok).toBe(false);
  });
});

describe("latent output on every transport's wire format", () => {
  const block: tb.control.OutputBlock = {
    stream: "latent", seq: 3, sampleRate: 44100 / 256, frames: 2, channels: 3, width: 0, height: 0, data: Float32Array.from([1, 2, 3, 4, 5, 6]),
  };

  it("Jitter: a 1-plane latent × frames matrix; WebSocket: stream id 2", () => {
    const m = tb.transports.decodeMatrixPacket(tb.transports.encodeMatrixPacket(block, 1));
    expect(m).toMatchObject({ planecount: 1, dim: [3, 2] });
    expect(Array.from(m.data)).toEqual([1, 3, 5, 2, 4, 6]); // dim 0 (latent) fastest
    const frame = tb.control.encodeFrame(block);
    expect(frame[4]).toBe(2); // the stream id byte
    expect(tb.control.decodeFrame(frame)).toMatchObject({ stream: "latent", frames: 2, channels: 3 });
  });
});
