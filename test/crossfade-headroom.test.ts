// A control change crossfades without doubling the block's cost: a step too small to hear
// is not crossfaded at all (one render, a declick), and an audible one renders the block
// once, under the new state, fading in from how the blocks before go on (their last period
// repeated) instead of rendering the old state again.
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

describe("the continuation a crossfade fades from", () => {
  const RATE = 44100;
  /** `n` samples of a two-channel signal from sample `from` on (channel-major): a 220 Hz tone with a harmonic, and a 1 kHz tone. */
  const signal = (from: number, n: number) => {
    const x = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const t = (from + i) / RATE;
      x[i] = 0.5 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 660 * t + 1);
      x[n + i] = 0.3 * Math.sin(2 * Math.PI * 1000 * t);
    }
    return x;
  };

  it("keeps the last CONTINUATION_TAIL samples of each channel across blocks", () => {
    let tail: Float32Array | null = null;
    for (let b = 0; b < 5; b++) tail = control.appendTail(tail, signal(b * 700, 700), 2);
    const n = control.CONTINUATION_TAIL;
    expect(Array.from(tail!)).toEqual(Array.from(signal(5 * 700 - n, n)));
  });

  it("goes on as a periodic signal goes on, each channel on its own, within a few % of its peak", () => {
    const n = control.CONTINUATION_TAIL;
    const fade = control.CROSSFADE_MIN_SAMPLES;
    const next = control.continuation(signal(0, n), 2, fade);
    const truth = signal(n, fade);
    const peaks = [0.7, 0.3];
    for (let c = 0; c < 2; c++) {
      let worst = 0;
      for (let i = 0; i < fade; i++) worst = Math.max(worst, Math.abs(next[c * fade + i] - truth[c * fade + i]));
      expect(worst, `channel ${c}`).toBeLessThan(0.05 * peaks[c]);
    }
    // silence goes on as silence
    expect(control.continuation(new Float32Array(n), 1, fade).every((v) => v === 0)).toBe(true);

    // noise has no period: it goes on from the very sample it ended on (no step at the join)
    let seed = 7;
    const noise = Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
    const onward = control.continuation(noise, 1, fade);
    expect(onward[0]).toBe(noise[n - 1]);
    let largest = 0;
    for (let i = 1; i < n; i++) largest = Math.max(largest, Math.abs(noise[i] - noise[i - 1]));
    for (let i = 1; i < fade; i++) expect(Math.abs(onward[i] - onward[i - 1])).toBeLessThanOrEqual(largest);
  });
});

describe("a control change while latents stream", () => {
  const sessions: tb.control.Session[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.dispose();
  });

  /** Streams `decode` of the shipped model on a fixed latent with a bending bound to control 'gain'; counts the model's calls. */
  async function open(engine: "wasm" | "native" = "wasm") {
    const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-headroom-")), modelsDir: MODELS, safety: false, engine });
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

  /** Block 5 of a stream that changes 'gain' right after its block 4, by `change`; the blocks before it too. */
  const changedAt5 = async (change: (s: tb.control.Session) => Promise<unknown>, engine: "wasm" | "native" = "wasm") => {
    const x = await open(engine);
    while ((await x.block()).index < 4);
    x.calls.length = 0;
    await change(x.session);
    const block = await x.block();
    x.session.stopStream();
    return { ...x, data: block.data, index: block.index };
  };

  it("renders the block once under the new state; its start fades in from how the blocks before go on, with no step larger than the signal's own", async () => {
    const faded = await changedAt5((s) => s.execute(["set", "gain", 0.5]));
    const switched = await changedAt5(async (s) => s.requireModel().update("gain", 0.5)); // switched without a crossfade
    expect([faded.index, switched.index]).toEqual([5, 5]);
    expect(faded.calls.length).toBe(1);
    expect(faded.calls[0][2]).toBe(faded.session.blockFrames);
    const fade = control.CROSSFADE_MIN_SAMPLES;
    expect(Array.from(faded.data.subarray(fade))).toEqual(Array.from(switched.data.subarray(fade)));
    expect(Array.from(faded.data.subarray(0, fade))).not.toEqual(Array.from(switched.data.subarray(0, fade)));
    // Continuous: no step across the join or the fade larger than the largest step of the signal
    // on either side of the change (the blocks before, under the old state; the new state's block).
    const largestStep = (x: Float32Array) => x.reduce((m, v, i) => (i === 0 ? m : Math.max(m, Math.abs(v - x[i - 1]))), 0);
    const own = Math.max(...faded.blocks.slice(0, 5).map(largestStep), largestStep(switched.data));
    const joined = new Float32Array([faded.blocks[4][faded.blocks[4].length - 1], ...faded.data.subarray(0, fade + 1)]);
    expect(largestStep(joined)).toBeLessThanOrEqual(own);
    expect(own).toBeGreaterThan(0);
  });

  it.skipIf(tb.native.nativeUnavailableReason() !== null)("on the native engine, a change runs the compiled session once for the block, and fades as wasm does", async () => {
    const runData = tb.native.CompiledMethod.prototype.runData;
    let runs = 0;
    tb.native.CompiledMethod.prototype.runData = function (this: tb.native.CompiledMethod, inputs: Float32Array[]) {
      runs++;
      return runData.call(this, inputs);
    };
    try {
      const onNative = await changedAt5(async (s) => {
        runs = 0;
        return s.execute(["set", "gain", 0.5]);
      }, "native");
      expect(runs).toBe(1);
      expect(onNative.calls.length).toBe(0); // nothing ran on tfjs
      const onWasm = await changedAt5((s) => s.execute(["set", "gain", 0.5]));
      const peak = onWasm.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const worst = onWasm.data.reduce((m, v, i) => Math.max(m, Math.abs(v - onNative.data[i])), 0);
      expect(worst).toBeLessThanOrEqual(1e-4 * Math.max(peak, 1e-3));
    } finally {
      tb.native.CompiledMethod.prototype.runData = runData;
    }
  }, 60_000);
});
