// The latent a stream of a decoder (or the image model) decodes: fixed values from
// `input`, or the slow walk (latent-walk.ts) that models with latent statistics follow
// from the start. Between blocks the latent ramps from where it was to where it goes.
import { BendingError } from "../errors.js";
import { LatentWalk, latentStatistics } from "./latent-walk.js";

export class LatentInput {
  /** The latent the stream decodes (the target of the next block's ramp). */
  target: number[] = [];
  /** Where the last block's ramp ended. */
  private reached: number[] = [];
  /** The walk the latent follows (`input walk` / `input hold`). */
  walk: LatentWalk | null = null;

  /** Fixed at `dim` zeros, no ramp (a new model). */
  reset(dim: number): void {
    this.target = new Array<number>(dim).fill(0);
    this.reached = [...this.target];
  }

  /** As reset, unless the latent has `dim` values already (kept across method switches). */
  resize(dim: number): void {
    if (this.target.length !== dim) this.reset(dim);
  }

  /** A new model: it walks from the start when its metadata holds latent statistics (`walks`: it streams latents at all); `seed`: the walk's (one per voice). */
  startFrom(metadata: Record<string, string>, walks: boolean, seed?: number): void {
    const stats = latentStatistics(metadata, this.target.length);
    this.walk = stats && walks ? new LatentWalk(stats, { seed }) : null;
    if (this.walk) {
      this.target = this.walk.position;
      this.reached = [...this.target];
    }
  }

  /** `input <values>`: the latent stays at `values` (the walk stops). */
  set(values: number[], model: string): void {
    if (this.target.length === 0) throw new BendingError(`model '${model}' takes no latent input`);
    if (values.length !== this.target.length) {
      throw new BendingError(`input takes ${this.target.length} latent values, got ${values.length}`);
    }
    if (!values.every((v) => Number.isFinite(v))) throw new BendingError("input values must be finite numbers");
    this.target = values;
    if (this.walk) this.walk.walking = false;
  }

  /** `input walk <speed>`: the latent wanders from where it is (speed in 1/s). */
  walkAt(speed: number, model: string): LatentWalk {
    const walk = this.requireWalk(model);
    walk.walk(speed, this.target);
    return walk;
  }

  /** `input random`: the latent jumps to a seeded draw that fits the model (LatentWalk.draw) and stays there. */
  random(model: string): number[] {
    const walk = this.requireWalk(model);
    this.target = walk.draw();
    walk.walking = false;
    return this.target;
  }

  /** `input hold`: the latent stays where the walk has brought it. */
  hold(model: string): void {
    this.requireWalk(model).walking = false;
  }

  /** The walk for `input walk` (over N(0, 1) where the model declares no latent statistics). */
  private requireWalk(model: string): LatentWalk {
    if (this.target.length === 0) throw new BendingError(`model '${model}' takes no latent input`);
    if (this.walk?.stats.mean.length !== this.target.length) {
      this.walk = new LatentWalk({ mean: this.target.map(() => 0), std: this.target.map(() => 1) }, { walking: false });
    }
    return this.walk;
  }

  /** Moves the latent along the walk by `seconds` (when it walks). */
  advance(seconds: number): void {
    if (this.walk?.walking && this.walk.stats.mean.length === this.target.length) this.target = this.walk.step(seconds);
  }

  /** `frames` frames per dimension (dimension after dimension) ramping from where the last block ended to the target. */
  ramp(frames: number): Float32Array {
    const z = this.target.length;
    const data = new Float32Array(z * frames);
    for (let c = 0; c < z; c++) {
      for (let f = 0; f < frames; f++) {
        const a = (f + 1) / frames;
        data[c * frames + f] = this.reached[c] * (1 - a) + this.target[c] * a;
      }
    }
    this.reached = [...this.target];
    return data;
  }

  /** The target, reached at once (one image per block). */
  jump(): number[] {
    this.reached = [...this.target];
    return this.target;
  }

  /**
   * A latent of its own for a render beside the stream, set up as `forRender` sets this one
   * up (from the walk's origin, the current latent without a ramp); this one is left to the stream.
   */
  copyForRender(): LatentInput {
    const copy = new LatentInput();
    copy.walk = this.walk?.walking ? this.walk.fresh() : null;
    copy.target = copy.walk ? copy.walk.position : [...this.target];
    copy.reached = [...copy.target];
    return copy;
  }

  /**
   * Runs a render: from the walk's origin (so renders repeat) and the current latent
   * without a ramp; the stream's walk and latent are as they were afterwards.
   */
  async forRender<T>(render: () => Promise<T>): Promise<T> {
    const streamWalk = this.walk;
    const streamLatent = this.target;
    if (streamWalk?.walking) {
      this.walk = streamWalk.fresh();
      this.target = this.walk.position;
    }
    this.reached = [...this.target];
    try {
      return await render();
    } finally {
      this.walk = streamWalk;
      this.target = streamLatent;
      this.reached = [...streamLatent];
    }
  }
}
