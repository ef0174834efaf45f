// Channel clusters (Broad et al., "Network Bending", 2021): the channels of one activation
// that respond alike — draw the same thing — found by running the model on a few inputs,
// describing each channel by its pooled, normalised response, and clustering those
// descriptions with k-means. A bending then takes `cluster: "<activation>:c0"`.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { formatShape } from "../util/format.js";
import { kmeans } from "../util/kmeans.js";
import { DEFAULT_FN } from "./traces.js";

export interface ClusterOptions {
  /** Number of clusters (at most the number of channels). */
  k: number;
  /** Random inputs to run (default 16); ignored when `inputs` are given. */
  samples?: number;
  /** The traced method to run (default forward). */
  fn?: string;
  /** Seed of the random inputs and of the k-means seeding (default 0). */
  seed?: number;
  /** Inputs to describe the channels with, each one the method's argument list (e.g. the live input). */
  inputs?: Tensor[][];
}

export interface ChannelCluster {
  /** `<activation>:c<i>`, clusters numbered by their lowest channel. */
  name: string;
  /** Channel indices (axis 1), ascending. */
  channels: number[];
}

/** Most random inputs one clustering runs. */
export const MAX_CLUSTER_SAMPLES = 1024;

/** Cells per spatial axis a channel's map is averaged into (4×4 for a feature map, 4 for a time series). */
const POOL_CELLS = 4;

/**
 * Each channel's response to the inputs, averaged into POOL_CELLS cells per axis after
 * axis 1, over every batch item of every activation, then centred and scaled to unit
 * length: channels drawing the same pattern get the same description at any gain.
 */
export function channelDescriptions(activations: readonly Tensor[]): Float64Array[] {
  const first = activations[0];
  if (first === undefined || first.rank < 2) {
    throw new BendingError(`channel clusters need an activation of shape (N, C, ...), got ${first ? formatShape(first.shape) : "none"}`);
  }
  const channels = first.shape[1] as number;
  const parts: number[][] = Array.from({ length: channels }, () => []);
  for (const a of activations) {
    if (a.rank !== first.rank || a.shape[1] !== channels) {
      throw new BendingError(`activations to cluster differ in shape: ${formatShape(first.shape)} and ${formatShape(a.shape)}`);
    }
    const [n, c, ...rest] = a.shape as number[];
    const data = a.dataSync();
    const size = rest.reduce((p, q) => p * q, 1);
    const cells = rest.map((s) => Math.min(POOL_CELLS, s));
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * size;
        parts[ch].push(...pool(data, base, rest, cells));
      }
    }
  }
  return parts.map((values) => {
    const v = Float64Array.from(values);
    const mean = v.reduce((p, q) => p + q, 0) / v.length;
    for (let i = 0; i < v.length; i++) v[i] -= mean;
    const norm = Math.sqrt(v.reduce((p, q) => p + q * q, 0));
    if (norm > 1e-12) for (let i = 0; i < v.length; i++) v[i] /= norm;
    return v;
  });
}

/** Means of the map at data[base..] of shape `dims` over a grid of `cells` (row-major). */
function pool(data: ArrayLike<number>, base: number, dims: number[], cells: number[]): number[] {
  const total = cells.reduce((p, q) => p * q, 1);
  const sums = new Float64Array(total);
  const counts = new Float64Array(total);
  const size = dims.reduce((p, q) => p * q, 1);
  for (let i = 0; i < size; i++) {
    let rest = i;
    let cell = 0;
    for (let d = dims.length - 1, stride = 1; d >= 0; d--) {
      const coordinate = rest % dims[d];
      rest = Math.floor(rest / dims[d]);
      cell += Math.floor((coordinate * cells[d]) / dims[d]) * stride;
      stride *= cells[d];
    }
    sums[cell] += data[base + i];
    counts[cell]++;
  }
  return [...sums].map((s, i) => s / counts[i]);
}

