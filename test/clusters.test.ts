// Channel clusters: k-means on its own, then bended.clusterChannels recovering groups
// planted in a module, deterministic from its seed, and bendings taking `cluster`.
import { describe, expect, it } from "vitest";
import * as tb from "tfbend";

const { tf } = tb;

/** A 1×1 convolution whose 12 output channels copy 3 input channels at various gains: groups {0,3,6,9}, {1,4,7,10}, {2,5,8,11}. */
class Planted extends tb.nn.Module {
  mix = new tb.nn.Conv2d(3, 12, 1);
  out = new tb.nn.Dropout(0.5);
  constructor() {
    super();
    const weight = new Float32Array(12 * 3);
    for (let c = 0; c < 12; c++) {
      for (let i = 0; i < 3; i++) weight[c * 3 + i] = i === c % 3 ? 0.5 + c / 6 : 0.03 * ((c + i) % 3); // a little cross-talk
    }
    this.mix.loadStateDict({ weight: tf.tensor4d(weight, [12, 3, 1, 1]), bias: tf.zeros([12]) });
  }
  override forward(x: tb.Tensor): tb.Tensor {
    return this.out.call(this.mix.call(x) as tb.Tensor) as tb.Tensor;
  }
}

const PLANTED = [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]];

function plantedModule(): tb.BendedModule {
  const bended = new tb.BendedModule(new Planted().eval());
  const x = tf.zeros([1, 3, 8, 8]);
  bended.trace({ x });
  x.dispose();
  return bended;
}

/** A deterministic uniform source for k-means (a linear congruential generator). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("kmeans", () => {
  it("separates well-apart blobs and numbers clusters by their first point", () => {
    const points = [[0, 0], [10, 10], [0.1, 0.2], [10.2, 9.9], [-5, 8], [-5.1, 8.2], [0.2, -0.1]];
    const { labels } = tb.kmeans(points, 3, { random: lcg(1) });
    expect(Array.from(labels)).toEqual([0, 1, 0, 1, 2, 2, 0]);
  });

  it("is deterministic for a given random source and gives at most as many clusters as points", () => {
    const points = Array.from({ length: 40 }, (_, i) => [Math.sin(i), Math.cos(i * 1.7)]);
    const a = tb.kmeans(points, 5, { random: lcg(9) });
    const b = tb.kmeans(points, 5, { random: lcg(9) });
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(new Set(tb.kmeans([[1], [2]], 5, { random: lcg(1) }).labels).size).toBe(2);
    expect(() => tb.kmeans(points, 0, { random: lcg(1) })).toThrow(/positive integer/);
  });
});

describe("bended.clusterChannels", () => {
  it("recovers the planted groups, names them, stores them and repeats for the same seed", () => {
    const bended = plantedModule();
    const before = tf.memory().numTensors;
    const clusters = bended.clusterChannels("mix", { k: 3, samples: 6, seed: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(clusters).toEqual(PLANTED.map((channels, i) => ({ name: `mix:c${i}`, channels })));
    expect(bended.clusters()).toEqual(clusters);
    expect(bended.clusterChannels("mix", { k: 3, samples: 6, seed: 4 })).toEqual(clusters);
    expect(bended.clusterChannels("mix", { k: 3, samples: 3, seed: 99 })).toEqual(clusters);
    // clustering again replaces the activation's clusters
    expect(bended.clusterChannels("mix", { k: 2, samples: 4, seed: 1 })).toHaveLength(2);
    expect(bended.clusters().map((c) => c.name)).toEqual(["mix:c0", "mix:c1"]);
  });

  it("takes given inputs instead of random ones", () => {
    const bended = plantedModule();
    const inputs = [0, 1, 2].map((i) => [tf.randomNormal([2, 3, 8, 8], 0, 1, "float32", 40 + i)]);
    expect(bended.clusterChannels("mix", { k: 3, inputs }).map((c) => c.channels)).toEqual(PLANTED);
    inputs.flat().forEach((t) => expect(t.isDisposed).toBe(false));
    tf.dispose(inputs.flat());
  });

  it("lets a bending bend one cluster, leaving the other channels exact", () => {
    const bended = plantedModule();
    bended.clusterChannels("mix", { k: 3, samples: 6, seed: 4 });
    bended.bend(new tb.Invert(1, { cluster: "mix:c1" }), "out");
    const x = tf.randomNormal([1, 3, 8, 8], 0, 1, "float32", 5);
    const acts = bended.getActivations(["out", "out_bended"], { x });
    const [plain, bent] = [acts.out.arraySync(), acts.out_bended.arraySync()] as number[][][][][];
    for (let c = 0; c < 12; c++) {
      if (PLANTED[1].includes(c)) expect(bent[0][c]).not.toEqual(plain[0][c]);
      else expect(bent[0][c]).toEqual(plain[0][c]);
    }
    // the bending saves the cluster's name
    expect(new tb.Invert(1, { cluster: "mix:c1" }).toJSON().args.cluster).toBe("mix:c1");
    tf.dispose([x, ...Object.values(acts)]);
  });

  it("gives each cluster's mean channel, for a panel to show", () => {
    const bended = plantedModule();
    const clusters = bended.clusterChannels("mix", { k: 3, samples: 6, seed: 4 });
    const x = tf.randomNormal([1, 3, 8, 8], 0, 1, "float32", 6);
    const { mix } = bended.getActivations("mix", { x });
    const means = tb.clusterMeans(mix, clusters);
    expect(means.shape).toEqual([1, 3, 8, 8]);
    const values = mix.arraySync() as number[][][][];
    const expected = PLANTED[2].map((c) => values[0][c][5][1]).reduce((a, b) => a + b, 0) / 4;
    expect((means.arraySync() as number[][][][])[0][2][5][1]).toBeCloseTo(expected, 5);
    expect(() => tb.clusterMeans(mix, [{ name: "big", channels: [12] }])).toThrow(/does not fit/);
    tf.dispose([x, mix, means]);
  });

  it("refuses bad options and unknown activations", () => {
    const bended = plantedModule();
    expect(() => bended.clusterChannels("mix", { k: 0 })).toThrow(/k must be a positive integer/);
    expect(() => bended.clusterChannels("mix", { k: 2, samples: 0 })).toThrow(/samples/);
    expect(() => bended.clusterChannels("nothing", { k: 2 })).toThrow(/not an activation/);
  });
});
