// A change while audio streams (a control, a version, an interpolation) crossfades: the
// block is rendered once, under the new state, and its first CROSSFADE_MIN_SAMPLES fade in
// from how the blocks before go on (their last period repeated: control.continuation), so
// a change costs one render. Checked sample for sample against two sessions that never
// saw the change as a command: one that keeps the old state, one switched without a crossfade.
// The test feeds input at its own pace, three sessions in turn, and waits on each block's
// event: the input watchdog (a sender that stops or is late gets silence) is set out of
// reach, since on a loaded machine a session would otherwise wait long enough between two
// feeds to get a block of silence in between (and a declick after it).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { control, tf } = tb;
const MODELS = join(import.meta.dirname, "../models");
const RATE = 44100;
const BLOCK = 2048;

/** A deterministic input block: a chirp that differs from block to block. */
function inputBlock(k: number): Float32Array {
  const x = new Float32Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    const t = (k * BLOCK + i) / RATE;
    x[i] = 0.5 * Math.sin(2 * Math.PI * (200 + 400 * t) * t);
  }
  return x;
}

/** A sender never counts as stopped or late here: blocks come only from the input fed. */
const PATIENT_INPUT = { idleMs: 1e9, lateBlocks: 1e9 };

/** A session streaming `forward` (input-driven: deterministic), safety off, set up by `prepare`. */
async function streamingSession(prepare: string[][]) {
  const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-xfade-")), modelsDir: MODELS, safety: false, input: PATIENT_INPUT });
  for (const atoms of [["load", "audio"], ["method", "forward"], ...prepare]) {
    const reply = await session.execute(atoms);
    expect(reply.ok, `${atoms.join(" ")}: ${String(reply.values[0])}`).toBe(true);
  }
  const blocks: Float32Array[] = [];
  let next: ((block: Float32Array) => void) | null = null;
  session.onBlock((b) => {
    blocks.push(b.data);
    next?.(b.data);
  });
  session.onError((reply) => {
    throw new Error(`stream failed: ${String(reply.values[0])}`);
  });
  session.startStream();
  /** Feeds input block k and resolves with the output block it produced. */
  const feed = (k: number): Promise<Float32Array> => {
    expect(blocks.length, "a block came without input").toBe(k);
    const rendered = new Promise<Float32Array>((resolve) => (next = resolve));
    const reply = session.receiveAudio({ source: "test", sampleRate: RATE, channels: 1, data: inputBlock(k), arrival: control.wallClockMs() });
    expect(reply.ok, String(reply.values[0])).toBe(true);
    return rendered.then((block) => {
      next = null;
      expect(session.input.underruns).toBe(0);
      return block;
    });
  };
  return { session, feed };
}

const PREPARE = [
  ["bend", "net.3.conv1.weight", "scale", "scale", 0.25],
  ["write", "quiet"], // bakes the bending into version 'quiet' (and removes it)
  ["version", "default"],
  ["bend", "net.2.conv.weight", "scale", "scale", "@gain=1.5"],
];

/** Each change: as a command (crossfaded), and applied to the module directly (no crossfade). */
const CHANGES: { name: string; command: tb.control.Atom[]; direct: (b: tb.BendedModule) => void }[] = [
  { name: "a control driving a weight bending", command: ["set", "gain", 0.5], direct: (b) => b.update("gain", 0.5) },
  { name: "a version switch", command: ["version", "quiet"], direct: (b) => (b.version = "quiet") },
  { name: "an interpolation", command: ["interpolate", "default", 1, "quiet", 3], direct: (b) => b.interpolate({ _default: 1, quiet: 3 }) },
];

