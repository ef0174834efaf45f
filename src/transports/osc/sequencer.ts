// OSC audio input arrives as numbered datagrams, which UDP may reorder or lose.
/**
 * Puts numbered chunks (OSC datagrams may be reordered or lost) back in order. A chunk
 * that is missing once `window` later ones have arrived is given up: silence of the
 * previous chunk's length takes its place and it is counted; chunks older than the ones
 * already delivered are dropped and counted.
 */
export class ChunkSequencer<T extends { data: Float32Array }> {
  private next: number | null = null;
  private readonly held = new Map<number, T>();
  private lastLength = 0;
  missing = 0;
  late = 0;

  constructor(private readonly window = 8) {}

  /** Chunks ready to deliver, in order (missing ones filled by `silence`). */
  accept(seq: number, chunk: T, silence: (length: number) => T): T[] {
    // Far behind what was delivered: the sender started numbering again.
    if (this.next !== null && seq < this.next - 64) this.reset();
    if (this.next === null) this.next = seq;
    if (seq < this.next || this.held.has(seq)) {
      this.late++;
      return [];
    }
    this.held.set(seq, chunk);
    const out: T[] = [];
    for (;;) {
      const ready = this.held.get(this.next);
      if (ready) {
        this.held.delete(this.next);
        this.lastLength = ready.data.length;
        out.push(ready);
        this.next++;
      } else if (this.held.size > this.window) {
        this.missing++;
        out.push(silence(this.lastLength));
        this.next++;
      } else break;
    }
    return out;
  }

  /** A new stream (the sender restarted its numbering). */
  reset(): void {
    this.next = null;
    this.held.clear();
  }
}
