// The shipped image decoder (models/image): latent (N, 16) → RGB (N, 3, 64, 64) in [0, 1].
// Same module tree and names as models/image/train.py.
import type { Tensor } from "../tf.js";
import { Module } from "../nn/module.js";
import * as F from "../nn/functional.js";
import { BatchNorm2d, Conv2d, LeakyReLU, Linear, Sequential, Sigmoid, Upsample } from "../nn/layers.js";
import { registerArchitecture } from "./registry.js";

export const IMAGE_LATENT = 16;

export class ImageDecoder extends Module {
  static override inputNames = { forward: ["z"] };
  fc = new Linear(IMAGE_LATENT, 128 * 4 * 4);
  net: Sequential;
  constructor() {
    super();
    const up = () => new Upsample({ scaleFactor: 2 });
    this.net = new Sequential(
      new LeakyReLU(0.2), up(), new Conv2d(128, 64, 3, { padding: 1 }), new BatchNorm2d(64),
      new LeakyReLU(0.2), up(), new Conv2d(64, 32, 3, { padding: 1 }), new BatchNorm2d(32),
      new LeakyReLU(0.2), up(), new Conv2d(32, 16, 3, { padding: 1 }), new BatchNorm2d(16),
      new LeakyReLU(0.2), up(), new Conv2d(16, 3, 3, { padding: 1 }), new Sigmoid(),
    );
  }
  override forward(z: Tensor): Tensor {
    const x = F.reshape(this.fc.call(z), [z.shape[0], 128, 4, 4]);
    return this.net.call(x) as Tensor;
  }
}

registerArchitecture("image-decoder", () => new ImageDecoder());
