// Tensors derived from other tensors (a transposed conv filter, folded BatchNorm scale)
// are cached by the identity of their sources: the same weight tensor gives the same
// derived tensor, so backends that cache packed weights (XNNPACK on wasm) keep them.
// A bent or interpolated weight is a new tensor, hence a new entry; entries whose
// sources were disposed are swept whenever a new entry is made.
import { tf, type Tensor } from "../tf.js";

interface Entry {
  sources: Tensor[];
  value: Tensor;
}

const cache = new Map<string, Entry>();

function sweep(): void {
  for (const [key, entry] of cache) {
    if (entry.sources.some((s) => s.isDisposed)) {
      entry.value.dispose();
      cache.delete(key);
    }
  }
}

/** `make(...sources)` computed once per distinct set of live source tensors. */
export function derived(tag: string, sources: Tensor[], make: () => Tensor): Tensor {
  let key = tag;
  for (const s of sources) key += ":" + s.id;
  const hit = cache.get(key);
  if (hit !== undefined && !hit.sources.some((s) => s.isDisposed)) return hit.value;
  if (hit !== undefined) {
    hit.value.dispose();
    cache.delete(key);
  }
  sweep();
  // Made outside any tidy scope so that the caller's tidy does not dispose it.
  const value = tf.keep(tf.tidy(make));
  cache.set(key, { sources, value });
  return value;
}

/** Number of cached derived tensors (for leak tests). */
export function derivedCacheSize(): number {
  sweep();
  return cache.size;
}
