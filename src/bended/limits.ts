// What a client can grow inside one model: each limit refuses with a BendingError and
// changes nothing. Listed by the plugin's `status` and the README's Limits.
export const BENDING_LIMITS = Object.freeze({
  /** Bendings in place on one model (a `bend` that would add one more is refused). */
  bendingsPerModel: 256,
  /** Live controls (BendingParameters) one model's bendings have registered. */
  controlsPerModel: 256,
});
