// The stream's default input: a slow random walk through the latent space the decoder was
// trained on. Each dimension follows an Ornstein–Uhlenbeck process around the encoder's latent
// mean with the encoder's latent std as its spread, so the walk stays where the decoder makes
// sound and never drifts off. Seeded: a walk restarted from its origin repeats exactly.
import seedrandom from "seedrandom";
import { BendingError } from "../errors.js";

/** Default speed: the inverse time constant in 1/s (0.25: the walk forgets where it was in about 4 s). */
export const DEFAULT_WALK_SPEED = 0.25;
/** Fastest walk `input walk` accepts (a new place every 10 ms). */
export const MAX_WALK_SPEED = 100;

export interface LatentStatistics {
  mean: number[];
  std: number[];
}

/** A model's latent statistics from its metadata (`latent_mean`, `latent_std`: JSON lists), or null. */
export function latentStatistics(metadata: Record<string, string>, dim: number): LatentStatistics | null {
  const list = (key: string): number[] | null => {
    try {
      const value: unknown = JSON.parse(metadata[key] ?? "null");
      return Array.isArray(value) && value.length === dim && value.every((v) => typeof v === "number" && Number.isFinite(v)) ? value : null;
    } catch {
      return null;
    }
  };
  const mean = list("latent_mean");
  const std = list("latent_std");
  return mean && std && std.every((s) => s >= 0) ? { mean, std } : null;
}

export class LatentWalk {
  /** The walk's position in units of std around the mean, per dimension. */
  private unit: number[];
  private rng: () => number;
  private spare: number | null = null;
  walking: boolean;
  speed = DEFAULT_WALK_SPEED;

  constructor(readonly stats: LatentStatistics, readonly options: { seed?: number; walking?: boolean } = {}) {
    this.walking = options.walking ?? true;
    this.unit = stats.mean.map(() => 0);
    this.rng = seedrandom(`latent-walk:${options.seed ?? 1}`);
  }

  /** The same walk from its origin (a render starts there, so renders repeat). */
  fresh(): LatentWalk {
    const walk = new LatentWalk(this.stats, { seed: this.options.seed, walking: this.walking });
    walk.speed = this.speed;
    return walk;
  }

  /** The latent at the walk's position. */
  get position(): number[] {
    return this.unit.map((u, i) => this.stats.mean[i] + this.stats.std[i] * u);
  }

  /** Starts (or keeps) walking at `speed` from `from` (the latent the stream is at). */
  walk(speed: number, from: number[]): void {
    if (!(Number.isFinite(speed) && speed > 0 && speed <= MAX_WALK_SPEED)) {
      throw new BendingError(`walk speed must be in (0, ${MAX_WALK_SPEED}] (1/s; ${DEFAULT_WALK_SPEED} is slow), got ${speed}`);
    }
    this.speed = speed;
    this.unit = from.map((v, i) => (this.stats.std[i] > 0 ? (v - this.stats.mean[i]) / this.stats.std[i] : 0));
    this.walking = true;
  }

  /** Advances the walk by `seconds` and returns the latent there (exact OU transition, any step size). */
  step(seconds: number): number[] {
    const decay = Math.exp(-this.speed * seconds);
    const spread = Math.sqrt(1 - decay * decay);
    this.unit = this.unit.map((u) => u * decay + spread * this.gaussian());
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
