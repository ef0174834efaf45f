// The whole nn~ interface in the plugin's Session: typed attributes with set/get, tensor
// attributes from WAV files (get answers the shape), buffer attributes (buffer/buffers, as
// nn~ fills them from a buffer~), multichannel methods, and voices as mc.nn~ runs them.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import wavefile from "wavefile";
import osc from "osc";
import { makeModelsDir, startPlugin } from "./session-fixture.js";
import { oscClient, type OscMessage } from "./helpers.js";

const { tf } = tb;
const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");
let workspace: string;

/** A 32-bit float WAV file; `channels` holds one array per channel. */
function writeWav(path: string, channels: Float32Array[], sampleRate: number): void {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(channels.length, sampleRate, "32f", channels.length === 1 ? channels[0] : channels);
  writeFileSync(path, wav.toBuffer());
}
let outside: string;

function newSession(modelsDir = join(workspace, "..", "models")): tb.control.Session {
  return new tb.control.Session({ workspace, modelsDir, safety: false });
}

async function ok(session: tb.control.Session, line: string): Promise<tb.control.Reply> {
  const reply = await session.execute(tb.control.parseLine(line));
  expect(reply.ok, `${line}: ${reply.values.join(" ")}`).toBe(true);
  return reply;
}

async function refused(session: tb.control.Session, line: string): Promise<string> {
  const reply = await session.execute(tb.control.parseLine(line));
  expect(reply.ok, line).toBe(false);
  return String(reply.values[0]);
}

beforeAll(async () => {
  const dirs = await makeModelsDir();
  workspace = dirs.workspace;
  mkdirSync(workspace, { recursive: true });
  for (const f of ["torch2.ts", "effects.ts", "rave_like.ts", "ops_zoo.ts", "enum_attribute.ts"]) copyFileSync(join(FIXTURES, f), join(workspace, f));
  const sine = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i / 3));
  writeWav(join(workspace, "table.wav"), [sine], 44100);
  const wave = Float32Array.from({ length: 5 }, (_, i) => (i - 2) / 4);
  writeWav(join(workspace, "grain.wav"), [wave], 22050);
  const ramp = Float32Array.from({ length: 7 }, (_, i) => i / 8);
  writeWav(join(workspace, "stereo.wav"), [ramp, ramp.map((v) => -v)], 48000);
  outside = join(mkdtempSync(join(tmpdir(), "tfbend-outside-")), "table.wav");
  writeWav(outside, [sine], 44100);
});

