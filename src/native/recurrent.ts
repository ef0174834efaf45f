// Lowerings of the recurrent ops (torch.lstm / torch.gru and their cells) to ONNX's LSTM and
// GRU. PyTorch stacks gates as LSTM i, f, g, o and GRU r, z, n; ONNX wants i, o, f, c and
// z, r, h, so weight rows are regathered in the graph (ONNX Runtime folds that for weights
// that are initializers; a weight a live control bends stays an input and is regathered per run).
// GRU's n gate applies r after the hidden matmul in PyTorch: linear_before_reset = 1.
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import {
  isTensorValue, NotCompilable, registerFunctionLowering, tensorArg,
  type LoweredArg, type LoweringContext, type TensorValue,
} from "./lowering.js";
import { concat, narrow, reshape } from "./ops.js";

type Cell = "lstm" | "gru";

/** One direction's weights as PyTorch holds them: w_ih [G, in], w_hh [G, H], biases [G] or null. */
interface DirectionWeights {
  wIh: TensorValue;
  wHh: TensorValue;
  bIh: TensorValue | null;
  bHh: TensorValue | null;
}

function value(name: string, shape: readonly number[]): TensorValue {
  return { name, shape };
}

/** Row indices taking PyTorch's gate blocks of `hidden` rows into ONNX's order. */
function gateRows(kind: Cell, hidden: number): number[] {
  const blocks = kind === "lstm" ? [0, 3, 1, 2] : [1, 0, 2];
  return blocks.flatMap((g) => Array.from({ length: hidden }, (_, i) => g * hidden + i));
}

/** `w`'s rows in ONNX's gate order, with a leading axis of 1 (the direction). */
function reordered(b: OnnxGraphBuilder, w: TensorValue, rows: number[]): TensorValue {
  const gathered = value(b.op1("Gather", [w.name, b.int64s(rows)], { axis: 0 }), w.shape);
  return reshape(b, gathered, [1, ...w.shape]);
}

/**
 * One layer of `kind` over `seq` [T, B, in], both directions when `weights` has two entries:
 * ONNX's LSTM/GRU op; returns the output [T, B, dirs·H] and the final h (and c) [dirs, B, H].
 */
function layer(b: OnnxGraphBuilder, kind: Cell, seq: TensorValue, h0: TensorValue, c0: TensorValue | null, weights: DirectionWeights[]):
  { y: TensorValue; h: TensorValue; c: TensorValue | null } {
  const dirs = weights.length;
  const hidden = weights[0].wHh.shape[1];
  const gates = weights[0].wHh.shape[0];
  const [steps, batch] = seq.shape;
  const rows = gateRows(kind, hidden);
  const stack = (parts: TensorValue[]): TensorValue => (parts.length === 1 ? parts[0] : concat(b, parts, 0));
  const W = stack(weights.map((w) => reordered(b, w.wIh, rows)));
  const R = stack(weights.map((w) => reordered(b, w.wHh, rows)));
  const hasBias = weights.every((w) => w.bIh !== null || w.bHh !== null);
  const zeros = (): TensorValue => value(b.floatConstant("zero_bias", new Float32Array(gates), [gates]), [gates]);
  const B = hasBias
    ? stack(weights.map((w) => reshape(b, concat(b, [reordered(b, w.bIh ?? zeros(), rows), reordered(b, w.bHh ?? zeros(), rows)], 1), [1, 2 * gates])))
    : null;
  const inputs = [seq.name, W.name, R.name, B === null ? "" : B.name, "", h0.name];
  if (c0 !== null) inputs.push(c0.name);
  const attrs: Record<string, number | string> = { hidden_size: hidden, direction: dirs === 2 ? "bidirectional" : "forward" };
  if (kind === "gru") attrs.linear_before_reset = 1;
  const outs = b.op(kind === "lstm" ? "LSTM" : "GRU", inputs, attrs, kind === "lstm" ? 3 : 2);
  // Y [T, dirs, B, H] → [T, B, dirs·H] (directions side by side, as PyTorch concatenates them)
  const y = value(b.op1("Transpose", [outs[0]], { perm: [0, 2, 1, 3] }), [steps, batch, dirs, hidden]);
  const state = [dirs, batch, hidden];
  return { y: reshape(b, y, [steps, batch, dirs * hidden]), h: value(outs[1], state), c: kind === "lstm" ? value(outs[2], state) : null };
}

function tensorList(ctx: LoweringContext, a: LoweredArg, what: string): TensorValue[] {
  if (!Array.isArray(a) || !a.every(isTensorValue)) throw new NotCompilable(ctx.node.name, `${ctx.node.target}: ${what} is not a list of tensors`);
  return a as TensorValue[];
}

