// Tensors made from nothing: random draws, fills, ranges.
import { tf, type Tensor } from "../../tf.js";
import { defineOp } from "./registry.js";

/** Draws `shape` numbers from `draw` (the model's random source). */
export type RandomDraw = (kind: "normal" | "uniform", shape: number[]) => Float32Array;

export const randn = defineOp("randn", (shape: number[], draw: RandomDraw): Tensor => tf.tensor(draw("normal", shape), shape, "float32"));
export const rand = defineOp("rand", (shape: number[], draw: RandomDraw): Tensor => tf.tensor(draw("uniform", shape), shape, "float32"));

export const full = defineOp("full", (shape: number[], value: number, dtype: tf.DataType = "float32"): Tensor => tf.fill(shape, value, dtype));
export const arange = defineOp("arange", (start: number, end: number, step = 1, dtype: tf.DataType = "float32"): Tensor =>
  tf.cast(tf.range(start, end, step, "float32"), dtype));
export const linspace = defineOp("linspace", (start: number, end: number, steps: number): Tensor => tf.linspace(start, end, steps));

