// Replies per second per client: a token bucket per client, so a burst of commands is
// answered while a flood is cut to the limit; what is cut is dropped and counted, never
// queued (a queue of replies to a client that floods would grow without bound).
interface Bucket {
  tokens: number;
  at: number;
}

export class ReplyRate {
  private readonly buckets = new Map<string, Bucket>();
  /** Replies not sent because their client was over the limit. */
  dropped = 0;

  /** Replies a client may get at once (a burst): two seconds' worth. */
  private readonly burst: number;

  constructor(
    readonly perSecond: number,
    /** Clients remembered; past this the memory starts again (a flood of new senders). */
    private readonly maxKeys = 4096,
  ) {
    this.burst = 2 * perSecond;
  }

  /** Whether a reply to `key` may go out now (false: it is dropped and counted). */
  take(key: string, now = performance.now()): boolean {
    if (this.perSecond === Infinity) return true;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.buckets.clear();
      this.buckets.set(key, (bucket = { tokens: this.burst, at: now }));
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.dropped++;
      return false;
    }
    bucket.tokens--;
    return true;
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}
