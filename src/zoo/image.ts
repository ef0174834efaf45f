// The shipped image decoder (models/image): latent (N, 16) → RGB (N, 3, 64, 64) in [0, 1].
// Same module tree and names as models/image/train.py. `width` is the channel count after `fc`
// (halved at each upsampling): 128 was the first, procedural model; the shipped photo model
// uses a wider one, so the same activation names (net_2 … net_14) bend either.
import type { Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module } from "../nn/module.js";
import * as F from "../nn/functional.js";
import { BatchNorm2d, Conv2d, LeakyReLU, Linear, Sequential, Sigmoid, Upsample } from "../nn/layers.js";
import { registerArchitecture, type ArchitectureOptions } from "./registry.js";

export const IMAGE_LATENT = 16;
export const IMAGE_DEFAULT_WIDTH = 128;

export class ImageDecoder extends Module {
  static override inputNames = { forward: ["z"] };
  readonly width: number;
  fc: Linear;
  net: Sequential;
  constructor(width = IMAGE_DEFAULT_WIDTH) {
    super();
    if (!Number.isInteger(width) || width < 8 || width % 8 !== 0 || width > 1024) {
      throw new BendingError(`image-decoder: width must be a multiple of 8 from 8 to 1024 (got ${width})`);
    }
    this.width = width;
    const [w0, w1, w2, w3] = [width, width / 2, width / 4, width / 8];
    this.fc = new Linear(IMAGE_LATENT, w0 * 4 * 4);
    const up = () => new Upsample({ scaleFactor: 2 });
    this.net = new Sequential(
      new LeakyReLU(0.2), up(), new Conv2d(w0, w1, 3, { padding: 1 }), new BatchNorm2d(w1),
      new LeakyReLU(0.2), up(), new Conv2d(w1, w2, 3, { padding: 1 }), new BatchNorm2d(w2),
      new LeakyReLU(0.2), up(), new Conv2d(w2, w3, 3, { padding: 1 }), new BatchNorm2d(w3),
      new LeakyReLU(0.2), up(), new Conv2d(w3, 3, 3, { padding: 1 }), new Sigmoid(),
    );
  }
  override forward(z: Tensor): Tensor {
    const x = F.reshape(this.fc.call(z), [z.shape[0], this.width, 4, 4]);
    return this.net.call(x) as Tensor;
  }
}

function widthOption(options: ArchitectureOptions): number {
  const width = options.width ?? IMAGE_DEFAULT_WIDTH;
  if (typeof width !== "number") throw new BendingError(`image-decoder: option 'width' must be a number (got ${JSON.stringify(width)})`);
  return width;
}

registerArchitecture("image-decoder", (options) => new ImageDecoder(widthOption(options)));
