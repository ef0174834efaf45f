// A model switch mid-stream (`load` while streaming) is crossfaded: the block where the new
// model takes over fades from what the old model renders for that block (its own streamed
// past) into the new model's, on both engines. Two copies of the RAVE-like fixture whose
// decode outputs a constant (+0.25, -0.25) make the join readable: a monotone ramp between
// the two levels from the old level on, not a jump and a declick. Where the channel count
// changes (two voices to one), nothing is mixed: the channel both have is declicked.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as tb from "tfbend";
import { editedTorchScript } from "./torchscript-edit.js";

const RAVE = join(import.meta.dirname, "fixtures", "torchscript", "rave_like.ts");
/** The shipped models (`audio`). */
const MODELS = join(import.meta.dirname, "..", "models");
const DECODE_RETURN = "    return (pqmf).inverse(y, )\n";
const HIGH = 0.25;
const LOW = -0.25;
const CLOSE = 1e-4;

/** rave_like.ts whose decode outputs `level` everywhere (same structure and streaming state). */
function constantModel(level: number): Buffer {
  return editedTorchScript(RAVE, (s) => s.replace(DECODE_RETURN, `    return torch.add(torch.mul((pqmf).inverse(y, ), 0.), ${level})\n`));
}

let root: string;
let workspace: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "tfbend-switch-"));
  workspace = join(root, "workspace");
  mkdirSync(workspace);
  copyFileSync(RAVE, join(workspace, "rave_like.ts"));
  writeFileSync(join(workspace, "high.ts"), constantModel(HIGH));
  writeFileSync(join(workspace, "low.ts"), constantModel(LOW));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A session on `engine`, safety off (the limiter would reshape the levels), and every block it streams. */
function streamingSession(engine: "wasm" | "native", input?: tb.control.AudioInputOptions) {
  const session = new tb.control.Session({ workspace, modelsDir: MODELS, safety: false, engine, input });
  const blocks: tb.control.OutputBlock[] = [];
  let waiting: { until: (b: tb.control.OutputBlock) => boolean; resolve: () => void } | null = null;
  session.onBlock((block) => {
    blocks.push(block);
    if (waiting?.until(block)) {
      waiting.resolve();
      waiting = null;
    }
  });
  const run = async (line: string) => {
    const reply = await session.execute(tb.control.parseLine(line));
    expect(reply.ok, `${line}: ${String(reply.values)}`).toBe(true);
  };
  /** Resolves at the first block (from now on) that `until` accepts. */
  const blockWhere = (until: (b: tb.control.OutputBlock) => boolean) => new Promise<void>((resolve) => (waiting = { until, resolve }));
  return { session, blocks, run, blockWhere };
}

/** Each channel of a block (channel-major). */
function channelsOf(block: tb.control.OutputBlock): Float32Array[] {
  return Array.from({ length: block.channels }, (_, c) => block.data.subarray(c * block.frames, (c + 1) * block.frames));
}

const near = (v: number, level: number) => Math.abs(v - level) < CLOSE;
const allNear = (xs: Float32Array, level: number) => xs.every((v) => near(v, level));
const endsAt = (level: number) => (b: tb.control.OutputBlock) => channelsOf(b).every((ch) => near(ch[ch.length - 1], level));

/** The join block of HIGH into LOW is a crossfade: from HIGH (no step), down to LOW, never back up, over hundreds of samples. */
function expectCrossfade(samples: Float32Array): void {
  expect(samples[0]).toBeCloseTo(HIGH, 3);
  for (let i = 1; i < samples.length; i++) expect(samples[i], `sample ${i}`).toBeLessThanOrEqual(samples[i - 1] + 1e-6);
  const between = samples.filter((v) => v < HIGH - CLOSE && v > LOW + CLOSE).length;
  // A crossfade of about CROSSFADE_MIN_SAMPLES, not a jump that a 128-sample declick smooths.
  expect(between).toBeGreaterThanOrEqual(400);
  // Halfway through the fade, halfway between the levels (a linear mix of two constants).
  const fade = between + 1;
  expect(samples[Math.round(fade / 2)]).toBeCloseTo((HIGH + LOW) / 2, 2);
  expect(allNear(samples.subarray(fade + 1), LOW)).toBe(true);
}

