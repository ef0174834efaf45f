// The inference thread's queue: commands wait while a block is due, audio never does,
// order is kept, and no command waits longer than two blocks.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { BlockFirstQueue } = tb.control;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Item = { kind: "command" | "audio"; n: number };

function harness(blockMs = 40) {
  let dueIn = Infinity;
  const ran: number[] = [];
  const queue = new BlockFirstQueue<Item>({
    msUntilNextBlock: () => dueIn,
    blockMs: () => blockMs,
    urgent: (item) => item.kind === "audio",
    run: (item) => {
      ran.push(item.n);
    },
  });
  return { queue, ran, setDue: (ms: number) => (dueIn = ms) };
}

describe("BlockFirstQueue", () => {
  it("runs items in arrival order when no block is due", async () => {
    const { queue, ran } = harness();
    for (let n = 0; n < 5; n++) queue.push({ kind: "command", n });
    await sleep(5);
    expect(ran).toEqual([0, 1, 2, 3, 4]);
  });

  it("holds commands while a block is due, lets audio through, and resumes after the block", async () => {
    const { queue, ran, setDue } = harness();
    setDue(0);
    queue.push({ kind: "audio", n: 0 });
    queue.push({ kind: "command", n: 1 });
    queue.push({ kind: "audio", n: 2 }); // behind a held command: order is kept
    await sleep(5);
    expect(ran).toEqual([0]);
    expect(queue.length).toBe(2);
    setDue(30); // the block went out; the next is 30 ms away
    queue.blockDone();
    await sleep(5);
    expect(ran).toEqual([0, 1, 2]);
    queue.close();
  });

  it("does not start a command in the last milliseconds before a block", async () => {
    const { queue, ran, setDue } = harness();
    setDue(1);
    queue.push({ kind: "command", n: 0 });
    await sleep(5);
    expect(ran).toEqual([]);
    setDue(10);
    queue.blockDone();
    await sleep(5);
    expect(ran).toEqual([0]);
  });

  it("a command never waits longer than two blocks, even if no block comes", async () => {
    const { queue, ran, setDue } = harness(20);
    setDue(0); // a stream that is always due (stuck): commands must still run
    queue.push({ kind: "command", n: 0 });
    await sleep(10);
    expect(ran).toEqual([]);
    await sleep(150);
    expect(ran).toEqual([0]);
    queue.close();
  });

  it("close drops what is queued and runs nothing more", async () => {
    const { queue, ran, setDue } = harness();
    setDue(0);
    queue.push({ kind: "command", n: 0 });
    queue.close();
    queue.push({ kind: "command", n: 1 });
    setDue(Infinity);
    queue.blockDone();
    await sleep(100);
    expect(ran).toEqual([]);
  });
});
