// Lowerings of tfbend's leaf modules (call_module nodes), matched by exact class. Weights are
// read through the context by dotted path, so versions, interpolations and weight bendings
// reach the compiled graph the way they reach a wasm pass.
import type { Module } from "../nn/module.js";
import {
  BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Dropout, ELU, Flatten, GELU, Identity,
  LayerNorm, LeakyReLU, Linear, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh, Upsample,
} from "../nn/layers.js";
import { CausalConv1d } from "../zoo/audio.js";
import { float } from "./onnx-builder.js";
import { registerModuleLowering, tensorArg, type LoweredArg, type LoweringContext, type TensorValue } from "./lowering.js";
import { batchNorm, concat, conv, convTranspose, gelu, leakyRelu, linear, narrow, nodeShape, reshape, silu, softmax, upsampleNearest } from "./ops.js";

function param(ctx: LoweringContext, name: string, present: boolean): TensorValue | null {
  return present ? ctx.weight(`${ctx.node.target}.${name}`) : null;
}

function pointwise(type: string) {
  return (ctx: LoweringContext, _m: Module, args: LoweredArg[]): TensorValue => {
    const x = tensorArg(ctx, args, 0);
    return { name: ctx.builder.op1(type, [x.name]), shape: x.shape };
  };
}

for (const cls of [Conv1d, Conv2d]) {
  registerModuleLowering(cls, (ctx, m, args) =>
    conv(ctx.builder, tensorArg(ctx, args, 0), ctx.weight(`${ctx.node.target}.weight`), param(ctx, "bias", m.bias !== null), m, nodeShape(ctx.node)));
}
for (const cls of [ConvTranspose1d, ConvTranspose2d]) {
  registerModuleLowering(cls, (ctx, m, args) =>
    convTranspose(ctx.builder, tensorArg(ctx, args, 0), ctx.weight(`${ctx.node.target}.weight`), param(ctx, "bias", m.bias !== null), m, nodeShape(ctx.node)));
}

/**
 * A causal conv: left zero padding, or in streaming mode its past (k−1)·d + 1 − s input
 * samples carried as state from block to block (the wasm path keeps them in the module).
 */
registerModuleLowering(CausalConv1d, (ctx, m, args) => {
  const x = tensorArg(ctx, args, 0);
  const b = ctx.builder;
  const p = m.causalPadding;
  let padded = x;
  if (p > 0) {
    if (m.streaming) {
      const shape = [x.shape[0], x.shape[1], p];
      const past = ctx.readState(ctx.node.target, shape, () => {
        const own = m.pastSamples();
        if (own === null) return null;
        const data = own.shape.join() === shape.join() ? (own.dataSync() as Float32Array) : null;
        own.dispose();
        return data;
      });
      padded = concat(b, [past, x], 2);
      ctx.writeState(ctx.node.target, narrow(b, padded, 2, padded.shape[2] - p, p));
    } else {
      const pads = [0, 0, p, 0, 0, 0];
      padded = { name: b.op1("Pad", [x.name, b.int64s(pads), b.scalar(0)]), shape: [x.shape[0], x.shape[1], x.shape[2] + p] };
    }
  }
  const bias = param(ctx, "bias", m.bias !== null);
  return conv(b, padded, ctx.weight(`${ctx.node.target}.weight`), bias, { stride: m.stride, dilation: m.dilation, groups: m.groups }, nodeShape(ctx.node));
});

registerModuleLowering(Linear, (ctx, m, args) =>
  linear(ctx.builder, tensorArg(ctx, args, 0), ctx.weight(`${ctx.node.target}.weight`), param(ctx, "bias", m.bias !== null)));
registerModuleLowering(LeakyReLU, (ctx, m, args) => leakyRelu(ctx.builder, tensorArg(ctx, args, 0), m.negativeSlope));
registerModuleLowering(ReLU, pointwise("Relu"));
registerModuleLowering(Tanh, pointwise("Tanh"));
registerModuleLowering(Sigmoid, pointwise("Sigmoid"));
registerModuleLowering(Softplus, pointwise("Softplus"));
registerModuleLowering(ELU, (ctx, _m, args) => {
  const x = tensorArg(ctx, args, 0);
  return { name: ctx.builder.op1("Elu", [x.name], { alpha: float(1) }), shape: x.shape };
});
registerModuleLowering(SiLU, (ctx, _m, args) => silu(ctx.builder, tensorArg(ctx, args, 0)));
registerModuleLowering(GELU, (ctx, _m, args) => gelu(ctx.builder, tensorArg(ctx, args, 0)));
registerModuleLowering(Identity, (ctx, _m, args) => tensorArg(ctx, args, 0));
registerModuleLowering(Dropout, (ctx, _m, args) => tensorArg(ctx, args, 0));
registerModuleLowering(Softmax, (ctx, m, args) => softmax(ctx.builder, tensorArg(ctx, args, 0), m.dim));
registerModuleLowering(Flatten, (ctx, _m, args) => reshape(ctx.builder, tensorArg(ctx, args, 0), nodeShape(ctx.node)));
for (const cls of [BatchNorm1d, BatchNorm2d]) {
  registerModuleLowering(cls, (ctx, m, args) => {
    const t = ctx.node.target;
    return batchNorm(ctx.builder, tensorArg(ctx, args, 0), ctx.weight(`${t}.running_mean`), ctx.weight(`${t}.running_var`),
      param(ctx, "weight", m.weight !== null), param(ctx, "bias", m.bias !== null), m.eps);
  });
}
registerModuleLowering(LayerNorm, (ctx, m, args) => {
  const x = tensorArg(ctx, args, 0);
  const b = ctx.builder;
  const inputs = [x.name];
  const w = param(ctx, "weight", m.weight !== null);
  const bias = param(ctx, "bias", m.bias !== null);
  inputs.push(w ? w.name : b.floatConstant("ones", new Float32Array(m.normalizedShape.reduce((a, c) => a * c, 1)).fill(1), m.normalizedShape));
  if (bias) inputs.push(bias.name);
  const attrs = { axis: x.shape.length - m.normalizedShape.length, epsilon: float(m.options.eps ?? 1e-5) };
  return { name: b.op1("LayerNormalization", inputs, attrs), shape: x.shape };
});
registerModuleLowering(Upsample, (ctx, m, args) => upsampleNearest(ctx.builder, tensorArg(ctx, args, 0), m.options.scaleFactor, nodeShape(ctx.node)));
