// Streaming the audio decoder block by block gives the whole-signal output: causal
// convolutions carry their last samples across blocks, so blocks join without clicks.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { maxAbsDiff } from "./helpers.js";

const { tf, zoo } = tb;

describe("streaming audio decoder", () => {
  it("decoding 8-frame blocks equals decoding the whole latent at once", () => {
    tb.nn.manualSeed(7);
    const decoder = new zoo.AudioDecoder().eval();
    const z = tf.randomNormal([1, zoo.AUDIO_LATENT, 32], 0, 1, "float32", 3);
    const whole = tf.tidy(() => decoder.call(z));
    expect(whole.shape).toEqual([1, 1, 32 * zoo.AUDIO_RATIO]);

    zoo.setStreaming(decoder, true);
    const blocks: tb.Tensor[] = [];
    for (let t = 0; t < 32; t += 8) {
      blocks.push(tf.tidy(() => decoder.call(tf.slice(z, [0, 0, t], [-1, -1, 8]))));
    }
    const streamed = tf.concat(blocks, 2);
    expect(maxAbsDiff(streamed, whole)).toBeLessThan(1e-5);

    // without the cache, each block starts from silence: the joins differ (the clicks streaming avoids)
    zoo.setStreaming(decoder, false);
    const naive = tf.concat([0, 8, 16, 24].map((t) => tf.tidy(() => decoder.call(tf.slice(z, [0, 0, t], [-1, -1, 8])))), 2);
    expect(maxAbsDiff(naive, whole)).toBeGreaterThan(1e-3);
  });

  it("streams through a BendedModule with flat memory", () => {
    tb.nn.manualSeed(8);
    const decoder = new zoo.AudioDecoder().eval();
    const bended = new tb.BendedModule(decoder);
    const z = tf.randomNormal([1, zoo.AUDIO_LATENT, 8]);
    bended.trace({ z });
    bended.bend(new tb.Mask(0.5, { dim: -2 }), "net_2_conv");
    bended.bend(new tb.Mask(0.7), "net.0.weight");
    zoo.setStreaming(decoder, true);
    bended.forward(z).dispose();
    const start = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) bended.forward(z).dispose();
    expect(tf.memory().numTensors).toBe(start);
    zoo.setStreaming(decoder, false);
  });
});
