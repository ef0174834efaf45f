// The inference thread's work queue. Commands and audio run in arrival order, but a
// command does not start while the stream's next block is due: under a flood of control
// messages each block keeps its slot and the commands run after it. Urgent items (audio,
// which feeds the block) never wait. No command waits longer than two blocks.

export interface BlockFirstQueueOptions<T> {
  /** Milliseconds until the stream needs the thread (0: due now; Infinity: no stream). */
  msUntilNextBlock: () => number;
  /** Duration of one block (ms), for the longest wait. */
  blockMs: () => number;
  /** Items that run even when a block is due (audio input). */
  urgent: (item: T) => boolean;
  run: (item: T) => unknown;
  /** Runs nothing before this settles (the model loading). */
  ready?: Promise<unknown>;
  /** A command does not start when the block is due sooner than this (ms). */
  slackMs?: number;
  /** Longest stretch of queued work before timers and messages are let in (ms). */
  sliceMs?: number;
}

export class BlockFirstQueue<T> {
  private readonly items: T[] = [];
  private draining = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private deferredSince: number | null = null;
  private closed = false;
  private readonly slackMs: number;
  private readonly sliceMs: number;

  constructor(private readonly options: BlockFirstQueueOptions<T>) {
    this.slackMs = options.slackMs ?? 2;
    this.sliceMs = options.sliceMs ?? 5;
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    void this.drain();
  }

  /** Call when a block has gone out: deferred commands run now. */
  blockDone(): void {
    if (this.items.length > 0) setImmediate(() => this.wake());
  }

  close(): void {
    this.closed = true;
    this.items.length = 0;
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
  }

  private wake(): void {
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      await this.options.ready;
      let sliceStart = performance.now();
      while (this.items.length > 0 && !this.closed) {
        const item = this.items[0];
        if (!this.options.urgent(item)) {
          const wait = this.options.msUntilNextBlock();
          const now = performance.now();
          this.deferredSince ??= now;
          if (wait < this.slackMs && now - this.deferredSince < 2 * this.options.blockMs()) {
            // blockDone() wakes the queue; the timer is the fallback when no block comes.
            if (this.wakeTimer === null) this.wakeTimer = setTimeout(() => this.wake(), Math.max(this.slackMs, Number.isFinite(wait) ? wait : 0) + this.options.blockMs());
            return;
          }
          this.deferredSince = null;
        }
        this.items.shift();
        await this.options.run(item);
        if (performance.now() - sliceStart > this.sliceMs) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
