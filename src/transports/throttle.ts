// At most one report a second per key (a sender, a connection), so that a flood of bad
// messages cannot flood the replies or the log; what was held back is counted.
interface Last {
  at: number;
  held: number;
}

export class ErrorThrottle {
  private readonly last = new Map<string, Last>();

  constructor(
    private readonly intervalMs = 1000,
    /** Keys remembered; past this the memory starts again (a flood of new senders). */
    private readonly maxKeys = 1024,
  ) {}

  /**
   * Whether a report for `key` may go out now: null when it is held back (and counted),
   * otherwise how many were held back since the last one that went out.
   */
  pass(key: string, now = Date.now()): number | null {
    const last = this.last.get(key);
    if (last && now - last.at < this.intervalMs) {
      last.held++;
      return null;
    }
    if (!last && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: now, held: 0 });
    return last?.held ?? 0;
  }
}
