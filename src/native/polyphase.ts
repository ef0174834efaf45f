// A strided 1-d transposed convolution as one ordinary convolution with `stride` times the
// output channels (one per output phase), followed by interleaving the phases in time.
// ONNX Runtime runs ConvTranspose as a GEMM and a col2im pass on filters it repacks, but runs
// Conv on prepacked filters in blocked channel layouts: on the RAVE-sized decoder the five
// transposed convs held 44% of the weights and took 52% of the time (bench/native.js).
//
// Output sample t = q·stride + r receives x[l]·W[k] where k = t − l·stride, so k ≡ r (mod
// stride): phase r is a conv of x with taps W[:, :, j·stride + r], j = 0…J−1 (J = ⌈K/stride⌉),
// flipped in time because ONNX's Conv correlates.

export interface PolyphaseFilter {
  /** Conv filter [cout·stride, cin, taps]: output channel co·stride + r is phase r of channel co. */
  data: Float32Array;
  shape: [number, number, number];
  /** Taps per phase, J = ⌈K / stride⌉ (the conv pads J − 1 on each side). */
  taps: number;
}

/** Rearranges a ConvTranspose1d filter [cin, cout, K] (groups 1) into the polyphase conv filter. */
export function polyphaseFilter(weight: Float32Array, [cin, cout, kernel]: readonly number[], stride: number): PolyphaseFilter {
  const taps = Math.ceil(kernel / stride);
  const data = new Float32Array(cout * stride * cin * taps);
  for (let co = 0; co < cout; co++) {
    for (let r = 0; r < stride; r++) {
      for (let ci = 0; ci < cin; ci++) {
        const to = ((co * stride + r) * cin + ci) * taps;
        const from = (ci * cout + co) * kernel;
        for (let m = 0; m < taps; m++) {
          const k = (taps - 1 - m) * stride + r;
          if (k < kernel) data[to + m] = weight[from + k];
        }
      }
    }
  }
  return { data, shape: [cout * stride, cin, taps], taps };
}

/** The bias of each polyphase output channel: every phase of channel co takes bias[co]. */
export function polyphaseBias(bias: Float32Array, stride: number): Float32Array {
  return Float32Array.from({ length: bias.length * stride }, (_, i) => bias[Math.floor(i / stride)]);
}
