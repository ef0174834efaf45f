// A control change crossfades without doubling the block's cost: a step too small to hear
// is not crossfaded at all (one render, a declick), and for a method that takes latents the
// old state renders only the frames that cover the fade (a streaming model is causal, so
// those samples equal the full render's first samples).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { control, tf } = tb;
const MODELS = join(import.meta.dirname, "../models");

describe("inaudible control steps", () => {
  it("are steps within INAUDIBLE_STEP of the range (or of the value when unbounded)", () => {
    const step = control.INAUDIBLE_STEP;
    expect(control.inaudibleStep(0.5, 0.5, [0, 1])).toBe(true);
    expect(control.inaudibleStep(0.5, 0.5 + step / 2, [0, 1])).toBe(true);
    expect(control.inaudibleStep(0.5, 0.5 + step * 2, [0, 1])).toBe(false);
    expect(control.inaudibleStep(100, 100 + 100 * step * 0.5, [-Infinity, Infinity])).toBe(true);
    expect(control.inaudibleStep(100, 101, null)).toBe(false);
  });
});

describe("a control change while latents stream", () => {
  const sessions: tb.control.Session[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.dispose();
  });

  /** Streams `decode` of the shipped model on a fixed latent with a bending bound to control 'gain'; counts the model's calls. */
  async function open() {
    const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-headroom-")), modelsDir: MODELS, safety: false });
    sessions.push(session);
    for (const atoms of [["load", "audio"], ["method", "decode"], ["input", 0.1, -0.2, 0.3, 0, 0.5, -0.1, 0.2, 0], ["bend", "net.2.conv.weight", "scale", "scale", "@gain=1"]]) {
      expect((await session.execute(atoms as tb.control.Atom[])).ok, atoms.join(" ")).toBe(true);
    }
    const model = session.requireModel();
    const calls: number[][] = [];
    const call = model.call.bind(model);
    model.call = (fn: string, ...args: unknown[]) => {
      calls.push((args[0] as tb.Tensor).shape);
      return call(fn, ...args);
    };
    const blocks: Float32Array[] = [];
    let next: (() => void) | null = null;
    session.onBlock((b) => {
      blocks.push(b.data);
      next?.();
    });
    /** The next block (its data and index). */
    const block = () => new Promise<{ data: Float32Array; index: number }>((resolve) => (next = () => resolve({ data: blocks[blocks.length - 1], index: blocks.length - 1 })));
    const started = block();
    session.startStream();
    await started;
    await block(); // the latent has ramped to the fixed value
    return { session, calls, block, blocks };
  }

  it("renders a block once when the step is inaudible", async () => {
    const { session, calls, block } = await open();
    await session.execute(["set", "gain", 1 + control.INAUDIBLE_STEP / 4]);
    await block(); // the bending's weights are cached for the new value
    calls.length = 0;
    const before = tf.memory().numTensors;
    await session.execute(["set", "gain", 1 + control.INAUDIBLE_STEP / 2]);
    await block();
    expect(calls.length).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("renders only the fade's frames under the old state, and the rest of the block as the new state gives it", async () => {
    /** Block 5 of a stream that changes 'gain' right after its block 4, by `change`. */
    const changedAt5 = async (change: (s: tb.control.Session) => Promise<unknown>) => {
      const x = await open();
      while ((await x.block()).index < 4);
      x.calls.length = 0;
      await change(x.session);
      const block = await x.block();
      x.session.stopStream();
      return { ...x, data: block.data, index: block.index };
    };
    const a = await changedAt5((s) => s.execute(["set", "gain", 0.5]));
    const b = await changedAt5(async (s) => s.requireModel().update("gain", 0.5)); // switched without a crossfade
    const [faded, switched] = [a, b];
    expect([faded.index, switched.index]).toEqual([5, 5]);
    expect(a.calls.length).toBe(2);
    const frames = a.session.blockFrames;
    const fadeFrames = Math.ceil(control.CROSSFADE_MIN_SAMPLES / (a.session.blockSamples / frames));
    expect(fadeFrames).toBeLessThan(frames);
    expect(a.calls[0][2]).toBe(fadeFrames); // the old state: the fade's frames only
    expect(a.calls[1][2]).toBe(frames);
    const fade = (fadeFrames * a.session.blockSamples) / frames;
    expect(Array.from(faded.data.subarray(fade))).toEqual(Array.from(switched.data.subarray(fade)));
    expect(Array.from(faded.data.subarray(0, fade))).not.toEqual(Array.from(switched.data.subarray(0, fade)));
  });
});
