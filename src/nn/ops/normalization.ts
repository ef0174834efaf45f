// Batch and layer normalisation.
import { tf, type Tensor } from "../../tf.js";
import { derived } from "../derived.js";
import { defineOp } from "./registry.js";

function channelShape(x: Tensor): number[] {
  return x.shape.map((d, i) => (i === 1 ? d : 1));
}

/** PyTorch batch_norm in inference form (running statistics); see nn.BatchNorm for training. */
export const batchNorm = defineOp("batch_norm", (
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5,
): Tensor => {
  const shape = channelShape(x);
  const sources = [runningMean, runningVar, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const scale = derived(`bn.scale.${eps}.${shape.length}`, sources, () => {
    const s = tf.rsqrt(tf.add(runningVar, eps));
    return tf.reshape(weight ? tf.mul(s, weight) : s, shape);
  });
  const shift = derived(`bn.shift.${eps}.${shape.length}`, sources, () => {
    const s = tf.rsqrt(tf.add(runningVar, eps));
    const sc = weight ? tf.mul(s, weight) : s;
    const sh = tf.neg(tf.mul(runningMean, sc));
    return tf.reshape(bias ? tf.add(sh, bias) : sh, shape);
  });
  return tf.add(tf.mul(x, scale), shift);
});

/** Normalisation with the batch's own statistics over every axis but the channel axis. */
export function batchStatistics(x: Tensor): { mean: Tensor; variance: Tensor } {
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const { mean, variance } = tf.moments(x, axes);
  return { mean, variance };
}

export const layerNorm = defineOp("layer_norm", (
  x: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5,
): Tensor => {
  const axes = normalizedShape.map((_, i) => x.rank - normalizedShape.length + i);
  const { mean, variance } = tf.moments(x, axes, true);
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
});