describe("nn~ attributes over the plugin", () => {
  it("bool, int, float and List[str] attributes get and set with their types; a wrong type is refused", async () => {
    const s = newSession();
    await ok(s, "load torch2.ts");
    expect((await ok(s, "get active")).values).toEqual(["active", 1]);
    expect((await ok(s, "get sample_rate")).values).toEqual(["sample_rate", 16000]);
    expect((await ok(s, "get mix")).values).toEqual(["mix", 0.25]);
    expect((await ok(s, "get labels")).values).toEqual(["labels", "a", "b"]);
    expect((await ok(s, "set labels x y z")).values).toEqual(["labels", "x", "y", "z"]);
    expect((await ok(s, "get labels")).values).toEqual(["labels", "x", "y", "z"]);
    expect((await ok(s, "set active 0")).values).toEqual(["active", 0]);
    expect((await ok(s, "get active")).values).toEqual(["active", 0]);
    expect(await refused(s, "set sample_rate 1.5")).toMatch(/takes an int/);
    expect(await refused(s, "set mix 2")).toMatch(/refused/);
    expect((await ok(s, "get mix")).values).toEqual(["mix", 0.25]);
    s.dispose();
  });

  it("tuple attributes (nn~ keeps attributes as tuples) take one atom per value, each of its own type; 'attributes' lists names and types", async () => {
    const s = newSession();
    await ok(s, "load effects.ts");
    expect((await ok(s, "get steps")).values).toEqual(["steps", 4, 0.25]);
    expect((await ok(s, "set steps 3 0.5")).values).toEqual(["steps", 3, 0.5]);
    expect((await ok(s, "get steps")).values).toEqual(["steps", 3, 0.5]); // read back through the model's get_steps
    expect(await refused(s, "set steps 3.5 0.5")).toMatch(/attribute 'steps' \(value 1\) takes an int, got 3.5/);
    expect(await refused(s, "set steps 3")).toMatch(/takes 2 values \(int, float\), got 1/);
    expect(await refused(s, "set polynomial 1 x 0")).toMatch(/\(value 2\) takes a float, got 'x'/);
    expect((await ok(s, "get steps")).values).toEqual(["steps", 3, 0.5]);
    expect((await ok(s, "set invert true")).values).toEqual(["invert", 1]);
    const listed = await ok(s, "attributes");
    expect(listed.values).toEqual(["gain", "float", "polynomial", "Tuple[float,float,float]", "saturate_mode", "enum[tanh,clip,soft]", "invert", "bool", "steps", "Tuple[int,float]"]);
    // nn~'s own scripting example declares saturate_mode as an enum (its setter checks self.modes)
    expect(listed.dict).toContainEqual(expect.objectContaining({ name: "saturate_mode", choices: ["tanh", "clip", "soft"] }));
    expect(listed.dict).toContainEqual({ name: "steps", type: "Tuple[int,float]", value: [3, 0.5] });
    // nn_tilde master's attributes: getters return 1-tuples, setters take the plain value
    await ok(s, "load ops_zoo.ts");
    expect((await ok(s, "attributes")).values).toEqual(["threshold", "Tuple[float]", "codes_used", "Tuple[int,bool]", "label", "Tuple[str]"]);
    expect((await ok(s, "set threshold 0.2")).values).toEqual(["threshold", 0.2]);
    expect((await ok(s, "get threshold")).values).toEqual(["threshold", 0.2]);
    expect((await ok(s, "set label foo")).values).toEqual(["label", "foo"]);
    expect((await ok(s, "get label")).values).toEqual(["label", "foo"]);
    expect((await ok(s, "set codes_used 4 0")).values).toEqual(["codes_used", 4, 0]);
    expect(await refused(s, "set threshold 0.2 0.3")).toMatch(/takes 1 value \(float\), got 2/);
    await ok(s, "load torch2.ts");
    expect((await ok(s, "attributes")).dict).toContainEqual({ name: "wavetable", type: "Tensor", value: [32] });
    s.dispose();
  });

  it("a tensor attribute: get answers its shape, 'tensor <attribute> <file.wav>' sets it from the file's samples, inside the workspace only", async () => {
    const s = newSession();
    await ok(s, "load torch2.ts");
    expect((await ok(s, "get wavetable")).values).toEqual(["wavetable", 32]);
    const root = s.requireModel().module as tb.torchscript.TorchScriptRoot;
    expect((await ok(s, "tensor wavetable table.wav")).values).toEqual(["wavetable", 32]);
    // setting it again frees the copy it replaces (the file's own table stays with the archive)
    const before = tf.memory().numTensors;
    expect((await ok(s, "tensor wavetable table.wav")).values).toEqual(["wavetable", 32]);
    const table = root.getTensorAttribute("wavetable");
    Array.from(table.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(Math.sin(i / 3), 6));
    table.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // a stereo file is [channels, samples]; this model's setter refuses that shape and keeps its table
    expect(await refused(s, "tensor wavetable stereo.wav")).toMatch(/refused/);
    expect((await ok(s, "get attribute:wavetable")).values).toEqual(["wavetable", 32]);
    expect(await refused(s, `tensor wavetable ${outside}`)).toMatch(/outside|workspace/);
    expect(await refused(s, "tensor mix table.wav")).toMatch(/unknown tensor attribute 'mix' \(tensor attributes: wavetable\)/);
    expect(await refused(s, "tensor wavetable nosuch.wav")).toMatch(/nosuch\.wav/);
    expect(tf.memory().numTensors).toBe(before);
    s.dispose();
  });
});

