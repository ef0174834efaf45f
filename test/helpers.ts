import { createSocket, type Socket } from "node:dgram";
import { Worker } from "node:worker_threads";
import osc from "osc";
import * as tb from "tfbend";

const { tf } = tb;

/** Largest absolute difference between two tensors of the same shape. */
export function maxAbsDiff(a: tb.Tensor, b: tb.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function identical(a: tb.Tensor, b: tb.Tensor): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  const x = a.dataSync();
  const y = b.dataSync();
  return x.every((v, i) => Object.is(v, y[i]) || v === y[i]);
}

/** The seed tutorial's module. */
export class Stanley extends tb.nn.Module {
  conv_modules: tb.nn.Sequential;
  batch_norm: tb.nn.BatchNorm1d;
  nnlin = new tb.nn.Sigmoid();
  constructor(readonly nChannels = 4) {
    super();
    this.conv_modules = new tb.nn.Sequential(new tb.nn.Conv1d(1, nChannels, 3), new tb.nn.Conv1d(nChannels, 8, 3));
    this.batch_norm = new tb.nn.BatchNorm1d(8);
  }
  override forward(x: tb.Tensor): tb.Tensor {
    let out = this.conv_modules.call(x) as tb.Tensor;
    out = this.batch_norm.call(out);
    out = this.nnlin.call(out);
    return out;
  }
  forward_nobatch(x: tb.Tensor): tb.Tensor {
    let out = this.conv_modules.call(x) as tb.Tensor;
    out = this.nnlin.call(out);
    return out;
  }
}

/** An OSC message as osc.js reads it with metadata (typed arguments). */
export interface OscMessage {
  address: string;
  args: { type: string; value: unknown }[];
}

/** A UDP socket on 127.0.0.1 that collects every OSC message sent to it into `inbox`. */
export async function oscClient(inbox: OscMessage[]): Promise<Socket> {
  const udp = createSocket("udp4");
  await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
  udp.on("message", (data) => {
    try {
      inbox.push(osc.readPacket(new Uint8Array(data), { metadata: true }) as OscMessage);
    } catch {
      // not OSC
    }
  });
  return udp;
}

/**
 * Starts inference threads for Engine.start that a test can make busy or crash: the
 * shipped worker wrapped by test/fixtures/test-thread.mjs. The engine's newest thread is
 * the one acted on.
 */
export function testThreads(): { start: tb.control.StartThread; busy(ms: number): void; wasmTrap(): void; crash(): Promise<void> } {
  const threads: Worker[] = [];
  const newest = (): Worker => {
    const worker = threads.at(-1);
    if (!worker) throw new Error("no inference thread started yet");
    return worker;
  };
  return {
    start: (workerData) => {
      const worker = new Worker(new URL("./fixtures/test-thread.mjs", import.meta.url), { workerData });
      threads.push(worker);
      return worker;
    },
    busy: (ms) => newest().postMessage({ busyMs: ms }),
    // The next allocation on the newest thread's wasm heap traps (see test-thread.mjs).
    wasmTrap: () => newest().postMessage({ wasmTrap: true }),
    // Stops the thread as a crash would; resolves once it has exited.
    crash: async () => void (await newest().terminate()),
  };
}
