// Op family: elementwise functions and activations, reductions, and FFT / complex numbers
// (with the inverse trig and norm ops of RAVE v1/v2 and nn~ exports). Registered into
// op-table.ts.
import { BendingError } from "../errors.js";
import * as F from "../nn/functional.js";
import { registerOp as op, registerTensorOp as tensorOp } from "./op-table.js";
import { complexArg as C, floatOf, isTensor as isT, numberArg as num, optionalDims as optDims, tensorArg as T } from "./op-args.js";

// elementwise and activations
tensorOp("exp", "self", ([x]) => (isT(x) ? F.exp(x) : Math.exp(num(x))));
tensorOp("log", "self", ([x]) => (isT(x) ? F.log(floatOf(x)) : Math.log(num(x))));
tensorOp("sqrt", "self", ([x]) => (isT(x) ? F.sqrt(floatOf(x)) : Math.sqrt(num(x))));
tensorOp("square", "self", ([x]) => F.square(T(x)));
tensorOp("sin", "self", ([x]) => (isT(x) ? F.sin(x) : Math.sin(num(x))));
tensorOp("cos", "self", ([x]) => (isT(x) ? F.cos(x) : Math.cos(num(x))));
tensorOp("sign", "self", ([x]) => F.sign(T(x)));
tensorOp("tanh", "self", ([x]) => F.tanh(T(x)));
tensorOp("sigmoid", "self", ([x]) => F.sigmoid(T(x)));
tensorOp("relu", "self", ([x]) => F.relu(T(x)));
tensorOp("silu", "self", ([x]) => F.silu(T(x)));
for (const name of ["log1p", "floor", "ceil", "round", "reciprocal", "rsqrt", "erf", "tan", "atan", "expm1", "trunc"] as const) {
  tensorOp(name, "self", ([x]) => {
    if (!isT(x) && (name === "floor" || name === "ceil" || name === "round" || name === "trunc")) return Math[name](num(x));
    return F.unary(name, floatOf(T(x)));
  });
}
tensorOp("log_sigmoid", "self", ([x]) => F.unary("log_sigmoid", T(x)));
tensorOp("leaky_relu", "self, negative_slope=0.01", ([x, s]) => F.leakyRelu(T(x), num(s)));
tensorOp("elu", "self, alpha=1, scale=1, input_scale=1", ([x, alpha, scale, inputScale]) => {
  if (scale !== 1 || inputScale !== 1) throw new BendingError("elu with scale/input_scale is not supported");
  return F.elu(T(x), num(alpha));
});
tensorOp("gelu", "self, approximate=\"none\"", ([x, approx]) => F.gelu(T(x), String(approx)));
tensorOp("softplus", "self, beta=1, threshold=20", ([x, beta, threshold]) => F.softplus(T(x), num(beta), num(threshold)));
tensorOp("hardtanh", "self, min_val=-1, max_val=1", ([x, lo, hi]) => F.hardtanh(T(x), num(lo), num(hi)));
tensorOp("softmax", "self, dim, dtype=None", ([x, d]) => F.softmax(T(x), num(d)));
tensorOp("log_softmax", "self, dim, dtype=None", ([x, d]) => F.logSoftmax(T(x), num(d)));
tensorOp(["clamp", "clip"], "self, min=None, max=None", ([x, lo, hi]) => F.clamp(T(x), lo as number | null, hi as number | null));
tensorOp("clamp_min", "self, min", ([x, lo]) => F.clamp(T(x), lo as number, null));
tensorOp("clamp_max", "self, max", ([x, hi]) => F.clamp(T(x), null, hi as number));
op(["dropout", "feature_dropout", "alpha_dropout"], "input, p=0.5, train=False", ([x, , train]) => {
  if (train === true) throw new BendingError("dropout in training mode is not supported (call eval() before exporting)");
  return x;
});