describe("crossfade on a change while audio streams", () => {
  for (const change of CHANGES) {
    it(`${change.name}: the block fades from the blocks before into the new state's render, rendered once`, async () => {
      const crossfaded = await streamingSession(PREPARE);
      const unchanged = await streamingSession(PREPARE);
      const switched = await streamingSession(PREPARE);
      let last = 0;
      let tail: Float32Array | null = null;
      for (let k = 0; k < 3; k++) {
        const [a, b, c] = [await crossfaded.feed(k), await unchanged.feed(k), await switched.feed(k)];
        expect(Array.from(a)).toEqual(Array.from(b));
        expect(Array.from(a)).toEqual(Array.from(c));
        last = a[BLOCK - 1];
        tail = control.appendTail(tail, a, 1);
      }
      expect((await crossfaded.session.execute(change.command)).ok).toBe(true);
      change.direct(switched.session.requireModel());
      const model = crossfaded.session.requireModel();
      let renders = 0;
      const call = model.call.bind(model);
      model.call = (fn: string, ...args: unknown[]) => {
        renders++;
        return call(fn, ...args);
      };
      const [mixed, old, now] = [await crossfaded.feed(3), await unchanged.feed(3), await switched.feed(3)];
      expect(renders).toBe(1);
      const expected = Float32Array.from(now);
      control.crossfadePrefix(control.continuation(tail!, 1, control.CROSSFADE_MIN_SAMPLES), expected, 1);
      control.declick(expected, last);
      let worst = 0;
      for (let i = 0; i < BLOCK; i++) worst = Math.max(worst, Math.abs(mixed[i] - expected[i]));
      expect(worst).toBeLessThan(1e-5);
      // The change is audible: the new state differs from the old one by more than rounding.
      let change_ = 0;
      for (let i = 0; i < BLOCK; i++) change_ = Math.max(change_, Math.abs(now[i] - old[i]));
      expect(change_).toBeGreaterThan(1e-3);
      // The next block is the new state alone, from the same past as the switched session.
      const [after, afterSwitched] = [await crossfaded.feed(4), await switched.feed(4)];
      let drift = 0;
      for (let i = 0; i < BLOCK; i++) drift = Math.max(drift, Math.abs(after[i] - afterSwitched[i]));
      expect(drift).toBeLessThan(1e-5);
      for (const s of [crossfaded, unchanged, switched]) s.session.dispose();
    }, 60_000);
  }

  it("a change that fails or changes nothing leaves no crossfade and no tensors behind", async () => {
    const s = await streamingSession(PREPARE);
    await s.feed(0);
    // Two crossfades first: the interpolation's average (one tensor per weight) and what
    // the first crossfades allocate once are not counted.
    for (const k of [1, 2]) {
      expect((await s.session.execute(["set", "gain", k])).ok).toBe(true);
      expect((await s.session.execute(["interpolate", "default", 1, "quiet", k])).ok).toBe(true);
      await s.feed(k);
    }
    const tensors = tf.memory().numTensors;
    expect((await s.session.execute(["interpolate", "default", 1, "nope", 1])).ok).toBe(false);
    expect((await s.session.execute(["set", "gain", 2])).ok).toBe(true); // the value it has
    expect(tf.memory().numTensors).toBe(tensors);
    for (let k = 3; k < 9; k++) {
      expect((await s.session.execute(["set", "gain", k / 10])).ok).toBe(true);
      expect(tf.memory().numTensors).toBeGreaterThan(tensors); // the pinned old weights
      expect((await s.session.execute(["interpolate", "default", 1, "quiet", k])).ok).toBe(true);
      await s.feed(k);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    s.session.dispose();
  }, 60_000);
});

describe("BendedModule.pinWeights", () => {
  it("keeps the weights of the moment for later passes, sharing their data, and frees them on dispose", () => {
    const net = new tb.nn.Sequential(new tb.nn.Linear(4, 3), new tb.nn.ReLU(), new tb.nn.Linear(3, 2));
    const bended = new tb.BendedModule(net);
    const x = tf.randomNormal([5, 4]);
    bended.bend(new tb.Scale(3), "0.weight");
    bended.write("louder");
    bended.version = null;
    const before = bended.forward(x);
    const tensors = tf.memory().numTensors;
    const pin = bended.pinWeights();
    bended.interpolate({ _default: 1, louder: 1 });
    const after = bended.forward(x);
    const pinned = bended.withPinnedWeights(pin, () => bended.forward(x));
    expect(Array.from(pinned.dataSync())).toEqual(Array.from(before.dataSync()));
    expect(Array.from(after.dataSync())).not.toEqual(Array.from(before.dataSync()));
    // After the pinned pass the current state is back in force.
    const again = bended.forward(x);
    expect(Array.from(again.dataSync())).toEqual(Array.from(after.dataSync()));
    tf.dispose([after, pinned, again]);
    bended.version = null; // frees the interpolation's average
    pin.dispose();
    pin.dispose(); // twice is harmless
    bended.forward(x).dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, before]);
    bended.dispose();
  });

  it("several interpolations between two passes compute one average, the last", () => {
    const net = new tb.nn.Linear(4, 2);
    const bended = new tb.BendedModule(net);
    const x = tf.randomNormal([3, 4]);
    bended.bend(new tb.Scale(2), "weight");
    bended.write("double");
    bended.version = null;
    for (let i = 1; i <= 20; i++) bended.interpolate({ _default: 1, double: i });
    expect(bended.interpolationWeights).toEqual({ _default: 1, double: 20 });
    const y = bended.forward(x);
    const expected = bended.interpolate({ _default: 1, double: 20 }, () => bended.forward(x))!;
    expect(Array.from(y.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(() => bended.interpolate({ _default: 1, nope: 1 })).toThrow(/nope/);
    expect(bended.interpolationWeights).toEqual({ _default: 1, double: 20 });
    tf.dispose([x, y, expected]);
    bended.dispose();
  });
});
