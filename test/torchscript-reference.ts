// What the TorchScript tests share: the fixtures' reference format (see
// test/fixtures/torchscript/README.md), replaying PyTorch's random draws, and the error measure.
import { join } from "node:path";
import { expect } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;

export const FIXTURES = join(import.meta.dirname, "fixtures", "torchscript");

export interface Draw {
  kind: "normal" | "uniform";
  shape: number[];
  values: string;
}

export interface Call {
  input: string;
  output: string;
  draws: Draw[];
}

/** A random source that hands out queued draws (PyTorch's), checking kind and shape. */
export class Replay {
  private queue: { kind: string; shape: number[]; values: Float32Array }[] = [];
  readonly source: tb.torchscript.RandomSource = (kind, shape) => {
    const next = this.queue.shift();
    if (next === undefined) throw new Error(`unexpected ${kind} draw of shape [${shape.join(", ")}]`);
    expect([kind, shape]).toEqual([next.kind, next.shape]);
    return next.values;
  };
  set(draws: Draw[], tensors: Record<string, tb.Tensor>): void {
    this.queue = draws.map((d) => ({ kind: d.kind, shape: d.shape, values: tensors[d.values].dataSync() as Float32Array }));
  }
  get pending(): number {
    return this.queue.length;
  }
}

/** Largest difference relative to the reference's peak. */
export function relativeError(actual: tb.Tensor, expected: tb.Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  return tf.tidy(() => {
    const peak = tf.max(tf.abs(expected)).dataSync()[0];
    return tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] / Math.max(peak, 1e-12);
  });
}

/** A fixture method's recorded stream, as PyTorch played it. */
export interface Streamed {
  stream: Call[];
}

/**
 * Plays every method's recorded stream block by block from the loaded state, replaying
 * PyTorch's draws, and expects each block within 1e-4 of PyTorch's. Returns how many
 * methods had a stream and how many blocks were compared.
 */
export function expectStreamsMatch(
  label: string,
  bended: tb.BendedModule,
  methods: Record<string, Streamed>,
  replay: Replay,
  tensors: Record<string, tb.Tensor>,
): { streams: number; blocks: number } {
  const root = bended.module as tb.torchscript.TorchScriptRoot;
  let streams = 0;
  let blocks = 0;
  for (const [method, call] of Object.entries(methods)) {
    if (call.stream.length === 0) continue;
    root.resetState();
    for (const [i, block] of call.stream.entries()) {
      replay.set(block.draws, tensors);
      const out = bended.call(method, tensors[block.input]) as tb.Tensor;
      expect(relativeError(out, tensors[block.output]), `${label}.${method} block ${i}`).toBeLessThan(1e-4);
      out.dispose();
      blocks++;
    }
    streams++;
  }
  return { streams, blocks };
}
