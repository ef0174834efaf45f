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
    expect(decoder.metadata).toMatchObject({ kind: "image", latent_dim: "16" });
    // the architecture tfbend.json names is the one the training script exported
    expect((decoder.module as tb.zoo.ImageDecoder).width).toBe(Number(metadata.width));
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
});
