// k-means (Lloyd's iterations) with k-means++ seeding, deterministic for a given source
// of uniform numbers. Small on purpose: tfbend clusters a layer's channels (tens to a few
// hundred points), which needs no library.

export interface KMeansOptions {
  /** Uniform numbers in [0, 1): the seeding's only randomness. */
  random: () => number;
  /** Independent seedings; the one with the lowest inertia wins (default 4). */
  restarts?: number;
  /** Most Lloyd iterations per seeding (default 100). */
  maxIterations?: number;
}

export interface KMeansResult {
  /** The cluster of each point, 0..k-1, clusters numbered by their lowest point. */
  labels: Int32Array;
  /** Sum of squared distances of the points to their centres. */
  inertia: number;
}

function distance2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] - b[i]) ** 2;
  return d;
}

/** k-means++: the first centre uniformly, each next one with probability ∝ its squared distance to the nearest centre. */
function seedCentres(points: readonly ArrayLike<number>[], k: number, random: () => number): Float64Array[] {
  const centres = [Float64Array.from(points[Math.min(points.length - 1, Math.floor(random() * points.length))])];
  const nearest = points.map((p) => distance2(p, centres[0]));
  while (centres.length < k) {
    const total = nearest.reduce((a, b) => a + b, 0);
    let pick = 0;
    if (total > 0) {
      let r = random() * total;
      while (pick < points.length - 1 && (r -= nearest[pick]) >= 0) pick++;
    } else pick = centres.length; // every point sits on a centre: any other point will do
    const centre = Float64Array.from(points[pick]);
    centres.push(centre);
    points.forEach((p, i) => (nearest[i] = Math.min(nearest[i], distance2(p, centre))));
  }
  return centres;
}

function lloyd(points: readonly ArrayLike<number>[], centres: Float64Array[], maxIterations: number): KMeansResult {
  const n = points.length;
  const dim = centres[0].length;
  const labels = new Int32Array(n).fill(-1);
  let inertia = 0;
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    let moved = false;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestDistance = Infinity;
      centres.forEach((c, j) => {
        const d = distance2(points[i], c);
        if (d < bestDistance) [best, bestDistance] = [j, d];
      });
      if (labels[i] !== best) moved = true;
      labels[i] = best;
      inertia += bestDistance;
    }
    if (!moved) break;
    const sums = centres.map(() => new Float64Array(dim));
    const counts = new Int32Array(centres.length);
    for (let i = 0; i < n; i++) {
      counts[labels[i]]++;
      for (let d = 0; d < dim; d++) sums[labels[i]][d] += points[i][d];
    }
    centres.forEach((c, j) => {
      // an emptied cluster keeps its centre; it can win points back next iteration
      if (counts[j] > 0) for (let d = 0; d < dim; d++) c[d] = sums[j][d] / counts[j];
    });
  }
  return { labels, inertia };
}

/** Labels renumbered in order of each cluster's first point, so equal partitions compare equal. */
function canonical(labels: Int32Array): Int32Array {
  const order = new Map<number, number>();
  return labels.map((l) => {
    if (!order.has(l)) order.set(l, order.size);
    return order.get(l)!;
  });
}

/** Clusters `points` (equal-length vectors) into at most k groups. */
export function kmeans(points: readonly ArrayLike<number>[], k: number, options: KMeansOptions): KMeansResult {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (points.length === 0) return { labels: new Int32Array(0), inertia: 0 };
  const groups = Math.min(k, points.length);
  let best: KMeansResult | null = null;
  for (let r = 0; r < (options.restarts ?? 4); r++) {
    const result = lloyd(points, seedCentres(points, groups, options.random), options.maxIterations ?? 100);
    if (best === null || result.inertia < best.inertia) best = result;
  }
  return { labels: canonical(best!.labels), inertia: best!.inertia };
}
