// `render <file.wav> <seconds>` while the stream runs: the latent walk is rendered on a copy
// of the stream's state, between the stream's blocks. The stream's blocks are the same as a
// stream's without the render, the file the same as a render made with the stream stopped,
// and stream blocks go out while the render runs (it yields at block boundaries). On wasm
// and, where ONNX Runtime runs, on the native engine.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { control, io, native } = tb;
const MODELS = join(import.meta.dirname, "../models");
const SECONDS = 2;
const STREAM_BLOCKS = 12;

/** A session streaming `decode` of the shipped model on its latent walk (seeded: the same on every session; fast, so that the render's latent and the stream's differ) with one bending under a control (not streaming yet). */
async function open(engine: "wasm" | "native") {
  const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-beside-")), modelsDir: MODELS, safety: false, engine });
  for (const atoms of [["load", "audio"], ["method", "decode"], ["input", "walk", 20], ["bend", "net.2.conv.weight", "scale", "scale", "@gain=1.3"]]) {
    const reply = await session.execute(atoms as tb.control.Atom[]);
    expect(reply.ok, `${atoms.join(" ")}: ${String(reply.values[0])}`).toBe(true);
  }
  return session;
}

/** The first STREAM_BLOCKS blocks of a stream; `atBlock2` runs when block 2 has gone out (its promise is awaited before the stream stops). */
async function stream(session: tb.control.Session, atBlock2?: () => Promise<void>) {
  const blocks: Float32Array[] = [];
  let during: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    session.onError((reply) => reject(new Error(String(reply.values[0]))));
    session.onBlock((b) => {
      if (blocks.length >= STREAM_BLOCKS) return;
      blocks.push(b.data.slice());
      if (blocks.length === 3 && atBlock2) during = atBlock2();
      if (blocks.length === STREAM_BLOCKS) resolve();
    });
  });
  session.startStream();
  await done;
  await during;
  session.stopStream();
  return blocks;
}

async function renderBesideStream(engine: "wasm" | "native") {
  const plain = await open(engine);
  const alone = await stream(plain);
  const beside = await open(engine);
  let blocksDuringRender = -1;
  const streamed = await stream(beside, async () => {
    let count = 0;
    const off = beside.onBlock(() => count++);
    const reply = await beside.execute(["render", "beside.wav", SECONDS]);
    off();
    expect(reply.ok, String(reply.values[0])).toBe(true);
    blocksDuringRender = count;
  });
  // The same render with the stream stopped.
  const reply = await beside.execute(["render", "stopped.wav", SECONDS]);
  expect(reply.ok, String(reply.values[0])).toBe(true);
  const [a, b] = [await io.readWav(beside.resolvePath("beside.wav")), await io.readWav(beside.resolvePath("stopped.wav"))];
  plain.dispose();
  beside.dispose();
  return { alone, streamed, blocksDuringRender, besideFile: a.samples, stoppedFile: b.samples };
}

function check(r: Awaited<ReturnType<typeof renderBesideStream>>) {
  expect(r.streamed.length).toBe(STREAM_BLOCKS);
  for (let k = 0; k < STREAM_BLOCKS; k++) expect(Array.from(r.streamed[k]), `stream block ${k}`).toEqual(Array.from(r.alone[k]));
  expect(r.besideFile.length).toBe(SECONDS * 44100);
  expect(Array.from(r.besideFile)).toEqual(Array.from(r.stoppedFile));
  expect(r.besideFile.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(1e-3);
  // the render yielded to the stream at its block boundaries
  expect(r.blocksDuringRender).toBeGreaterThan(0);
}

describe("render <file.wav> <seconds> while streaming", () => {
  it("on wasm: renders on a copy of the state; the stream's blocks are those of a stream without the render", async () => {
    check(await renderBesideStream("wasm"));
  }, 60_000);

  it.skipIf(native.nativeUnavailableReason() !== null)("on the native engine: the same", async () => {
    check(await renderBesideStream("native"));
  }, 60_000);
});
