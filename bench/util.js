// Timed functions must not return typed arrays from tf.tidy: tidy walks its result
// element by element (150 ms for 262k floats).
// Shared timing helpers: variants are measured interleaved, round by round, so that the
// noise of this small machine hits all of them alike; we report medians.
export function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/**
 * BENCH_CLOCK=cpu times this process's CPU time (user + system) instead of wall time: on a
 * machine shared with other jobs, wall time mostly measures the waiting. Single-threaded work
 * only (two wasm threads would count twice).
 */
export const CLOCK = process.env.BENCH_CLOCK === "cpu" ? "cpu" : "wall";

function now() {
  if (CLOCK === "wall") return performance.now();
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export function timeOnce(fn) {
  const t0 = now();
  fn();
  return now() - t0;
}

/**
 * Runs every variant `perRound` times per round for `rounds` rounds, interleaved, the order
 * rotating by one each round.
 * Returns per-variant sorted samples (ms).
 */
export function interleave(variants, { rounds = 15, perRound = 5, warmup = 5 } = {}) {
  for (const fn of Object.values(variants)) for (let i = 0; i < warmup; i++) fn();
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const entries = Object.entries(variants);
  for (let r = 0; r < rounds; r++) {
    // each round starts one variant later, so that no variant always follows the same one
    // (variants sharing weights would otherwise find them warm in the cache)
    for (let v = 0; v < entries.length; v++) {
      const [name, fn] = entries[(v + r) % entries.length];
      for (let i = 0; i < perRound; i++) samples[name].push(timeOnce(fn));
    }
  }
  for (const s of Object.values(samples)) s.sort((a, b) => a - b);
  return samples;
}

export function fmt(ms) {
  return ms.toFixed(ms < 1 ? 3 : 2);
}

/** `fn` as a variant run with tfjs's own wasm Concat/Slice in place of tfbend's. */
export function withTfjsCopies(tb, fn) {
  return () => {
    tb.unregisterFastCopies();
    try {
      fn();
    } finally {
      tb.registerFastCopies();
    }
  };
}

/**
 * Late blocks of a streaming session, counted from its status's `dropped` sampled every 10 ms:
 * the count starts again with each model (and thread), so every fall counts what it had reached.
 * `count()` is the total so far; `stop()` ends the sampling.
 */
export function lateBlockCounter(session) {
  let late = 0;
  let lastDropped = 0;
  const sampler = setInterval(() => {
    const dropped = Number(session.status().dropped ?? 0);
    late += dropped >= lastDropped ? dropped - lastDropped : dropped;
    lastDropped = dropped;
  }, 10);
  return { count: () => late, stop: () => clearInterval(sampler) };
}