/** Groups channels by their descriptions: the channel lists of k clusters, numbered by lowest channel. */
export function clusterDescriptions(descriptions: readonly Float64Array[], k: number, seed: number): number[][] {
  const draws = tf.tidy(() => tf.randomUniform([Math.max(1, 8 * k)], 0, 1, "float32", seed).dataSync());
  let next = 0;
  // k-means++ needs k draws per restart; past the drawn ones it reuses them in order (still deterministic)
  const random = () => draws[next++ % draws.length];
  const { labels } = kmeans(descriptions, k, { random, restarts: 8 });
  const groups: number[][] = [];
  labels.forEach((label, channel) => (groups[label] ??= []).push(channel));
  return groups;
}

/** Checked options, with defaults. */
export function clusterSettings(options: ClusterOptions): { k: number; samples: number; fn: string | undefined; seed: number } {
  const { k, samples = 16, seed = 0 } = options;
  if (!Number.isInteger(k) || k < 1) throw new BendingError(`clusterChannels k must be a positive integer, got ${k}`);
  if (!Number.isInteger(samples) || samples < 1 || samples > MAX_CLUSTER_SAMPLES) {
    throw new BendingError(`clusterChannels samples must be an integer in [1, ${MAX_CLUSTER_SAMPLES}], got ${samples}`);
  }
  if (!Number.isInteger(seed) || seed < 0) throw new BendingError(`clusterChannels seed must be a non-negative integer, got ${seed}`);
  return { k, samples, fn: options.fn, seed };
}

/** Random standard-normal inputs of the given shapes, sample i drawn from seed·1000003 + i (the caller disposes them). */
export function randomInputs(shapes: readonly number[][], samples: number, seed: number): Tensor[][] {
  return Array.from({ length: samples }, (_, i) =>
    shapes.map((shape, j) => tf.randomNormal(shape, 0, 1, "float32", (seed * 1_000_003 + i * shapes.length + j) % 2 ** 31)));
}

/**
 * Each cluster's mean channel: (N, C, ...) → (N, clusters.length, ...), e.g. the feature map a
 * cluster draws, for a panel to show. Runs in the caller's tidy (or the caller disposes it).
 */
export function clusterMeans(activation: Tensor, clusters: readonly ChannelCluster[]): Tensor {
  const c = activation.shape[1] as number;
  return tf.tidy(() => tf.stack(clusters.map(({ name, channels }) => {
    if (channels.length === 0 || channels.some((i) => !Number.isInteger(i) || i < 0 || i >= c)) {
      throw new BendingError(`cluster '${name}' does not fit an activation of ${c} channels`);
    }
    return tf.mean(tf.gather(activation, channels, 1), 1);
  }), 1));
}

/** What clustering reads from a bended module, and where it keeps the clusters. */
export interface ClusterSource {
  /** Throws unless `activation` is an activation of the traced method `fn`. */
  checkActivation(activation: string, fn: string): void;
  exampleShapes(fn: string): number[][] | undefined;
  /** The unbent value of `activation` for one argument list (owned by the caller). */
  read(activation: string, args: Tensor[], fn: string): Tensor;
  /** Stored clusters by name; this activation's earlier ones are replaced. */
  readonly stored: Map<string, number[]>;
}

/** See BendedModule.clusterChannels. */
export function clusterChannelsOf(source: ClusterSource, activation: string, options: ClusterOptions): ChannelCluster[] {
  const { k, samples, fn = DEFAULT_FN, seed } = clusterSettings(options);
  source.checkActivation(activation, fn);
  const shapes = source.exampleShapes(fn);
  if (options.inputs === undefined && shapes === undefined) throw new BendingError(`clusterChannels needs inputs: '${fn}' has no example shapes to draw random ones`);
  const inputs = options.inputs ?? randomInputs(shapes!, samples, seed);
  const activations: Tensor[] = [];
  try {
    for (const args of inputs) activations.push(source.read(activation, args, fn));
    const groups = clusterDescriptions(channelDescriptions(activations), k, seed);
    for (const name of [...source.stored.keys()]) if (name.startsWith(`${activation}:c`)) source.stored.delete(name);
    groups.forEach((channels, i) => source.stored.set(`${activation}:c${i}`, channels));
    return groups.map((channels, i) => ({ name: `${activation}:c${i}`, channels: [...channels] }));
  } finally {
    tf.dispose(activations);
    if (options.inputs === undefined) tf.dispose(inputs.flat());
  }
}
