// Matrix products and the layers made of them: linear, embedding, matmul, einsum, GRU.
import { tf, type Tensor } from "../../tf.js";
import { BendingError } from "../../errors.js";
import { defineOp, dims } from "./registry.js";

/** PyTorch linear: x (..., in), weight (out, in). */
export const linear = defineOp("linear", (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => {
  const [out, inFeatures] = weight.shape;
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new BendingError(`linear expects ${inFeatures} input features, got shape [${x.shape.join(", ")}]`);
  }
  const x2 = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D;
  // Not tf.fused.matMul: its transposeB path gives wrong results on the wasm backend (tfjs 4.22).
  const product = tf.matMul(x2, weight as tf.Tensor2D, false, true);
  const y = bias === null ? product : tf.add(product, bias);
  return tf.reshape(y, [...x.shape.slice(0, -1), out]);
});

export const embedding = defineOp("embedding", (indices: Tensor, weight: Tensor): Tensor =>
  tf.gather(weight, indices.dtype === "int32" ? indices : tf.cast(indices, "int32")));

export const matmul = defineOp("matmul", (a: Tensor, b: Tensor): Tensor => tf.matMul(a, b));
/**
 * torch.einsum for explicit subscripts ("bct,bct->bt", "ij,jk"), as broadcast products summed
 * over the contracted letters (the wasm backend has no Einsum kernel).
 */
export const einsum = defineOp("einsum", (equation: string, tensors: Tensor[]): Tensor => {
  const eq = equation.replace(/\s+/g, "");
  if (eq.includes(".")) throw new BendingError(`einsum '${equation}': ellipsis (...) is not supported`);
  const [lhs, given] = eq.split("->");
  const inputs = lhs.split(",");
  if (inputs.length !== tensors.length) throw new BendingError(`einsum '${equation}' names ${inputs.length} operands, got ${tensors.length}`);
  const letters = [...new Set(inputs.join(""))];
  // implicit output: the letters that appear once, in alphabetical order
  const output = given ?? letters.filter((l) => inputs.join("").split(l).length === 2).sort().join("");
  const sizes = new Map<string, number>();
  let product: Tensor | null = null;
  inputs.forEach((subs, i) => {
    const t = tensors[i];
    if (subs.length !== t.rank) throw new BendingError(`einsum '${equation}': operand ${i} has rank ${t.rank}, subscripts '${subs}'`);
    if (new Set(subs).size !== subs.length) throw new BendingError(`einsum '${equation}': repeated subscripts in one operand are not supported`);
    [...subs].forEach((l, d) => {
      const n = dims(t)[d];
      const known = sizes.get(l);
      if (known !== undefined && known !== n && known !== 1 && n !== 1) throw new BendingError(`einsum '${equation}': '${l}' is ${known} and ${n}`);
      if (known === undefined || known === 1) sizes.set(l, n);
    });
    const present = letters.filter((l) => subs.includes(l));
    const moved = tf.transpose(t, present.map((l) => subs.indexOf(l)));
    const aligned = tf.reshape(moved, letters.map((l) => (subs.includes(l) ? dims(t)[subs.indexOf(l)] : 1)));
    product = product === null ? aligned : tf.mul(product, aligned);
  });
  const summed = letters.map((l, i) => (output.includes(l) ? -1 : i)).filter((i) => i >= 0);
  let y = summed.length > 0 ? tf.sum(product!, summed) : product!;
  const kept = letters.filter((l) => output.includes(l));
  y = tf.transpose(y, [...output].map((l) => kept.indexOf(l)));
  return y;
});

/**
 * torch.gru (batch-first or time-first input, unidirectional, no dropout): gates r, z, n in
 * PyTorch's order; `params` = [w_ih, w_hh, (b_ih, b_hh)] per layer. Returns [output, h_n].
 */
export const gru = defineOp("gru", (x: Tensor, h0: Tensor, params: Tensor[], hasBiases: boolean, numLayers: number, batchFirst: boolean): [Tensor, Tensor] => {
  const perLayer = hasBiases ? 4 : 2;
  if (params.length !== perLayer * numLayers) throw new BendingError(`gru expects ${perLayer * numLayers} weights for ${numLayers} layers, got ${params.length}`);
  let seq = batchFirst ? tf.transpose(x, [1, 0, 2]) : x; // [T, B, F]
  const [steps, batch] = dims(seq);
  const finals: Tensor[] = [];
  for (let l = 0; l < numLayers; l++) {
    const [wIh, wHh] = [params[l * perLayer], params[l * perLayer + 1]];
    const bIh = hasBiases ? params[l * perLayer + 2] : null;
    const bHh = hasBiases ? params[l * perLayer + 3] : null;
    const hidden = dims(wHh)[1];
    // input projections of every step at once: [T·B, 3H]
    const gi = linear(tf.reshape(seq, [steps * batch, dims(seq)[2]]), wIh, bIh);
    const giSteps = tf.split(tf.reshape(gi, [steps, batch, 3 * hidden]), steps, 0).map((t) => tf.reshape(t, [batch, 3 * hidden]));
    let h = tf.reshape(tf.slice(h0, [l, 0, 0], [1, batch, hidden]), [batch, hidden]);
    const outs: Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      const gh = linear(h, wHh, bHh);
      const [ir, iz, inn] = tf.split(giSteps[t], 3, 1);
      const [hr, hz, hn] = tf.split(gh, 3, 1);
      const r = tf.sigmoid(tf.add(ir, hr));
      const z = tf.sigmoid(tf.add(iz, hz));
      const n = tf.tanh(tf.add(inn, tf.mul(r, hn)));
      h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
      outs.push(h);
    }
    seq = tf.stack(outs, 0);
    finals.push(h);
  }
  return [batchFirst ? tf.transpose(seq, [1, 0, 2]) : seq, tf.stack(finals, 0)];
});
