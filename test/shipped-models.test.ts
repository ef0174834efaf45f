// The shipped models reproduce PyTorch's outputs on their trained weights
// (reference tensors written by the training scripts in models/).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { maxAbsDiff } from "./helpers.js";

const { tf } = tb;
const models = join(import.meta.dirname, "../models");

describe("shipped models", () => {
  it("audio decoder and encoder match PyTorch", async () => {
    const { tensors: ref } = await tb.io.loadSafetensorsFile(join(models, "audio/reference.safetensors"));
    const decoder = await tb.load(join(models, "audio"));
    expect(decoder.metadata).toMatchObject({ kind: "audio", sample_rate: "44100", ratio: "256", latent_dim: "8" });
    expect(decoder.activationNames("decode").length).toBeGreaterThan(40);
    const audio = decoder.call("decode", ref.z) as tb.Tensor;
    expect(audio.shape).toEqual([1, 1, 4096]);
    expect(maxAbsDiff(audio, ref.audio)).toBeLessThan(1e-4);
    const encoder = await tb.load(join(models, "audio-encoder"));
    const z = encoder.forward(ref.x);
    expect(z.shape).toEqual(ref.z_enc.shape);
    expect(maxAbsDiff(z, ref.z_enc)).toBeLessThan(1e-4);
    // moving the latent changes the sound
    const other = tf.tidy(() => decoder.call("decode", tf.add(ref.z, tf.oneHot([0], 8).reshape([1, 8, 1]).mul(2))) as tb.Tensor);
    expect(maxAbsDiff(other, audio)).toBeGreaterThan(1e-2);
  });

  it("the audio model's streaming encoder and forward match PyTorch", async () => {
    const { tensors: ref } = await tb.io.loadSafetensorsFile(join(models, "audio/reference_causal.safetensors"));
    const model = await tb.load(join(models, "audio"));
    expect(maxAbsDiff(model.call("encode", ref.x) as tb.Tensor, ref.z)).toBeLessThan(1e-4);
    expect(maxAbsDiff(model.call("forward", ref.x) as tb.Tensor, ref.y)).toBeLessThan(1e-4);
  });

  it("image decoder matches PyTorch", async () => {
    const { tensors: ref } = await tb.io.loadSafetensorsFile(join(models, "image/reference.safetensors"));
    const { tensors: weights, metadata } = await tb.io.loadSafetensorsFile(join(models, "image/decoder.safetensors"));
    tf.dispose(Object.values(weights));
    const decoder = await tb.load(join(models, "image"));
    expect(decoder.metadata).toMatchObject({ kind: "image" });
    // the architecture tfbend.json names is the one the training script exported
    const module = decoder.module as tb.zoo.ImageDecoder;
    expect(module.width).toBe(Number(metadata.width));
    expect(module.latentChannels).toBe(Number(metadata.latent_channels ?? 0));
    expect(module.latentDim).toBe(Number(metadata.latent_dim));
    expect(ref.z.shape).toEqual([2, module.latentDim]);
    expect(JSON.parse(metadata.latent_mean)).toHaveLength(module.latentDim);
    expect(JSON.parse(metadata.latent_std)).toHaveLength(module.latentDim);
    const image = decoder.forward(ref.z);
    expect(image.shape).toEqual([2, 3, 64, 64]);
    expect(maxAbsDiff(image, ref.image)).toBeLessThan(1e-4);
    const range = tf.tidy(() => [tf.min(image).dataSync()[0], tf.max(image).dataSync()[0]]);
    expect(range[0]).toBeGreaterThanOrEqual(0);
    expect(range[1]).toBeLessThanOrEqual(1);
    // two latents give two different pictures
    const [a, b] = tf.tidy(() => tf.unstack(image).map((im) => tf.keep(im)));
    expect(maxAbsDiff(a, b)).toBeGreaterThan(0.1);
    tf.dispose([a, b, image]);
    decoder.dispose();
  });

  it("image-decoder builds the first model's width without options, and a wider one with them", () => {
    const first = tb.createModule("image-decoder") as tb.zoo.ImageDecoder;
    expect(first.width).toBe(128);
    expect(first.fc.weight.shape).toEqual([128 * 16, 16]);
    const wide = tb.createModule("image-decoder", { width: 192 }) as tb.zoo.ImageDecoder;
    expect(wide.fc.weight.shape).toEqual([192 * 16, 16]);
    expect(Object.keys(wide.stateDict())).toEqual(Object.keys(first.stateDict()));
    expect(() => tb.createModule("image-decoder", { width: 100 })).toThrow(/multiple of 8/);
    expect(() => tb.createModule("image-decoder", { width: "wide" })).toThrow(/must be a number/);
  });

  it("image-decoder with latentChannels views the latent as a (C, 4, 4) grid: each cell drives its own region", () => {
    tb.nn.manualSeed(3);
    const spatial = tb.createModule("image-decoder", { width: 192, latentChannels: 32 }).eval() as tb.zoo.ImageDecoder;
    expect(spatial.latentDim).toBe(512);
    expect(spatial.fc.weight.shape).toEqual([192, 32, 3, 3]);
    // the same net (names and shapes) as the vector-latent decoder of the same width
    const vector = tb.createModule("image-decoder", { width: 192 }) as tb.zoo.ImageDecoder;
    const netShapes = (m: tb.zoo.ImageDecoder) => Object.entries(m.stateDict()).filter(([k]) => k.startsWith("net.")).map(([k, t]) => [k, t.shape]);
    expect(netShapes(spatial)).toEqual(netShapes(vector));
    const [top, bottom] = tf.tidy(() => {
      const z = tf.randomNormal([1, 512], 0, 1, "float32", 5);
      // move only the latent's top-left cell (index c·16 + 0 for every channel c)
      const cell = tf.tensor2d(Array.from({ length: 512 }, (_, i) => (i % 16 === 0 ? 3 : 0)), [1, 512]);
      const diff = tf.abs(tf.sub(spatial.forward(tf.add(z, cell)), spatial.forward(z))).sum([0, 1]) as tb.Tensor;
      // its 16x16 px region changes; the 3x3 convs (one per scale) spread that to at most pixel 46,
      // so the opposite corner stays exactly the same
      return [tf.keep(diff.slice([0, 0], [16, 16]).sum()), tf.keep(diff.slice([48, 48], [16, 16]).sum())];
    });
    expect(top.dataSync()[0]).toBeGreaterThan(1);
    expect(bottom.dataSync()[0]).toBe(0);
    tf.dispose([top, bottom]);
    expect(() => tb.createModule("image-decoder", { latentChannels: -1 })).toThrow(/latentChannels must be an integer/);
    expect(() => tb.createModule("image-decoder", { latentChannels: 2.5 })).toThrow(/latentChannels must be an integer/);
    expect(() => tb.createModule("image-decoder", { latentChannels: "32" })).toThrow(/'latentChannels' must be a number/);
    expect(() => tb.createModule("image-decoder", { latent_channels: 32 })).toThrow(/unknown option 'latent_channels'/);
  });
});