// reductions
tensorOp("sum", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.sum(T(x), optDims(d) ?? undefined, Boolean(k)));
tensorOp("mean", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.mean(floatOf(T(x)), optDims(d) ?? undefined, Boolean(k)));
for (const [name, fn] of [["std", F.std], ["var", F.variance]] as const) {
  tensorOp(name, "self, dim=None, unbiased=True, keepdim=False, correction=None", ([x, d, unbiased, k, correction]) => {
    if (typeof d === "boolean") return fn(T(x), null, d ? 1 : 0, false);
    const corr = correction !== null ? num(correction) : unbiased === false ? 0 : 1;
    return fn(T(x), optDims(d), corr, Boolean(k));
  });
}
for (const [name, reduce, elementwise] of [["max", F.amax, F.maximum], ["min", F.amin, F.minimum]] as const) {
  tensorOp(name, "self, dim=None, keepdim=False", ([x, d, k]) => {
    if (!isT(x) && Array.isArray(x)) return Math[name](...x.map((v) => num(v)));
    if (!isT(x)) return Math[name](num(x), num(d));
    if (d === null) return reduce(x, null, false);
    if (isT(d)) return elementwise(x, d);
    const values = reduce(x, num(d), Boolean(k));
    const indices = F.argmax(name === "max" ? x : F.neg(x), num(d), Boolean(k));
    return [values, indices];
  });
}
tensorOp("amax", "self, dim=[], keepdim=False", ([x, d, k]) => F.amax(T(x), optDims(d), Boolean(k)));
tensorOp("amin", "self, dim=[], keepdim=False", ([x, d, k]) => F.amin(T(x), optDims(d), Boolean(k)));
tensorOp("argmax", "self, dim=None, keepdim=False", ([x, d, k]) => F.argmax(T(x), d === null ? null : num(d), Boolean(k)));
tensorOp("prod", "self, dim=None, keepdim=False, dtype=None", ([x, d, k]) => F.prod(T(x), d === null ? null : num(d), Boolean(k)));
tensorOp("cumsum", "self, dim, dtype=None", ([x, d]) => F.cumsum(T(x), num(d)));

// FFT and complex numbers
tensorOp("fft_rfft", "self, n=None, dim=-1, norm=None", ([x, n, d, norm]) => F.rfft(floatOf(T(x)), n === null ? null : num(n), num(d), norm as string | null));
tensorOp("fft_irfft", "self, n=None, dim=-1, norm=None", ([x, n, d, norm]) => F.irfft(x instanceof F.Complex ? x : T(x), n === null ? null : num(n), num(d), norm as string | null));
tensorOp("view_as_complex", "self", ([x]) => F.viewAsComplex(T(x)));
tensorOp("view_as_real", "self", ([x]) => F.viewAsReal(C(x)));
tensorOp("real", "self", ([x]) => F.real(x instanceof F.Complex ? x : T(x)));
tensorOp("imag", "self", ([x]) => F.imag(C(x)));

// Ops of RAVE v1/v2 and nn~ exports beyond the first fixtures (test/fixtures/torchscript rave_v1_like, ops_zoo).
tensorOp(["acos", "arccos"], "self", ([x]) => (isT(x) ? F.inverseTrig("acos", floatOf(x)) : Math.acos(num(x))));
tensorOp(["asin", "arcsin"], "self", ([x]) => (isT(x) ? F.inverseTrig("asin", floatOf(x)) : Math.asin(num(x))));
tensorOp("norm", "self, p=2, dim=None, keepdim=False, dtype=None, out=None", ([x, p, d, k, , out]) => {
  if (out !== null) throw new BendingError("norm(out=...) is not supported");
  return F.norm(floatOf(T(x)), p === null ? 2 : num(p), optDims(d), Boolean(k));
});
op("linalg_vector_norm", "self, ord=2, dim=None, keepdim=False, dtype=None", ([x, p, d, k]) => F.norm(floatOf(T(x)), num(p), optDims(d), Boolean(k)));
