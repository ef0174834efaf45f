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
