// The seed tutorial's example module.
import type { Tensor } from "../tf.js";
import { Module } from "../nn/module.js";
import { BatchNorm1d, Conv1d, Sequential, Sigmoid } from "../nn/layers.js";
import { registerArchitecture } from "./registry.js";

export class Stanley extends Module {
  static override inputNames = { forward: ["x"], forward_nobatch: ["x"] };
  conv_modules: Sequential;
  batch_norm = new BatchNorm1d(8);
  nnlin = new Sigmoid();
  constructor(readonly nChannels = 4) {
    super();
    this.conv_modules = new Sequential(new Conv1d(1, nChannels, 3), new Conv1d(nChannels, 8, 3));
  }
  override forward(x: Tensor): Tensor {
    return this.nnlin.call(this.batch_norm.call(this.conv_modules.call(x) as Tensor));
  }
  forward_nobatch(x: Tensor): Tensor {
    return this.nnlin.call(this.conv_modules.call(x) as Tensor);
  }
}

registerArchitecture("stanley", (options) => new Stanley(typeof options.nChannels === "number" ? options.nChannels : 4));