describe("nn~ enum attributes", () => {
  it("an enum (a str attribute whose setter accepts only the names of a List[str] attribute): get answers the name, set takes a name or an index, others are refused listing the choices", async () => {
    const s = newSession();
    await ok(s, "load enum_attribute.ts");
    const listed = await ok(s, "attributes");
    expect(listed.values).toEqual(["animal", "enum[horse,goose,chicken,pig]", "name", "Tuple[str]"]);
    expect(listed.dict).toContainEqual({ name: "animal", type: "enum[horse,goose,chicken,pig]", value: ["goose"], choices: ["horse", "goose", "chicken", "pig"] });
    expect((await ok(s, "get animal")).values).toEqual(["animal", "goose"]);
    const root = s.requireModel().module as tb.torchscript.TorchScriptRoot;
    const gain = (): number => tf.tidy(() => (root.forward(tf.ones([1, 1, 4])) as tb.Tensor).dataSync()[0]);
    expect(gain()).toBe(2); // the model multiplies by the animal's index + 1
    expect((await ok(s, "set animal pig")).values).toEqual(["animal", "pig"]);
    expect((await ok(s, "get animal")).values).toEqual(["animal", "pig"]);
    expect(gain()).toBe(4);
    expect((await ok(s, "set animal 0")).values).toEqual(["animal", "horse"]);
    expect(gain()).toBe(1);
    expect(await refused(s, "set animal cat")).toBe("attribute 'animal' takes one of horse, goose, chicken, pig (or an index 0-3), got 'cat'");
    expect(await refused(s, "set animal 4")).toMatch(/takes one of horse, goose, chicken, pig .*got '4'/);
    expect(await refused(s, "set animal horse pig")).toMatch(/takes one of .* got 2 values/);
    expect((await ok(s, "get animal")).values).toEqual(["animal", "horse"]);
    // a str attribute whose setter checks nothing is no enum
    expect((await ok(s, "set name cat")).values).toEqual(["name", "cat"]);
    s.dispose();
  });
});

describe("nn~ buffer attributes", () => {
  it("'buffer <name> <file.wav>' fills one with the file's samples and sample rate, 'buffers' lists them, 'buffer <name> clear' empties it", async () => {
    const s = newSession();
    await ok(s, "load torch2.ts");
    expect((await ok(s, "buffers")).values).toEqual(["buffer", 1]);
    const root = s.requireModel().module as tb.torchscript.TorchScriptRoot;
    await ok(s, "buffer buffer grain.wav");
    await ok(s, "buffer buffer clear");
    // from here on, what a fill and a clear make is freed when replaced
    const before = tf.memory().numTensors;
    expect((await ok(s, "buffer buffer grain.wav")).values).toEqual(["buffer", 1, 5, 22050]);
    expect((await ok(s, "buffers")).values).toEqual(["buffer", 0]);
    const object = root.attribute("buffer") as { field(name: string): unknown };
    expect(object.field("sr")).toBe(22050);
    // the model's own method reads it: x + the buffer tiled
    const x = tf.zeros([1, 1, 12]);
    const out = root.invoke("buffered", [x]) as tb.Tensor;
    const wave = [-0.5, -0.25, 0, 0.25, 0.5];
    Array.from(out.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(wave[i % 5], 6));
    tf.dispose([x, out]);
    expect((await ok(s, "buffer buffer stereo.wav")).values).toEqual(["buffer", 2, 7, 48000]);
    expect((await ok(s, "buffer buffer clear")).values).toEqual(["buffer", "clear"]);
    expect((await ok(s, "buffers")).values).toEqual(["buffer", 1]);
    expect(tf.memory().numTensors).toBe(before);
    expect(await refused(s, "buffer nothing grain.wav")).toMatch(/unknown buffer attribute 'nothing' \(buffer attributes: buffer\)/);
    expect(await refused(s, `buffer buffer ${outside}`)).toMatch(/outside|workspace/);
    expect(await refused(s, "buffer buffer table.txt")).toMatch(/WAV/);
    await ok(s, "load audio");
    expect((await ok(s, "buffers")).values).toEqual([]);
    expect(await refused(s, "buffer buffer grain.wav")).toMatch(/no buffer attributes/);
    s.dispose();
  });
});

