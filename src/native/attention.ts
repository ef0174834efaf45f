// scaled_dot_product_attention as the interpreter computes it (src/torchscript/ops-torch2.ts):
// softmax(q·kᵀ·scale + mask)·v, is_causal keeping the lower triangle; a mask tensor is added
// (held as float, a bool mask cannot be told from a float one here, so it is refused).
import { NotCompilable, registerFunctionLowering, tensorArg, type TensorValue } from "./lowering.js";
import { nodeShape } from "./ops.js";
import { ONNX_TYPE } from "./onnx-builder.js";

registerFunctionLowering("scaled_dot_product_attention", (ctx, args) => {
  const b = ctx.builder;
  const [q, k, v] = [0, 1, 2].map((i) => tensorArg(ctx, args, i));
  if (args[3] !== null && args[3] !== undefined) throw new NotCompilable(ctx.node.name, "scaled_dot_product_attention with an attn_mask has no native lowering");
  const scale = typeof args[6] === "number" ? args[6] : 1 / Math.sqrt(q.shape[q.shape.length - 1]);
  const rank = k.shape.length;
  const perm = k.shape.map((_, i) => (i === rank - 2 ? rank - 1 : i === rank - 1 ? rank - 2 : i));
  let scores = b.op1("Mul", [b.op1("MatMul", [q.name, b.op1("Transpose", [k.name], { perm })]), b.scalar(scale)]);
  if (args[5] === true) {
    const l = q.shape[q.shape.length - 2];
    const s = k.shape[rank - 2];
    const keep = new Float32Array(l * s).map((_, i) => (Math.floor(i / s) >= i % s ? 1 : 0));
    const mask = b.op1("Cast", [b.floatConstant("causal", keep, [l, s])], { to: ONNX_TYPE.BOOL });
    scores = b.op1("Where", [mask, scores, b.scalar(-Infinity)]);
  }
  const out: TensorValue = { name: b.op1("MatMul", [b.op1("Softmax", [scores], { axis: -1 }), v.name]), shape: nodeShape(ctx.node) };
  return out;
});
