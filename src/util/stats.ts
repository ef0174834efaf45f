// Summary statistics of a tensor's values, shared by printWeights and the panel.
export interface Stats {
  min: number;
  max: number;
  mean: number;
  std: number;
}

/** min, max, mean and unbiased standard deviation (as torch.std). */
export function statistics(values: ArrayLike<number>): Stats {
  const n = values.length;
  if (n === 0) return { min: 0, max: 0, mean: 0, std: 0 };
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i] - mean) ** 2;
  return { min, max, mean, std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0 };
}

/**
 * Quantiles of the last `window` values from a fixed log-spaced histogram: adding a value
 * is O(1) (its bin goes up, the bin of the value leaving the window goes down) and a
 * quantile walks the fixed bins, never sorts. Resolution: 2.3% of the value (bins are
 * 10^(1/100) wide) between `min` and `max`; values outside land in the end bins.
 */
export class WindowedQuantiles {
  private static readonly BINS_PER_DECADE = 100;
  private readonly counts: Uint32Array;
  private readonly ring: Uint16Array;
  private next = 0;
  private filled = 0;
  private readonly logMin: number;

  constructor(readonly window = 1024, readonly min = 1e-4, readonly max = 1e3) {
    this.logMin = Math.log10(min);
    const bins = Math.ceil((Math.log10(max) - this.logMin) * WindowedQuantiles.BINS_PER_DECADE) + 1;
    this.counts = new Uint32Array(bins);
    this.ring = new Uint16Array(window);
  }

  get size(): number {
    return this.filled;
  }

  add(value: number): void {
    const v = Number.isFinite(value) && value > this.min ? value : this.min;
    const bin = Math.min(this.counts.length - 1, Math.floor((Math.log10(v) - this.logMin) * WindowedQuantiles.BINS_PER_DECADE));
    if (this.filled === this.window) this.counts[this.ring[this.next]]--;
    else this.filled++;
    this.ring[this.next] = bin;
    this.counts[bin]++;
    this.next = (this.next + 1) % this.window;
  }

  /** The q-quantile (0..1) of the values in the window (the bin's geometric centre); 0 when empty. */
  quantile(q: number): number {
    if (this.filled === 0) return 0;
    const rank = Math.min(this.filled - 1, Math.round(q * (this.filled - 1)));
    let seen = 0;
    for (let bin = 0; bin < this.counts.length; bin++) {
      seen += this.counts[bin];
      if (seen > rank) return 10 ** (this.logMin + (bin + 0.5) / WindowedQuantiles.BINS_PER_DECADE);
    }
    return this.max;
  }

  clear(): void {
    this.counts.fill(0);
    this.next = 0;
    this.filled = 0;
  }
}
