// The stream clock's start and its render-ahead mode (used while a model loads), and the
// main thread's release of blocks rendered ahead: driven by a stand-in host whose blocks
// cost nothing unless a test holds one back.
import { describe, expect, it } from "vitest";
import { StreamClock, type ClockHost } from "../src/control/stream-clock.js";
import { BlockRelease } from "../src/control/block-release.js";
import { AudioInput, wallClockMs } from "../src/control/audio-input.js";
import type { OutputBlock } from "../src/protocol/frame.js";

function block(seq: number): OutputBlock {
  return { stream: "audio", seq, sampleRate: 48000, frames: 1, channels: 1, width: 0, height: 0, data: new Float32Array(1) };
}

/** A host on a timer; `hold` makes the next render wait until the returned function is called. */
function standIn(blockMs: number) {
  const sent: { seq: number; releaseAt?: number; at: number }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let held: Promise<void> | null = null;
  let seq = 0;
  const host: ClockHost = {
    blockMs: () => blockMs,
    blockSamples: () => 1,
    takesAudio: () => false,
    input: new AudioInput(),
    async renderBlock() {
      const wait = held;
      held = null;
      if (wait) await wait;
      return block(seq++);
    },
    inputArrival: () => null,
    emit(b, releaseAt) {
      sent.push({ seq: b.seq, releaseAt, at: wallClockMs() });
      for (const w of waiters.splice(0)) if (sent.length >= w.n) w.resolve();
        else waiters.push(w);
    },
    failed: (message) => {
      throw new Error(message);
    },
    senderStopped: () => undefined,
    underrun: () => undefined,
  };
  return {
    host,
    sent,
    /** Resolves when `n` blocks have been sent in all. */
    blocks: (n: number) => new Promise<void>((resolve) => (sent.length >= n ? resolve() : waiters.push({ n, resolve }))),
    /** The next render waits until the returned function is called (a first compile, say). */
    hold(): () => void {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return release;
    },
  };
}

describe("StreamClock", () => {
  it("starts a fresh stream when its first block is out: a slow first block is start latency, not a dropped block", async () => {
    const s = standIn(20);
    const release = s.hold();
    const clock = new StreamClock(s.host);
    clock.start();
    // The first block takes five block periods (a first compile).
    const slow = new Promise<void>((resolve) => setTimeout(resolve, 100));
    await slow;
    release();
    await s.blocks(1);
    clock.stop();
    expect(clock.stats.dropped).toBe(0);
    expect(clock.stats.startMs).toBeGreaterThanOrEqual(90);
    // The start is not a block's real-time factor.
    expect(clock.stats.rtf.size).toBe(0);
  });

  it("counts a late first block of a stream that continues (another model's clock)", async () => {
    const s = standIn(20);
    const release = s.hold();
    const clock = new StreamClock(s.host);
    clock.start(true);
    await new Promise<void>((resolve) => setTimeout(resolve, 100));
    release();
    await s.blocks(1);
    clock.stop();
    expect(clock.stats.dropped).toBe(1);
  });

  it("renders ahead: the next blocks come at once, each with the time it is due, a block period apart", async () => {
    const blockMs = 200;
    const s = standIn(blockMs);
    const clock = new StreamClock(s.host);
    clock.start();
    await s.blocks(2);
    const caughtUp = clock.renderAhead(3);
    await s.blocks(5);
    caughtUp();
    clock.stop();
    const ahead = s.sent.slice(2, 5);
    // Rendered at once (well within the first of them's own period), to be sent later.
    expect(ahead.at(-1)!.at - ahead[0].at).toBeLessThan(blockMs);
    for (const b of ahead.slice(1)) expect(b.releaseAt).toBeGreaterThan(b.at);
    for (let i = 1; i < ahead.length; i++) {
      if (ahead[i - 1].releaseAt !== undefined) expect(ahead[i].releaseAt! - ahead[i - 1].releaseAt!).toBeCloseTo(blockMs, 0);
    }
    expect(clock.stats.dropped).toBe(0);
  });
});

