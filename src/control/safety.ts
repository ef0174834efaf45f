// Output safety for audio: a DC blocker and a peak limiter, on by default, so that a
// bended blow-up (a huge offset, a gain of 100) cannot hurt ears or speakers.
export class SafetyStage {
  private x1 = 0;
  private y1 = 0;
  private gain = 1;

  constructor(
    readonly ceiling = 0.9,
    /** Per-sample gain recovery after a peak (release). */
    readonly release = 0.9995,
    readonly dcPole = 0.995,
  ) {}

  /** Processes a block in place; returns it. Non-finite samples become 0. */
  process(block: Float32Array): Float32Array {
    for (let i = 0; i < block.length; i++) {
      let x = block[i];
      if (!Number.isFinite(x)) x = 0;
      const y = x - this.x1 + this.dcPole * this.y1;
      this.x1 = x;
      this.y1 = y;
      const peak = Math.abs(y) * this.gain;
      if (peak > this.ceiling) this.gain = this.ceiling / Math.abs(y);
      block[i] = y * this.gain;
      this.gain = Math.min(1, this.gain / this.release);
    }
    return block;
  }

  reset(): void {
    this.x1 = 0;
    this.y1 = 0;
    this.gain = 1;
  }
}
