// Layer classes with PyTorch's constructor arguments, weight layouts and parameter
// names, so PyTorch users (and PyTorch weights) carry over.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Buffer, Module, Parameter, stateIsFrozen } from "./module.js";
import * as F from "./functional.js";
import { currentObserver } from "./hooks.js";
import { fanInUniform, normal } from "./init.js";

type IntOrTuple = number | number[];

function reprTuple(value: IntOrTuple, n: number): string {
  const v = typeof value === "number" ? new Array<number>(n).fill(value) : value;
  return `(${v.join(", ")}${v.length === 1 ? "," : ""})`;
}

function invoke(module: Module, x: unknown): unknown {
  return (module.call as (...a: unknown[]) => unknown).call(module, x);
}

/** Runs children in order; a convolution followed by ReLU/LeakyReLU runs as one fused kernel when nothing observes. */
export class Sequential extends Module {
  [index: number]: Module;
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => (this[i] = m));
  }
  get length(): number {
    return this.namedChildren().length;
  }
  override forward(x: unknown): unknown {
    const children = this.namedChildren().map(([, child]) => child);
    let out = x;
    for (let i = 0; i < children.length; i++) {
      const next = children[i + 1];
      if (next !== undefined && out instanceof tf.Tensor && canFuse(children[i], next)) {
        out = convActivation(children[i], next, out);
        i++;
      } else {
        out = invoke(children[i], out);
      }
    }
    return out;
  }
}

/** Holds submodules by index (iterate or index it in forward). */
export class ModuleList extends Module {
  [index: number]: Module;
  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m, i) => (this[i] = m));
  }
  get length(): number {
    return this.namedChildren().length;
  }
  append(module: Module): this {
    this[this.length] = module;
    return this;
  }
  *[Symbol.iterator](): IterableIterator<Module> {
    for (const [, child] of this.namedChildren()) yield child;
  }
}

/** Built-in layers are leaves: one call_module node each. */
export abstract class Layer extends Module {
  override isLeaf = true;
}

export interface ConvArgs {
  stride?: IntOrTuple;
  padding?: F.Padding;
  dilation?: IntOrTuple;
  groups?: number;
  bias?: boolean;
}

