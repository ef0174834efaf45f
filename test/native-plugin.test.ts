// The plugin on the native engine (ONNX Runtime): the shipped audio model streamed by a
// session with `engine native` says so in `status` and sounds as the wasm engine does,
// block for block, with bendings and a control moving every block; a version switch is
// compiled in the background, heard at a block boundary (crossfaded from the old session)
// and leaves no tensors behind; `native` where ONNX Runtime cannot run is a clear error.
// Feeds are paced by the test and wait on each block's event (see crossfade.test.ts).
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { control, tf, native } = tb;
const MODELS = join(import.meta.dirname, "../models");
const BLOCK = 2048;
const TOLERANCE = 1e-5;
const runtime = native.nativeUnavailableReason();

function worstDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function peak(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** A version 'quiet' (a weight bending baked in), then a weight bending and an activation bending under controls. */
const PREPARE: tb.control.Atom[][] = [
  ["bend", "net.3.conv1.weight", "scale", "scale", 0.25],
  ["write", "quiet"],
  ["version", "default"],
  ["bend", "net.2.conv.weight", "scale", "scale", "@gain=1.5"],
  ["bend", "net_6_conv", "affine", "scale", "@level=1.2", "bias", 0.01],
];

/** A fixed latent, held: `decode` streams the same blocks on every session. */
const LATENT: tb.control.Atom[][] = [["input", "hold"], ["input", 0.3, -0.5, 0.8, 0.1, -0.2, 0.6, -0.9, 0.4]];

/**
 * Streams `decode` (the shipped model's own method, on the stream clock) for `count`
 * blocks; `between(k, session)` runs right after block k is sent, so what it changes is in
 * force from block k + 1 (a command's synchronous part runs at once).
 */
async function decodeStream(engine: "native" | "wasm", count: number, between: (k: number, session: tb.control.Session, block: Float32Array) => void = () => undefined) {
  const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-native-")), modelsDir: MODELS, safety: false, engine });
  for (const atoms of [["load", "audio"], ["method", "decode"], ...PREPARE, ...LATENT]) {
    const reply = await session.execute(atoms);
    expect(reply.ok, `${atoms.join(" ")}: ${String(reply.values[0])}`).toBe(true);
  }
  const outputs: Float32Array[] = [];
  const done = new Promise<void>((resolve, reject) => {
    session.onError((reply) => reject(new Error(`stream failed: ${String(reply.values[0])}`)));
    session.onBlock((b) => {
      if (outputs.length >= count) return;
      outputs.push(b.data);
      if (outputs.length === count) {
        session.stopStream();
        resolve();
      } else between(outputs.length - 1, session, b.data);
    });
  });
  session.startStream();
  await done;
  return { session, outputs };
}

function within(a: Float32Array, b: Float32Array): boolean {
  return worstDiff(a, b) <= TOLERANCE * Math.max(peak(b), 1e-3);
}

describe.skipIf(runtime !== null)(`the plugin on the native engine${runtime ? ` (skipped: ${runtime})` : ""}`, () => {
  it("says native in status and streams as the wasm engine does with bendings and moving controls", async () => {
    const BLOCKS = 16;
    // A control moves every block (crossfaded on both engines), the other every third.
    const moves = (k: number, session: tb.control.Session) => {
      void session.execute(["set", "gain", 1 + 0.3 * Math.sin(k)]);
      if (k % 3 === 1) void session.execute(["set", "level", 0.8 + 0.1 * k]);
    };
    const onNative = await decodeStream("native", BLOCKS, moves);
    const onWasm = await decodeStream("wasm", BLOCKS, moves);
    for (let k = 0; k < BLOCKS; k++) {
      const [a, b] = [onNative.outputs[k], onWasm.outputs[k]];
      expect(worstDiff(a, b), `block ${k} (peak ${peak(b)})`).toBeLessThanOrEqual(TOLERANCE * Math.max(peak(b), 1e-3));
      expect(peak(b)).toBeGreaterThan(1e-3);
    }
    // The controls were heard: blocks under different gains differ by more than rounding.
    expect(worstDiff(onWasm.outputs[4], onWasm.outputs[5])).toBeGreaterThan(1e-3);
    const status = onNative.session.status();
    expect(status.engine).toBe("native");
    expect(status.method_engine).toBe("native");
    expect(status.engine_reason).toBe("none");
    expect(onWasm.session.status().engine).toBe("wasm");
    expect(tb.backendInfo().native).toMatch(/^onnxruntime \d+\.\d+\.\d+ \(cpu\)$/);
    onNative.session.dispose();
    onWasm.session.dispose();
  }, 120_000);

  it("a version switch is heard after the recompile, crossfaded at a block boundary, with no tensor leak", async () => {
    const BLOCKS = 60;
    const COMMAND_AT = 3;
    const unchanged = await decodeStream("wasm", BLOCKS);
    // The blocks before the switch is heard are the old version's (the command's block declicked).
    const expected = unchanged.outputs.map((b) => Float32Array.from(b));
    control.declick(expected[COMMAND_AT], expected[COMMAND_AT - 1][BLOCK - 1]);
    let tensors = 0;
    let heard = -1;
    const onNative = await decodeStream("native", BLOCKS, (k, session, block) => {
      if (k === COMMAND_AT - 1) {
        tensors = tf.memory().numTensors;
        void session.execute(["version", "quiet"]);
      }
      if (heard < 0 && k >= COMMAND_AT && !within(block, expected[k])) heard = k;
      if (heard >= 0 && k === heard + 3) void session.execute(["version", "default"]);
    });
    // Both old sessions are gone and the versions are back where they were: no tensor left behind.
    expect(tf.memory().numTensors).toBe(tensors);
    const swap = onNative.outputs.findIndex((b, k) => !within(b, expected[k]));
    expect(swap).toBe(heard);
    expect(swap, "the switch was never heard").toBeGreaterThan(COMMAND_AT - 1);
    // A wasm twin that switches directly (no command, no crossfade) at the block the native one did.
    const switched = await decodeStream("wasm", BLOCKS, (k, session) => {
      if (k === swap - 1) session.requireModel().version = "quiet";
    });
    const mixed = Float32Array.from(switched.outputs[swap]);
    control.crossfade(unchanged.outputs[swap], mixed);
    expect(worstDiff(onNative.outputs[swap], mixed), `swap block ${swap}`).toBeLessThanOrEqual(TOLERANCE * Math.max(peak(mixed), 1e-3));
    expect(worstDiff(unchanged.outputs[swap], switched.outputs[swap])).toBeGreaterThan(1e-3); // audible
    // From the swap on, the native stream is the switched one, from the same past.
    for (const k of [swap + 1, swap + 2]) expect(within(onNative.outputs[k], switched.outputs[k]), `block ${k}`).toBe(true);
    // Back to default (sent after block swap + 3): heard too (past its command's declick).
    const d = control.DECLICK_SAMPLES;
    const back = onNative.outputs.findIndex((b, k) => k > swap + 3 && !within(b.subarray(d), switched.outputs[k].subarray(d)));
    expect(back, "the switch back was never heard").toBeGreaterThan(swap + 3);
    console.log(`version switch heard ${swap - COMMAND_AT} blocks after the command, the switch back ${back - swap - 4} blocks after it (2048-sample blocks)`);
    for (const s of [onNative, unchanged, switched]) s.session.dispose();
  }, 300_000);

  it("reset state forgets the native streamed past", async () => {
    const reset = (k: number, session: tb.control.Session) => {
      if (k === 1) void session.execute(["reset", "state"]);
    };
    const onNative = await decodeStream("native", 4, reset);
    const onWasm = await decodeStream("wasm", 4, reset);
    const plain = await decodeStream("wasm", 4);
    for (let k = 0; k < 4; k++) expect(within(onNative.outputs[k], onWasm.outputs[k]), `block ${k}`).toBe(true);
    expect(worstDiff(onWasm.outputs[2], plain.outputs[2])).toBeGreaterThan(1e-3); // the reset is heard
    for (const s of [onNative, onWasm, plain]) s.session.dispose();
  }, 120_000);

  it("a model loaded mid-stream with its method is compiled before it takes over, and the stream stops and restarts after it", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-native-"));
    copyFileSync(join(import.meta.dirname, "fixtures", "torchscript", "rave_like.ts"), join(workspace, "rave_like.ts"));
    const session = new control.Session({ workspace, modelsDir: MODELS, safety: false, engine: "native" });
    const errors: string[] = [];
    session.onError((reply) => errors.push(String(reply.values[0])));
    const run = async (line: string) => {
      const reply = await session.execute(control.parseLine(line));
      expect(reply.ok, `${line}: ${String(reply.values[0])}`).toBe(true);
      return reply;
    };
    const blocks = (n: number) =>
      new Promise<tb.control.OutputBlock>((resolve) => {
        let seen = 0;
        const off = session.onBlock((b) => {
          if (++seen < n) return;
          off();
          resolve(b);
        });
      });
    await run("load audio decode");
    await run("stream start");
    await blocks(2);
    await run("load rave_like.ts decode");
    // Compiled during the load: the first block of the new model needs no compile of its own.
    expect(session.status()).toMatchObject({ model: "rave_like.ts", method: "decode", streaming: 1 });
    const first = await blocks(1);
    expect(session.status()).toMatchObject({ method_engine: "native", engine_compiles: 1 });
    expect(first.frames).toBe(session.blockSamples);
    // Stopping and starting again after the switch (the old model's sessions are gone with it).
    await run("stream stop");
    await run("stream start");
    const again = await blocks(2);
    expect(again.data.every(Number.isFinite)).toBe(true);
    // A switch to a method on the other clock right after a load (the stream restarts before
    // the new model's first block): the old model's compiled sessions must not be touched.
    await run("load audio");
    await run("method decode");
    await blocks(2);
    await run("stream stop");
    expect(errors).toEqual([]);
    // An unknown method is refused, naming the methods, and the model playing stays.
    const refused = await session.execute(control.parseLine("load audio nosuch"));
    expect(refused.ok).toBe(false);
    expect(String(refused.values[0])).toMatch(/has no method 'nosuch' \(methods: .*decode/);
    expect(session.status()).toMatchObject({ model: "audio", method: "decode" });
    session.dispose();
  }, 120_000);
});

describe("choosing the engine", () => {
  it("engine native where ONNX Runtime cannot run is a clear error at start, not a silent fallback", async () => {
    const missing = { available: () => false, reason: () => "onnxruntime-node is not installed" };
    const options = { workspace: mkdtempSync(join(tmpdir(), "tfbend-native-")), modelsDir: MODELS };
    expect(() => new control.Session({ ...options, engine: "native", nativeRuntime: missing })).toThrow(/engine native: ONNX Runtime cannot run here \(onnxruntime-node is not installed\)/);
    const auto = new control.Session({ ...options, engine: "auto", nativeRuntime: missing });
    expect((await auto.execute(["load", "audio"])).ok).toBe(true);
    expect(auto.status()).toMatchObject({ engine: "wasm", method_engine: "wasm", engine_reason: "onnxruntime-node is not installed" });
    auto.dispose();
  });

  it("the plugin's inference thread refuses to start on native when TFBEND_ENGINE=wasm hides ONNX Runtime", async () => {
    const saved = process.env.TFBEND_ENGINE;
    process.env.TFBEND_ENGINE = "wasm"; // a worker copies the environment when it starts
    try {
      const options = { workspace: mkdtempSync(join(tmpdir(), "tfbend-native-")), modelsDir: MODELS, engine: "native" as const };
      await expect(control.Engine.start(options)).rejects.toThrow(/engine native: ONNX Runtime cannot run here \(TFBEND_ENGINE=wasm\)/);
    } finally {
      if (saved === undefined) delete process.env.TFBEND_ENGINE;
      else process.env.TFBEND_ENGINE = saved;
    }
  });
});