describe("BlockRelease", () => {
  it("passes blocks on at their time, in order, never one before an earlier one", async () => {
    const got: { seq: number; at: number }[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const release = new BlockRelease((b) => {
      got.push({ seq: b.seq, at: wallClockMs() });
      if (got.length === 3) done();
    });
    const now = wallClockMs();
    release.push(block(0), now + 60);
    release.push(block(1)); // due now, but after block 0
    release.push(block(2), now + 120);
    expect(got).toHaveLength(0);
    expect(release.size).toBe(3);
    await all;
    expect(got.map((g) => g.seq)).toEqual([0, 1, 2]);
    expect(got[0].at).toBeGreaterThanOrEqual(now + 59);
    expect(got[2].at).toBeGreaterThanOrEqual(now + 119);
  });

  it("passes a block due now on at once, and clear() drops what is held", () => {
    const got: number[] = [];
    const release = new BlockRelease((b) => got.push(b.seq));
    release.push(block(0));
    expect(got).toEqual([0]);
    release.push(block(1), wallClockMs() + 10_000);
    release.clear();
    expect(release.size).toBe(0);
  });
});

/** A session on the shipped models (tfbend from dist/, imported when a test needs it), without the output limiter. */
async function shippedSession(prefix: string) {
  const tb = await import("tfbend");
  await tb.tf.ready();
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const session = new tb.control.Session({ workspace: mkdtempSync(join(tmpdir(), prefix)), modelsDir: join(import.meta.dirname, "../models"), safety: false });
  return { session, parseLine: tb.control.parseLine };
}

describe("a long command while streaming", () => {
  it("has the stream render ahead while it holds the thread (weightstats over every weight)", async () => {
    const { session, parseLine } = await shippedSession("tfbend-long-");
    try {
      for (const line of ["load audio decode", "stream start"]) expect((await session.execute(parseLine(line))).ok, line).toBe(true);
      const ahead: number[] = [];
      let seen = 0;
      let started!: () => void;
      const streaming = new Promise<void>((r) => (started = r));
      session.onBlock((_b, releaseAt) => {
        if (releaseAt !== undefined) ahead.push(releaseAt);
        if (++seen === 2) started();
      });
      await streaming;
      const reply = await session.execute(parseLine("weightstats"));
      expect(reply.ok, String(reply.values[0])).toBe(true);
      // Blocks went out ahead of their time while the command ran, each due a block after the one before.
      expect(ahead.length).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < ahead.length; i++) expect(ahead[i]).toBeGreaterThan(ahead[i - 1]);
      // The lead ends with the command: a few blocks later none is rendered ahead any more.
      const later = await new Promise<number | undefined>((resolve) => {
        let n = 0;
        const off = session.onBlock((_b, releaseAt) => {
          if (++n < 8) return;
          off();
          resolve(releaseAt);
        });
      });
      expect(later).toBeUndefined();
    } finally {
      session.dispose();
    }
  }, 60_000);
});

describe("ahead: a client asks the stream to render ahead", () => {
  it("renders ahead for the time asked, then plays on time again; bad values change nothing", async () => {
    const { session, parseLine } = await shippedSession("tfbend-ahead-");
    try {
      expect((await session.execute(parseLine("load audio decode"))).ok).toBe(true);
      // nothing streams: nothing to render ahead of
      expect(await session.execute(parseLine("ahead 500"))).toMatchObject({ ok: true, values: [0] });
      for (const bad of ["ahead", "ahead 0", "ahead 10001", "ahead 2.5", "ahead soon", "ahead 100 200"]) {
        expect((await session.execute(parseLine(bad))).ok, bad).toBe(false);
      }
      expect((await session.execute(parseLine("stream start"))).ok).toBe(true);
      const blocks = (n: number) => new Promise<(number | undefined)[]>((resolve) => {
        const seen: (number | undefined)[] = [];
        const off = session.onBlock((_b, releaseAt) => {
          seen.push(releaseAt);
          if (seen.length < n) return;
          off();
          resolve(seen);
        });
      });
      await blocks(2);
      const start = performance.now();
      expect(await session.execute(parseLine("ahead 400"))).toMatchObject({ ok: true, values: [1] });
      // blocks go out ahead of their time (a release time later than now) while the lead lasts
      // (the first one or two were due already)
      const during = await blocks(6);
      expect(during.filter((t) => t !== undefined).length).toBeGreaterThanOrEqual(2);
      // once the time asked has passed, blocks are played as they are rendered again
      while (performance.now() - start < 400) await blocks(1);
      const after = await blocks(12);
      expect(after.slice(-4)).toEqual([undefined, undefined, undefined, undefined]);
    } finally {
      session.dispose();
    }
  }, 60_000);
});
