// The stream's default input: a slow random walk through the latent space the decoder was
// trained on. Each dimension follows an Ornstein–Uhlenbeck process around the encoder's latent
// mean with the encoder's latent std as its spread, so the walk stays where the decoder makes
// sound and never drifts off. A model whose latent cells each draw their own region (the image
// model's spatial latent) would give a patchwork that way: where its metadata holds anchors
// (`latent_anchors`: latents of real pictures), the walk glides from one anchor to another
// instead, easing in and out of each. Seeded: a walk restarted from its origin repeats exactly.
import seedrandom from "seedrandom";
import { BendingError } from "../errors.js";

/** Default speed: the inverse time constant in 1/s (0.25: the walk forgets where it was in about 4 s). */
export const DEFAULT_WALK_SPEED = 0.25;
/** Fastest walk `input walk` accepts (a new place every 10 ms). */
export const MAX_WALK_SPEED = 100;
/** Most anchors a model may declare (each a whole latent). */
const MAX_ANCHORS = 256;

export interface LatentStatistics {
  mean: number[];
  std: number[];
  /** Latents the walk goes between (at least two), instead of wandering around the mean. */
  anchors?: number[][];
}

/** A model's latent statistics from its metadata (`latent_mean`, `latent_std`: JSON lists; `latent_anchors`: a list of them), or null. */
export function latentStatistics(metadata: Record<string, string>, dim: number): LatentStatistics | null {
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key] ?? "null");
    } catch {
      return null;
    }
  };
  const isLatent = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length === dim && value.every((v) => typeof v === "number" && Number.isFinite(v));
  const mean = parse("latent_mean");
  const std = parse("latent_std");
  if (!isLatent(mean) || !isLatent(std) || !std.every((s) => s >= 0)) return null;
  const anchors = parse("latent_anchors");
  const usable = Array.isArray(anchors) && anchors.length >= 2 && anchors.length <= MAX_ANCHORS && anchors.every(isLatent);
  return usable ? { mean, std, anchors: anchors as number[][] } : { mean, std };
}

/** Where an anchor walk is: on its way from `from` to anchor `to`, `t` of the way (0..1). */
interface AnchorLeg {
  from: number[];
  to: number;
  t: number;
}

export class LatentWalk {
  /** The walk's position in units of std around the mean, per dimension. */
  private unit: number[];
  private rng: () => number;
  private spare: number | null = null;
  walking: boolean;
  speed = DEFAULT_WALK_SPEED;

  /** The leg of an anchor walk (null: the walk wanders around the mean). */
  private leg: AnchorLeg | null = null;

  constructor(readonly stats: LatentStatistics, readonly options: { seed?: number; walking?: boolean } = {}) {
    this.walking = options.walking ?? true;
    this.unit = stats.mean.map(() => 0);
    this.rng = seedrandom(`latent-walk:${options.seed ?? 1}`);
    const anchors = stats.anchors;
    if (anchors) {
      const start = this.pick(-1);
      this.leg = { from: [...anchors[start]], to: this.pick(start), t: 0 };
    }
  }

  /** A seeded anchor other than `not`. */
  private pick(not: number): number {
    const count = this.stats.anchors!.length;
    const i = Math.floor(this.rng() * (not < 0 ? count : count - 1));
    return not >= 0 && i >= not ? i + 1 : i;
  }

  /** The same walk from its origin (a render starts there, so renders repeat). */
  fresh(): LatentWalk {
    const walk = new LatentWalk(this.stats, { seed: this.options.seed, walking: this.walking });
    walk.speed = this.speed;
    return walk;
  }

  /** The latent at the walk's position. */
  get position(): number[] {
    if (this.leg) {
      const { from, to, t } = this.leg;
      const target = this.stats.anchors![to];
      const eased = t * t * (3 - 2 * t); // lingers near each anchor, no jump in speed at one
      return from.map((v, i) => v + (target[i] - v) * eased);
    }
    return this.unit.map((u, i) => this.stats.mean[i] + this.stats.std[i] * u);
  }

  /** Starts (or keeps) walking at `speed` from `from` (the latent the stream is at). */
  walk(speed: number, from: number[]): void {
    if (!(Number.isFinite(speed) && speed > 0 && speed <= MAX_WALK_SPEED)) {
      throw new BendingError(`walk speed must be in (0, ${MAX_WALK_SPEED}] (1/s; ${DEFAULT_WALK_SPEED} is slow), got ${speed}`);
    }
    this.speed = speed;
    if (this.leg) this.leg = { from: [...from], to: this.leg.to, t: 0 };
    else this.unit = from.map((v, i) => (this.stats.std[i] > 0 ? (v - this.stats.mean[i]) / this.stats.std[i] : 0));
    this.walking = true;
  }

  /**
   * A latent where this model's outputs lie (`input random`): one of its anchors (pictures it was
   * trained on) where it declares them, else mean + std · N(0, 1) per dimension: for a spatial
   * latent, independent draws per cell decode to a patchwork, an anchor to a picture.
   */
  draw(): number[] {
    if (this.stats.anchors) return [...this.stats.anchors[this.pick(-1)]];
    return this.stats.mean.map((m, i) => m + this.stats.std[i] * this.gaussian());
  }

  /** Advances the walk by `seconds` and returns the latent there (exact OU transition, any step size). */
  step(seconds: number): number[] {
    if (this.leg) return this.stepAnchors(seconds);
    const decay = Math.exp(-this.speed * seconds);
    const spread = Math.sqrt(1 - decay * decay);
    this.unit = this.unit.map((u) => u * decay + spread * this.gaussian());
    return this.position;
  }

  /** An anchor walk takes 1/speed seconds from one anchor to the next (4 s at the default speed). */
  private stepAnchors(seconds: number): number[] {
    const leg = this.leg!;
    leg.t += seconds * this.speed;
    while (leg.t >= 1) {
      leg.t -= 1;
      leg.from = [...this.stats.anchors![leg.to]];
      leg.to = this.pick(leg.to);
    }
    return this.position;
  }

  private gaussian(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    // Box–Muller: two normals from two uniforms
    const u = 1 - this.rng();
    const v = this.rng();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}
