// The shipped image decoder (models/image): latent (N, D) → RGB (N, 3, 64, 64) in [0, 1].
// Same module tree and names as models/image/train.py. `width` is the channel count after `fc`
// (halved at each upsampling): 128 was the first, procedural model; the photo models use a wider
// one, so the same activation names (net_2 … net_14) bend either.
// `latentChannels` C > 0 makes the latent spatial: z (N, C·16) is viewed as (N, C, 4, 4), one
// C-vector per 16×16 px region, and `fc` is a 3×3 conv on that grid. Without it the latent is the
// vector of IMAGE_LATENT numbers that `fc` (a Linear) maps to the 4×4 map, as the earlier models had.
import type { Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module } from "../nn/module.js";
import * as F from "../nn/functional.js";
import { BatchNorm2d, Conv2d, LeakyReLU, Linear, Sequential, Sigmoid, Upsample } from "../nn/layers.js";
import { registerArchitecture, type ArchitectureOptions } from "./registry.js";

/** Latent size of the vector-latent decoder (no `latentChannels`). */
export const IMAGE_LATENT = 16;
export const IMAGE_DEFAULT_WIDTH = 128;
/** Cells of the spatial latent's grid (4 × 4). */
const LATENT_GRID = 4;

export class ImageDecoder extends Module {
  static override inputNames = { forward: ["z"] };
  readonly width: number;
  /** 0 for the vector latent; else the channels of the (C, 4, 4) spatial latent. */
  readonly latentChannels: number;
  /** Numbers in one latent: IMAGE_LATENT, or latentChannels · 16. */
  readonly latentDim: number;
  fc: Linear | Conv2d;
  net: Sequential;
  constructor(width = IMAGE_DEFAULT_WIDTH, latentChannels = 0) {
    super();
    if (!Number.isInteger(width) || width < 8 || width % 8 !== 0 || width > 1024) {
      throw new BendingError(`image-decoder: width must be a multiple of 8 from 8 to 1024 (got ${width})`);
    }
    if (!Number.isInteger(latentChannels) || latentChannels < 0 || latentChannels > 256) {
      throw new BendingError(`image-decoder: latentChannels must be an integer from 1 to 256, or 0 for the vector latent (got ${latentChannels})`);
    }
    this.width = width;
    this.latentChannels = latentChannels;
    this.latentDim = latentChannels > 0 ? latentChannels * LATENT_GRID * LATENT_GRID : IMAGE_LATENT;
    const [w0, w1, w2, w3] = [width, width / 2, width / 4, width / 8];
    this.fc = latentChannels > 0 ? new Conv2d(latentChannels, w0, 3, { padding: 1 }) : new Linear(IMAGE_LATENT, w0 * 4 * 4);
    const up = () => new Upsample({ scaleFactor: 2 });
    this.net = new Sequential(
      new LeakyReLU(0.2), up(), new Conv2d(w0, w1, 3, { padding: 1 }), new BatchNorm2d(w1),
      new LeakyReLU(0.2), up(), new Conv2d(w1, w2, 3, { padding: 1 }), new BatchNorm2d(w2),
      new LeakyReLU(0.2), up(), new Conv2d(w2, w3, 3, { padding: 1 }), new BatchNorm2d(w3),
      new LeakyReLU(0.2), up(), new Conv2d(w3, 3, 3, { padding: 1 }), new Sigmoid(),
    );
  }
  override forward(z: Tensor): Tensor {
    const n = z.shape[0];
    const x = this.latentChannels > 0
      ? this.fc.call(F.reshape(z, [n, this.latentChannels, LATENT_GRID, LATENT_GRID])) as Tensor
      : F.reshape(this.fc.call(z), [n, this.width, 4, 4]);
    return this.net.call(x) as Tensor;
  }
}

function numberOption(options: ArchitectureOptions, name: string, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number") throw new BendingError(`image-decoder: option '${name}' must be a number (got ${JSON.stringify(value)})`);
  return value;
}

const OPTIONS = ["width", "latentChannels"];

registerArchitecture("image-decoder", (options) => {
  const unknown = Object.keys(options).filter((name) => !OPTIONS.includes(name));
  if (unknown.length > 0) throw new BendingError(`image-decoder: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `'${n}'`).join(", ")} (known: ${OPTIONS.join(", ")})`);
  return new ImageDecoder(numberOption(options, "width", IMAGE_DEFAULT_WIDTH), numberOption(options, "latentChannels", 0));
});
