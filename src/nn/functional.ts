// The functional namespace `F`: the ops user code calls, with PyTorch conventions
// (channels-first layouts, `dim` arguments, PyTorch weight layouts). Each op is
// reported as one call_function node when traced; its internals stay opaque.
// The ops live in nn/ops/ by idea; each registers itself by name (nn/ops/registry.ts).
export { FUNCTIONS, type Operand } from "./ops/registry.js";
export * from "./ops/conv.js";
export * from "./ops/linear.js";
export * from "./ops/normalization.js";
export * from "./ops/elementwise.js";
export * from "./ops/shape.js";
export * from "./ops/reductions.js";
export * from "./ops/spectral.js";
export * from "./ops/creation.js";
