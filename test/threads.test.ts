// Threaded wasm in Node (TFBEND_THREADS, the CLI's --threads): child processes start tfbend
// with 1 and 2 threads, backendInfo() says how many run, the outputs of convolutions and
// transposed convolutions agree within 1e-5, and a worker_threads Worker (the plugin's
// inference thread) gets the same threads from the environment.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const entry = pathToFileURL(join(root, "dist/index.js")).href;
const scratch = mkdtempSync(join(tmpdir(), "tfbend-threads-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: Record<string, string>): Promise<Run> {
  const base = { ...process.env };
  delete base.TFBEND_BACKEND;
  delete base.TFBEND_THREADS;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...base, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

// a seeded conv / transposed-conv stack large enough for XNNPACK to split work across threads
const compute = `
const tb = await import(${JSON.stringify(entry)});
const { nn, tf } = tb;
nn.manualSeed(7);
const net = new nn.Sequential(
  new nn.Conv1d(16, 64, 7, { padding: 3 }), new nn.LeakyReLU(0.2),
  new nn.ConvTranspose1d(64, 32, 8, { stride: 4, padding: 2 }), new nn.LeakyReLU(0.2),
  new nn.Conv1d(32, 8, 3, { padding: 2, dilation: 2 }),
).eval();
const x = tf.randomNormal([1, 16, 256], 0, 1, "float32", 3);
const y = net.call(x);
// a streamed past joined and cut along the last axis: tfbend's Concat and Slice on the shared heap
const joinAndCut = () => tf.slice(tf.concat([y, x.slice([0, 0, 0], [1, 8, 4])], 2), [0, 0, 2], [-1, -1, 9]);
const cut = joinAndCut();
tb.unregisterFastCopies();
const ownCut = joinAndCut();
tb.registerFastCopies();
console.log(JSON.stringify({ info: tb.backendInfo(), values: [...y.dataSync(), ...cut.dataSync()], ownCut: [...ownCut.dataSync()], cut: [...cut.dataSync()] }));
`;

const inWorker = `
import { Worker } from "node:worker_threads";
const worker = new Worker(${JSON.stringify(join(scratch, "worker.mjs"))}, { execArgv: [] });
worker.on("message", (m) => { console.log(JSON.stringify(m)); worker.terminate(); });
`;

const last = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) ?? "null");

describe("threaded wasm", () => {
  it("TFBEND_THREADS=2 runs two threads and gives the single-threaded results within 1e-5", async () => {
    const [one, two] = await Promise.all([
      node(["--input-type=module", "-e", compute], { TFBEND_THREADS: "1" }),
      node(["--input-type=module", "-e", compute], { TFBEND_THREADS: "2" }),
    ]);
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    const a = last(one.stdout);
    const b = last(two.stdout);
    expect(a.info).toMatchObject({ name: "wasm", threads: 1 });
    expect(b.info).toMatchObject({ name: "wasm", threads: 2 });
    expect(b.info.device).toMatch(/threads 2\)$/);
    expect(b.values).toHaveLength(a.values.length);
    expect(a.values.some((v: number) => v !== 0)).toBe(true);
    // the in-place Concat/Slice give tfjs's own results exactly, on the shared heap as on one thread
    expect(b.cut).toEqual(b.ownCut);
    expect(a.cut).toEqual(a.ownCut);
    const worst = Math.max(...a.values.map((v: number, i: number) => Math.abs(v - b.values[i])));
    expect(worst).toBeLessThan(1e-5);
  }, 120_000);

  it("a worker_threads Worker (the inference thread) runs the threads the environment asks for", async () => {
    writeFileSync(join(scratch, "worker.mjs"), `
import { parentPort } from "node:worker_threads";
const tb = await import(${JSON.stringify(entry)});
const y = tb.tf.sum(tb.tf.ones([64, 64])).dataSync()[0];
parentPort.postMessage({ info: tb.backendInfo(), y });
`);
    const run = await node(["--input-type=module", "-e", inWorker], { TFBEND_THREADS: "2" });
    expect(run.status, run.stderr).toBe(0);
    expect(last(run.stdout)).toMatchObject({ info: { name: "wasm", threads: 2 }, y: 4096 });
  }, 120_000);

  it("a bad thread count is a clear error, from the environment and from the CLI", async () => {
    const [env, cli] = await Promise.all([
      node(["--input-type=module", "-e", `await import(${JSON.stringify(entry)});`], { TFBEND_THREADS: "two" }),
      node([join(root, "dist/cli.js"), "serve", "--threads", "0"], {}),
    ]);
    expect(env.status).not.toBe(0);
    expect(env.stderr).toMatch(/BendingError: TFBEND_THREADS must be a positive integer, got 'two'/);
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toMatch(/--threads <n>.*threads is a positive integer/);
  }, 120_000);
});