abstract class ConvNd extends Layer {
  weight: Parameter;
  bias: Parameter | null;
  readonly stride: IntOrTuple;
  readonly padding: F.Padding;
  readonly dilation: IntOrTuple;
  readonly groups: number;
  /** Set by convActivation for one call: the activation to apply in the conv's kernel. */
  fusedActivation: F.FusedActivation | null = null;
  constructor(
    readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number[],
    args: ConvArgs, transposed: boolean,
  ) {
    super();
    this.stride = args.stride ?? 1;
    this.padding = args.padding ?? 0;
    this.dilation = args.dilation ?? 1;
    this.groups = args.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new BendingError(`in_channels (${inChannels}) and out_channels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    const kernelVolume = kernelSize.reduce((a, b) => a * b, 1);
    const shape = transposed
      ? [inChannels, outChannels / this.groups, ...kernelSize]
      : [outChannels, inChannels / this.groups, ...kernelSize];
    const fanIn = shape[1] * kernelVolume;
    this.weight = new Parameter(fanInUniform(shape, fanIn));
    this.bias = args.bias === false ? null : new Parameter(fanInUniform([outChannels], fanIn));
  }
  override extraRepr(): string {
    const n = this.kernelSize.length;
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${reprTuple(this.kernelSize, n)}, stride=${reprTuple(this.stride, n)}`;
    if (typeof this.padding === "string") s += `, padding=${this.padding}`;
    else if ((typeof this.padding === "number" ? [this.padding] : this.padding).some((p) => p !== 0)) s += `, padding=${reprTuple(this.padding, n)}`;
    if ((typeof this.dilation === "number" ? [this.dilation] : this.dilation).some((d) => d !== 1)) s += `, dilation=${reprTuple(this.dilation, n)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ", bias=False";
    return s;
  }
}

function kernel(k: IntOrTuple, n: number): number[] {
  return typeof k === "number" ? new Array<number>(n).fill(k) : k;
}

export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number, args: ConvArgs = {}) {
    super(inChannels, outChannels, [kernelSize], args, false);
  }
  override forward(x: Tensor): Tensor {
    return F.conv1d(x, this.weight.value, this.bias?.value ?? null, this);
  }
}

export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, args: ConvArgs = {}) {
    super(inChannels, outChannels, kernel(kernelSize, 2), args, false);
  }
  override forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight.value, this.bias?.value ?? null, this);
  }
}

export interface ConvTransposeArgs extends Omit<ConvArgs, "padding"> {
  padding?: IntOrTuple;
  outputPadding?: IntOrTuple;
}

export class ConvTranspose1d extends ConvNd {
  readonly outputPadding: IntOrTuple;
  constructor(inChannels: number, outChannels: number, kernelSize: number, args: ConvTransposeArgs = {}) {
    super(inChannels, outChannels, [kernelSize], args, true);
    this.outputPadding = args.outputPadding ?? 0;
  }
  override forward(x: Tensor): Tensor {
    return F.convTranspose1d(x, this.weight.value, this.bias?.value ?? null, { ...this, padding: this.padding as IntOrTuple });
  }
}

export class ConvTranspose2d extends ConvNd {
  readonly outputPadding: IntOrTuple;
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, args: ConvTransposeArgs = {}) {
    super(inChannels, outChannels, kernel(kernelSize, 2), args, true);
    this.outputPadding = args.outputPadding ?? 0;
  }
  override forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight.value, this.bias?.value ?? null, { ...this, padding: this.padding as IntOrTuple });
  }
}

/** The activation a convolution can apply in its own kernel in place of `module`, or null. */
function fusableActivation(module: Module): F.FusedActivation | null {
  // exact classes: a subclass may compute something else
  if (module.constructor === LeakyReLU) return { kind: "leakyrelu", alpha: (module as LeakyReLU).negativeSlope };
  if (module.constructor === ReLU) return { kind: "relu" };
  return null;
}

function canFuse(conv: Module, act: Module): boolean {
  return conv instanceof ConvNd && currentObserver() === null && fusableActivation(act) !== null;
}

/**
 * act(conv(x)). When nothing observes the calls (no trace, no activation bending, no
 * getActivations) and `act` is ReLU or LeakyReLU, the conv applies it with its bias in its
 * own kernel (tf.fused.conv2d); otherwise both are called as usual, so a bending or a
 * capture of the conv's output still sees the value before the activation.
 */
export function convActivation(conv: Module, act: Module, x: Tensor): Tensor {
  if (!canFuse(conv, act)) return invoke(act, invoke(conv, x)) as Tensor;
  const c = conv as ConvNd;
  const fused = fusableActivation(act)!;
  c.fusedActivation = fused;
  let y: Tensor;
  try {
    y = invoke(c, x) as Tensor;
  } finally {
    c.fusedActivation = null;
  }
  // a subclass whose forward did not pass the activation on: apply it as usual
  return fused.applied ? y : (invoke(act, y) as Tensor);
}

export class Linear extends Layer {
  weight: Parameter;
  bias: Parameter | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean } = {}) {
    super();
    this.weight = new Parameter(fanInUniform([outFeatures, inFeatures], inFeatures));
    this.bias = options.bias === false ? null : new Parameter(fanInUniform([outFeatures], inFeatures));
  }
  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight.value, this.bias?.value ?? null);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? "True" : "False"}`;
  }
}

export interface BatchNormArgs {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over the channel axis (axis 1). Train mode normalises with the
 * batch's statistics and updates the running ones, eval mode uses the running ones.
 */
abstract class BatchNormNd extends Layer {
  weight: Parameter | null;
  bias: Parameter | null;
  running_mean: Buffer;
  running_var: Buffer;
  readonly eps: number;
  readonly momentum: number;
  /**
   * PyTorch's `num_batches_tracked` buffer (int64 there): training passes that updated the
   * running statistics. A state dict may carry it (loaded in strict mode, as PyTorch does) or
   * not (PyTorch fills in 0 then too); nothing here computes with it, so it is a count, not a tensor.
   */
  numBatchesTracked = 0;
  constructor(readonly numFeatures: number, private readonly ranks: number[], args: BatchNormArgs) {
    super();
    this.eps = args.eps ?? 1e-5;
    this.momentum = args.momentum ?? 0.1;
    const affine = args.affine ?? true;
    this.weight = affine ? new Parameter(tf.ones([numFeatures])) : null;
    this.bias = affine ? new Parameter(tf.zeros([numFeatures])) : null;
    this.running_mean = new Buffer(tf.zeros([numFeatures]));
    this.running_var = new Buffer(tf.ones([numFeatures]));
  }
  override forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.rank) || x.shape[1] !== this.numFeatures) {
      throw new BendingError(`${this.constructor.name}(${this.numFeatures}) got an input of shape [${x.shape.join(", ")}]`);
    }
    if (!this.training) {
      return F.batchNorm(x, this.running_mean.value, this.running_var.value, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
    }
    const { mean, variance } = F.batchStatistics(x);
    if (!stateIsFrozen()) this.updateRunningStats(mean, variance, x.size / this.numFeatures);
    const shape = x.shape.map((d, i) => (i === 1 ? d : 1));
    let y = tf.mul(tf.sub(x, tf.reshape(mean, shape)), tf.reshape(tf.rsqrt(tf.add(variance, this.eps)), shape));
    if (this.weight) y = tf.mul(y, tf.reshape(this.weight.value, shape));
    if (this.bias) y = tf.add(y, tf.reshape(this.bias.value, shape));
    return y;
  }
  protected override extraStateKeys(): Record<string, (tensor: Tensor) => () => void> {
    return {
      num_batches_tracked: (tensor) => {
        const value = tensor.size === 1 && tensor.dtype === "int32" ? tensor.dataSync()[0] : Number.NaN;
        if (!(Number.isInteger(value) && value >= 0)) {
          throw new BendingError(`expected one non-negative integer (int64 in PyTorch), got ${tensor.dtype} [${tensor.shape.join(", ")}]`);
        }
        return () => (this.numBatchesTracked = value);
      },
    };
  }
  private updateRunningStats(mean: Tensor, variance: Tensor, count: number): void {
    this.numBatchesTracked++;
    const m = this.momentum;
    // PyTorch keeps the unbiased variance in running_var.
    this.running_mean.data = tf.tidy(() => tf.add(tf.mul(this.running_mean.data, 1 - m), tf.mul(mean, m)));
    this.running_var.data = tf.tidy(() =>
      tf.add(tf.mul(this.running_var.data, 1 - m), tf.mul(variance, (m * count) / Math.max(count - 1, 1))));
  }
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight ? "True" : "False"}, track_running_stats=True`;
  }
}

export class BatchNorm1d extends BatchNormNd {
  constructor(numFeatures: number, args: BatchNormArgs = {}) {
    super(numFeatures, [2, 3], args);
  }
}

export class BatchNorm2d extends BatchNormNd {
  constructor(numFeatures: number, args: BatchNormArgs = {}) {
    super(numFeatures, [4], args);
  }
}

export class LayerNorm extends Layer {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | number[], readonly options: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : normalizedShape;
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? new Parameter(tf.ones(this.normalizedShape)) : null;
    this.bias = affine ? new Parameter(tf.zeros(this.normalizedShape)) : null;
  }
  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight?.value ?? null, this.bias?.value ?? null, this.options.eps ?? 1e-5);
  }
  override extraRepr(): string {
    return `(${this.normalizedShape.join(", ")},), eps=${this.options.eps ?? 1e-5}`;
  }
}

export class Embedding extends Layer {
  weight: Parameter;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    this.weight = new Parameter(normal([numEmbeddings, embeddingDim]));
  }
  override forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight.value);
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

/** nn.Upsample with mode "nearest" and an integer scale factor. */
export class Upsample extends Layer {
  constructor(readonly options: { scaleFactor: number; mode?: "nearest" }) {
    super();
    if ((options.mode ?? "nearest") !== "nearest") throw new BendingError(`Upsample supports mode "nearest" only`);
  }
  override forward(x: Tensor): Tensor {
    return F.upsampleNearest(x, this.options.scaleFactor);
  }
  override extraRepr(): string {
    return `scale_factor=${this.options.scaleFactor}.0, mode='nearest'`;
  }
}

function activation(name: string, fn: (x: Tensor) => Tensor): new () => Layer & { forward(x: Tensor): Tensor } {
  const cls = class extends Layer {
    override forward(x: Tensor): Tensor {
      return fn(x);
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}

export const ReLU = activation("ReLU", (x) => F.relu(x));
export const Tanh = activation("Tanh", (x) => F.tanh(x));
export const Sigmoid = activation("Sigmoid", (x) => F.sigmoid(x));
export const GELU = activation("GELU", (x) => F.gelu(x));
export const ELU = activation("ELU", (x) => F.elu(x));
export const SiLU = activation("SiLU", (x) => F.silu(x));
export const Softplus = activation("Softplus", (x) => F.softplus(x));
export const Identity = activation("Identity", (x) => x);

export class LeakyReLU extends Layer {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negative_slope=${this.negativeSlope}`;
  }
}

export class Dropout extends Layer {
  constructor(readonly p = 0.5) {
    super();
  }
  override forward(x: Tensor): Tensor {
    // Inference tool: dropout is the identity (bending offers Mask for the effect).
    return x;
  }
  override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
}

export class Softmax extends Layer {
  constructor(readonly dim = -1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.softmax(x, this.dim);
  }
}

export class Flatten extends Layer {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.flatten(x, this.startDim, this.endDim);
  }
}
