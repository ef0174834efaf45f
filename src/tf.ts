// The single tfjs instance tfbend uses. Every module imports tf from here so that
// backends, tensor methods and kernels are registered exactly once.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";

export { tf };
export type Tensor = tf.Tensor;
export type Rank = tf.Rank;

/**
 * A copy of a tensor's values as float32, read asynchronously (GPU backends cannot read
 * synchronously under Node), with the tensor disposed whether the read worked or not.
 */
export async function takeFloats(t: tf.Tensor): Promise<Float32Array> {
  try {
    return Float32Array.from((await t.data()) as Float32Array);
  } finally {
    t.dispose();
  }
}
