// The single tfjs instance tfbend uses. Every module imports tf from here so that
// backends, tensor methods and kernels are registered exactly once.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";

export { tf };
export type Tensor = tf.Tensor;
export type Rank = tf.Rank;