/**
 * torch.lstm / torch.gru (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
 * batch_first), and tb.F.gru (input, h0, params, has_biases, num_layers, batch_first), which
 * traces under the same name with six arguments.
 */
function recurrent(kind: Cell): (ctx: LoweringContext, args: LoweredArg[]) => LoweredArg {
  return (ctx, args) => {
    const b = ctx.builder;
    const [, hx, params, hasBiases, numLayers] = args;
    const torchForm = args.length > 6;
    const bidirectional = torchForm ? args[7] : false;
    const batchFirst = torchForm ? args[8] : args[5];
    const x = tensorArg(ctx, args, 0);
    if (x.shape.length !== 3) throw new NotCompilable(ctx.node.name, `${kind} of a ${x.shape.length}-d input (unbatched sequences have no native lowering)`);
    const states = kind === "lstm" ? tensorList(ctx, hx, "hx") : [tensorArg(ctx, args, 1)];
    const weights = tensorList(ctx, params, "params");
    const layers = typeof numLayers === "number" ? numLayers : 1;
    const dirs = bidirectional === true ? 2 : 1;
    const per = hasBiases === true ? 4 : 2;
    if (weights.length !== per * layers * dirs) throw new NotCompilable(ctx.node.name, `${kind} with ${weights.length} weights for ${layers} layer(s) × ${dirs} direction(s) (proj_size has no native lowering)`);
    let seq = batchFirst === true ? value(b.op1("Transpose", [x.name], { perm: [1, 0, 2] }), [x.shape[1], x.shape[0], x.shape[2]]) : x;
    const finalH: TensorValue[] = [];
    const finalC: TensorValue[] = [];
    for (let l = 0; l < layers; l++) {
      const direction = (d: number): DirectionWeights => {
        const p = (l * dirs + d) * per;
        return { wIh: weights[p], wHh: weights[p + 1], bIh: per === 4 ? weights[p + 2] : null, bHh: per === 4 ? weights[p + 3] : null };
      };
      const h0 = narrow(b, states[0], 0, l * dirs, dirs);
      const c0 = kind === "lstm" ? narrow(b, states[1], 0, l * dirs, dirs) : null;
      const out = layer(b, kind, seq, h0, c0, Array.from({ length: dirs }, (_, d) => direction(d)));
      seq = out.y;
      finalH.push(out.h);
      if (out.c !== null) finalC.push(out.c);
    }
    const y = batchFirst === true ? value(b.op1("Transpose", [seq.name], { perm: [1, 0, 2] }), [seq.shape[1], seq.shape[0], seq.shape[2]]) : seq;
    const joined = (parts: TensorValue[]): TensorValue => (parts.length === 1 ? parts[0] : concat(b, parts, 0));
    return kind === "lstm" ? [y, joined(finalH), joined(finalC)] : [y, joined(finalH)];
  };
}

/** lstm_cell / gru_cell (input, hx, w_ih, w_hh, b_ih, b_hh): one step, as a one-step LSTM/GRU. */
function cell(kind: Cell): (ctx: LoweringContext, args: LoweredArg[]) => LoweredArg {
  return (ctx, args) => {
    const b = ctx.builder;
    const x = tensorArg(ctx, args, 0);
    const states = kind === "lstm" ? tensorList(ctx, args[1], "hx") : [tensorArg(ctx, args, 1)];
    const w: DirectionWeights = {
      wIh: tensorArg(ctx, args, 2), wHh: tensorArg(ctx, args, 3),
      bIh: isTensorValue(args[4]) ? args[4] : null, bHh: isTensorValue(args[5]) ? args[5] : null,
    };
    const batched = x.shape.length === 2;
    const rows = batched ? x.shape[0] : 1;
    const hidden = w.wHh.shape[1];
    const lift = (t: TensorValue, width: number): TensorValue => reshape(b, t, [1, rows, width]);
    const out = layer(b, kind, lift(x, x.shape[x.shape.length - 1]), lift(states[0], hidden), kind === "lstm" ? lift(states[1], hidden) : null, [w]);
    const back = (t: TensorValue): TensorValue => reshape(b, t, batched ? [rows, hidden] : [hidden]);
    return kind === "lstm" ? [back(out.h), back(out.c!)] : back(out.h);
  };
}

registerFunctionLowering("lstm", recurrent("lstm"));
registerFunctionLowering("gru", recurrent("gru"));
registerFunctionLowering("lstm_cell", cell("lstm"));
registerFunctionLowering("gru_cell", cell("gru"));