describe("multichannel methods", () => {
  it("a crossfade and a declick act on each channel of a block on its own", () => {
    const frames = 200;
    const from = new Float32Array(2 * frames).fill(1, 0, frames).fill(-1, frames);
    const to = new Float32Array(2 * frames);
    tb.control.crossfadePrefix(from, to, 2);
    // each channel starts at the old value and ends at the new one
    expect([to[0], to[frames - 1], to[frames], to[2 * frames - 1]]).toEqual([1, 0, -1, 0]);
    const block = new Float32Array(2 * frames).fill(0.5, 0, frames).fill(-0.5, frames);
    tb.control.declickChannels(block, 2, Float32Array.from([0, 1]));
    expect([block[0], block[frames]]).toEqual([0, 1]); // each from its own last sample
    expect([block[frames - 1], block[2 * frames - 1]]).toEqual([0.5, -0.5]);
    expect(Array.from(tb.control.lastSamples(block, 2))).toEqual([0.5, -0.5]);
  });

  it("a method with two inputs and two outputs streams both channels (midside), channel after channel", async () => {
    const s = newSession();
    await ok(s, "load effects.ts");
    await ok(s, "method midside");
    await ok(s, "stream start");
    const n = s.blockSamples;
    const data = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      data[i] = Math.sin(i / 10);
      data[n + i] = 0.5 * Math.cos(i / 7);
    }
    const heard = new Promise<tb.control.OutputBlock>((resolve) => {
      const off = s.onBlock((block) => {
        if (block.data.some((v) => v !== 0)) {
          off();
          resolve(block);
        }
      });
    });
    for (let i = 0; i < 4; i++) expect(s.receiveAudio({ source: "test", sampleRate: s.sampleRate, channels: 2, data: data.slice(), arrival: tb.control.wallClockMs() }).ok).toBe(true);
    expect(s.receiveAudio({ source: "test", sampleRate: s.sampleRate, channels: 1, data: data.slice(0, n), arrival: tb.control.wallClockMs() }).ok).toBe(false);
    const block = await heard;
    expect(block).toMatchObject({ stream: "audio", channels: 2, frames: n });
    // mid then side (past the declick of the block where the sender came in)
    for (let i = 256; i < n; i++) {
      expect(block.data[i]).toBeCloseTo((data[i] + data[n + i]) / 2, 5);
      expect(block.data[n + i]).toBeCloseTo((data[i] - data[n + i]) / 2, 5);
    }
    s.stopStream();
    s.dispose();
  });
});

/** Renders `blocks` blocks of the fixture decoder at `latents` (one per voice) in one session with that many voices. */
async function renderVoices(latents: number[][], blocks: number, bend?: string): Promise<tb.control.OutputBlock[]> {
  const s = newSession();
  await ok(s, "load audio");
  if (bend) await ok(s, bend);
  await ok(s, `voices ${latents.length}`);
  for (let k = 0; k < latents.length; k++) await ok(s, `voice ${k + 1} ${latents[k].join(" ")}`);
  const out: tb.control.OutputBlock[] = [];
  for (let b = 0; b < blocks; b++) out.push(await s.renderBlock());
  s.dispose();
  return out;
}

