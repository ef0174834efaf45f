// Blocks the inference thread rendered ahead of time (while it loads a model, see
// StreamClock.renderAhead) reach the main thread early, each with the wall-clock time it is
// due; they are held here and passed on then, in order, so listeners hear an even stream
// while the inference thread is busy.
import type { OutputBlock } from "../protocol/frame.js";
import { wallClockMs } from "./audio-input.js";

export class BlockRelease {
  private readonly held: { block: OutputBlock; at: number }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deliver: (block: OutputBlock) => void) {}

  /** Passes the block on now, or at `releaseAt`; never before a block that came earlier. */
  push(block: OutputBlock, releaseAt?: number): void {
    if (this.held.length === 0 && (releaseAt === undefined || releaseAt <= wallClockMs() + 1)) {
      this.deliver(block);
      return;
    }
    this.held.push({ block, at: releaseAt ?? 0 });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null || this.held.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      while (this.held.length > 0 && this.held[0].at <= wallClockMs() + 1) this.deliver(this.held.shift()!.block);
      this.schedule();
    }, Math.max(0, this.held[0].at - wallClockMs()));
  }

  /** Blocks held (a `status` figure and for tests). */
  get size(): number {
    return this.held.length;
  }

  /** Drops what is held (the thread restarted, or the engine closes). */
  clear(): void {
    this.held.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