describe.each(["wasm", "native"] as const)("a model switch mid-stream on %s", (engine) => {
  it("crossfades from the old model's render of the join block: a monotone ramp between the two levels, no jump", async () => {
    const { session, blocks, run, blockWhere } = streamingSession(engine);
    try {
      await run("load high.ts decode");
      await run("stream start");
      await blockWhere(endsAt(HIGH));
      const tensors = tb.tf.memory().numTensors;
      const arrived = blockWhere(endsAt(LOW));
      // The old model's render of the join block runs (a failure would fall back to the continuation, and say so).
      const failures = vi.spyOn(console, "error");
      await run("load low.ts decode");
      await arrived;
      expect(failures).not.toHaveBeenCalled();
      failures.mockRestore();
      const join = blocks.findIndex((b) => !allNear(b.data, HIGH));
      expect(join).toBeGreaterThan(0);
      for (const b of blocks.slice(0, join)) expect(allNear(b.data, HIGH)).toBe(true);
      expectCrossfade(channelsOf(blocks[join])[0]);
      // The blocks after are the new model's alone, and the old model is gone with its tensors.
      await blockWhere(() => true);
      for (const b of blocks.slice(join + 1)) expect(allNear(b.data, LOW)).toBe(true);
      expect(session.status()).toMatchObject({ model: "low.ts", streaming: 1 });
      // Switching on and back holds no more tensors than the first switch left (the models that left are freed).
      const afterSwitch = tb.tf.memory().numTensors;
      for (const [file, level] of [["high.ts", HIGH], ["low.ts", LOW]] as const) {
        const back = blockWhere(endsAt(level));
        await run(`load ${file} decode`);
        await back;
        await blockWhere(() => true);
      }
      console.log(`${engine}: tensors ${tensors} before the switch, ${afterSwitch} after, ${tb.tf.memory().numTensors} after two more`);
      expect(tb.tf.memory().numTensors).toBeLessThanOrEqual(afterSwitch);
    } finally {
      session.dispose();
    }
  });

  it("where the channel count changes (two voices to one), the channel both have is declicked, not mixed", async () => {
    const { session, blocks, run, blockWhere } = streamingSession(engine);
    try {
      await run("load high.ts decode");
      await run("voices 2");
      await run("stream start");
      await blockWhere((b) => b.channels === 2 && endsAt(HIGH)(b));
      const arrived = blockWhere((b) => b.channels === 1 && endsAt(LOW)(b));
      await run("load low.ts decode");
      await arrived;
      const join = blocks.findIndex((b) => b.channels === 1);
      expect(channelsOf(blocks[join - 1]).every((ch) => allNear(ch, HIGH))).toBe(true);
      const [samples] = channelsOf(blocks[join]);
      expect(samples[0]).toBeCloseTo(HIGH, 3);
      const between = samples.filter((v) => v < HIGH - CLOSE && v > LOW + CLOSE).length;
      expect(between).toBeGreaterThan(0);
      expect(between).toBeLessThan(tb.control.DECLICK_SAMPLES);
      expect(allNear(samples.subarray(tb.control.DECLICK_SAMPLES), LOW)).toBe(true);
    } finally {
      session.dispose();
    }
  });
});

describe("a model switch from a method that takes live audio", () => {
  it("fades from the continuation of the old model's last blocks (its next input has not arrived when it leaves)", async () => {
    const { session, blocks, run, blockWhere } = streamingSession("wasm", { idleMs: 1e9, lateBlocks: 1e9 });
    try {
      // rave_like's forward (decode of encode) takes audio: the stream renders a block per block fed.
      await run("load high.ts forward");
      await run("stream start");
      /** Feeds one block of a tone and resolves when its output block is out. */
      const feed = async () => {
        const out = blockWhere(() => true);
        const data = Float32Array.from({ length: session.blockSamples }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 441 * i) / session.sampleRate));
        const reply = session.receiveAudio({ source: "test", sampleRate: session.sampleRate, channels: 1, data, arrival: tb.control.wallClockMs() });
        expect(reply.ok, String(reply.values)).toBe(true);
        await out;
      };
      for (let k = 0; k < 3; k++) await feed();
      await run("load low.ts forward");
      await feed();
      await feed();
      const join = blocks.findIndex((b) => !allNear(b.data, HIGH));
      expect(join).toBe(3);
      expectCrossfade(channelsOf(blocks[join])[0]);
      expect(allNear(blocks[join + 1].data, LOW)).toBe(true);
    } finally {
      session.dispose();
    }
  });
});

describe("the first switch is on time: the incoming model's compile leaves the stream room", () => {
  it("compileMethod waits between its three steps (trace, lowering, ONNX Runtime's load), and a wait that fails frees what the trace held", async () => {
    const session = new tb.control.Session({ workspace, modelsDir: MODELS, engine: "wasm" });
    try {
      expect((await session.execute(["load", "rave_like.ts", "decode"])).ok).toBe(true);
      const model = session.requireModel();
      const shape = [1, 3, session.blockFrames];
      let waits = 0;
      const compiled = await tb.native.compileMethod(model, "decode", [shape], {}, async () => {
        waits++;
      });
      expect(waits).toBe(2);
      compiled.dispose();
      const tensors = tb.tf.memory().numTensors;
      await expect(tb.native.compileMethod(model, "decode", [shape], {}, () => Promise.reject(new Error("the load was cancelled")))).rejects.toThrow(/cancelled/);
      expect(tb.tf.memory().numTensors).toBe(tensors);
    } finally {
      session.dispose();
    }
  });

  it("the prepared session's warm-up run off the audio path leaves its streamed past as it was: the new model's first block is a fresh start's", async () => {
    /** The first block `audio` decode streams on native, after a switch from rave_like or from a fresh start. */
    const firstBlock = async (switched: boolean): Promise<Float32Array> => {
      const { session, blocks, run, blockWhere } = streamingSession("native");
      try {
        if (switched) {
          await run("load rave_like.ts decode");
          await run("stream start");
          await blockWhere(() => true);
        }
        const arrived = blockWhere(() => session.modelName === "audio");
        await run("load audio decode");
        if (!switched) await run("stream start");
        await arrived;
        return blocks[blocks.length - 1].data;
      } finally {
        session.dispose();
      }
    };
    const [fresh, joined] = [await firstBlock(false), await firstBlock(true)];
    expect(joined.length).toBe(fresh.length);
    // Past the crossfade from the old model (and its declick), the block is the fresh start's.
    const after = joined.subarray(tb.control.CROSSFADE_MIN_SAMPLES);
    const expected = fresh.subarray(tb.control.CROSSFADE_MIN_SAMPLES);
    expect(expected.some((v) => v !== 0)).toBe(true);
    let worst = 0;
    for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - expected[i]));
    expect(worst).toBeLessThan(1e-4);
  });
});
