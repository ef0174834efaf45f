// Parameter initialisation as PyTorch does it, so fresh modules have the same
// statistics as the seed tutorial's (kaiming_uniform(a=√5) ⇒ U(-1/√fan_in, 1/√fan_in)).
import { tf, type Tensor } from "../tf.js";

let seedCounter: number | null = null;

/** Makes parameter initialisation reproducible from now on (torch.manual_seed). */
export function manualSeed(seed: number): void {
  seedCounter = seed >>> 0;
}

function nextSeed(): number | undefined {
  if (seedCounter === null) return undefined;
  seedCounter = (Math.imul(seedCounter, 1664525) + 1013904223) >>> 0;
  return seedCounter;
}

export function uniform(shape: number[], bound: number): Tensor {
  return tf.randomUniform(shape, -bound, bound, "float32", nextSeed());
}

export function normal(shape: number[], std = 1): Tensor {
  return tf.randomNormal(shape, 0, std, "float32", nextSeed());
}

/** PyTorch's default for conv and linear weights and biases. */
export function fanInUniform(shape: number[], fanIn: number): Tensor {
  return uniform(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0);
}