describe("voices (mc.nn~)", () => {
  it("N voices in one batch: each voice's channel is what one voice alone renders at its latent, block after block (own streaming state, shared bendings)", async () => {
    const latents = [0, 1, 2].map((k) => Array.from({ length: 8 }, (_, i) => Math.sin(i + 3 * k)));
    const bend = "bend net_3_conv1 scale scale 0.5";
    const together = await renderVoices(latents, 3, bend);
    for (const block of together) expect(block).toMatchObject({ stream: "audio", channels: 3 });
    for (let k = 0; k < latents.length; k++) {
      const alone = await renderVoices([latents[k]], 3, bend);
      for (let b = 0; b < 3; b++) {
        const frames = alone[b].frames;
        expect(together[b].frames).toBe(frames);
        const voice = together[b].data.subarray(k * frames, (k + 1) * frames);
        let worst = 0;
        for (let i = 0; i < frames; i++) worst = Math.max(worst, Math.abs(voice[i] - alone[b].data[i]));
        expect(worst, `voice ${k + 1}, block ${b}`).toBeLessThan(1e-4);
      }
    }
    // the voices differ (their latents differ), and the bending is there, so the comparisons above could fail
    const f = together[2].frames;
    expect(together[2].data.subarray(0, f).some((v, i) => Math.abs(v - together[2].data[f + i]) > 1e-3)).toBe(true);
    const unbent = await renderVoices([latents[0]], 1);
    expect(unbent[0].data.some((v, i) => Math.abs(v - together[0].data[i]) > 1e-3)).toBe(true);
  });

  it("voices: bounds, per-voice input commands, no render of several voices, one voice after a load, memory flat", async () => {
    const s = newSession();
    await ok(s, "load audio");
    expect((await ok(s, "voices")).values).toEqual([1]);
    expect(await refused(s, "voices 17")).toMatch(/1 to 16/);
    expect(await refused(s, "voices 0")).toMatch(/1 to 16/);
    expect((await ok(s, "voices 2")).values).toEqual([2]);
    expect(s.status()).toMatchObject({ voices: 2, out_channels: 1 });
    expect(await refused(s, "voice 3 0 0 0 0 0 0 0 0")).toMatch(/voice 3 does not exist/);
    expect(await refused(s, "voice 2 1 2")).toMatch(/8 latent values/);
    expect((await ok(s, "voice 2 walk 0.5")).values[0]).toBe(2);
    expect((await ok(s, "voice 2 hold")).values[0]).toBe(2);
    await ok(s, "voice 1 0 0 0 0 0 0 0 0");
    expect(s.latent).toEqual(new Array(8).fill(0));
    expect(await refused(s, "render out.wav 0.1")).toMatch(/voices 1/);
    expect((await s.renderBlock()).channels).toBe(2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await s.renderBlock();
    expect(tf.memory().numTensors).toBe(before);
    await ok(s, "load audio");
    expect((await ok(s, "voices")).values).toEqual([1]);
    s.dispose();
  });

  it("a TorchScript export whose caches follow the batch (cached_conv's MAX_BATCH) runs voices; a method that takes audio takes N × in_channels", async () => {
    const s = newSession();
    await ok(s, "load rave_like.ts");
    await ok(s, "method decode");
    await ok(s, "voices 2");
    const block = await s.renderBlock();
    expect(block.channels).toBe(2);
    expect(block.frames).toBe(s.blockSamples);
    await ok(s, "load effects.ts");
    await ok(s, "method midside");
    await ok(s, "voices 3");
    await ok(s, "stream start");
    const n = s.blockSamples;
    expect(s.receiveAudio({ source: "t", sampleRate: s.sampleRate, channels: 6, data: new Float32Array(6 * n), arrival: 0 }).ok).toBe(true);
    expect(s.receiveAudio({ source: "t", sampleRate: s.sampleRate, channels: 2, data: new Float32Array(2 * n), arrival: 0 }).ok).toBe(false);
    s.stopStream();
    s.dispose();
  });
});

describe("voices over OSC", () => {
  it("each voice's channel goes out as /tfbend/audio chunks with the channel as a sixth argument", async () => {
    const plugin = await startPlugin();
    const inbox: OscMessage[] = [];
    const udp = await oscClient(inbox);
    try {
      const send = (command: string, atoms: tb.control.Atom[]) =>
        udp.send(osc.writePacket({ address: `/tfbend/${command}`, args: tb.transports.toOscArgs(atoms) }, { metadata: true }), plugin.oscServer.port, "127.0.0.1");
      const replied = (command: string) => new Promise<OscMessage>((resolve) => {
        const look = () => {
          const found = inbox.find((m) => (m.address === "/tfbend/ok" || m.address === "/tfbend/error") && m.args[0]?.value === command);
          if (found) {
            udp.off("message", look);
            resolve(found);
          }
        };
        udp.on("message", look);
      });
      const voices = replied("voices");
      send("voices", [2]);
      expect((await voices).args.map((a) => a.value)).toEqual(["voices", 2]);
      // both channels of one block: every chunk of channel 0 and of channel 1
      const block = new Promise<OscMessage[]>((resolve) => {
        const look = () => {
          const audio = inbox.filter((m) => m.address === "/tfbend/audio");
          const seq = audio[0]?.args[0].value;
          const of = audio.filter((m) => m.args[0].value === seq);
          const bytes = (c: number) => of.filter((m) => m.args[5]?.value === c).reduce((n, m) => n + (m.args[4].value as Uint8Array).byteLength, 0);
          if (audio.length > 0 && bytes(0) === 4 * Number(audio[0].args[3].value) && bytes(1) === bytes(0)) {
            udp.off("message", look);
            resolve(of);
          }
        };
        udp.on("message", look);
      });
      send("stream", ["start"]);
      const chunks = await block;
      expect(new Set(chunks.map((m) => m.args[5].value))).toEqual(new Set([0, 1]));
      expect(chunks.every((m) => m.args.length === 6)).toBe(true);
      const stopped = replied("stream");
      send("stream", ["stop"]);
      await stopped;
    } finally {
      udp.close();
      await plugin.close();
    }
  });
});
