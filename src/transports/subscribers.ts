// The clients that follow the output blocks and change events of a transport: one entry
// per destination (where the datagrams or frames go), so that subscribing twice, or from
// several senders that share one reply address, never delivers a block twice. An entry
// lasts until it is removed or, with a timeout, until its client has been silent that long.
interface Entry<D> {
  destination: D;
  /** When the client was last heard from (clock ms). */
  heard: number;
}

export interface SubscribersOptions {
  /** A client silent for this long is dropped (default: never). */
  timeoutMs?: number;
  /** At most this many; subscribing one more drops the one silent longest. */
  max?: number;
  /** Milliseconds, for the timeout (default Date.now). */
  clock?: () => number;
}

export class Subscribers<D> {
  private readonly entries = new Map<string, Entry<D>>();
  private readonly timeoutMs: number;
  private readonly max: number;
  private readonly clock: () => number;

  constructor({ timeoutMs = Infinity, max = 64, clock = Date.now }: SubscribersOptions = {}) {
    if (!(timeoutMs > 0)) throw new RangeError(`subscribers: timeout must be > 0 ms, got ${timeoutMs}`);
    this.timeoutMs = timeoutMs;
    this.max = max;
    this.clock = clock;
  }

  /** Subscribes `key` (again: its destination is replaced, never added twice). */
  add(key: string, destination: D): void {
    this.expire();
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.quietest());
    this.entries.set(key, { destination, heard: this.clock() });
  }

  /** True when `key` was subscribed. */
  remove(key: string): boolean {
    return this.entries.delete(key);
  }

  /** The client behind `key` is still there: its timeout starts again. */
  heardFrom(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.heard = this.clock();
  }

  has(key: string): boolean {
    this.expire();
    return this.entries.has(key);
  }

  get size(): number {
    this.expire();
    return this.entries.size;
  }

  /** Where to deliver now (timed-out clients are dropped first). */
  destinations(): D[] {
    this.expire();
    return Array.from(this.entries.values(), (e) => e.destination);
  }

  private expire(): void {
    if (this.timeoutMs === Infinity) return;
    const now = this.clock();
    for (const [key, entry] of this.entries) if (now - entry.heard >= this.timeoutMs) this.entries.delete(key);
  }

  private quietest(): string {
    let key = "";
    let heard = Infinity;
    for (const [k, e] of this.entries) {
      if (e.heard < heard) {
        heard = e.heard;
        key = k;
      }
    }
    return key;
  }
}
