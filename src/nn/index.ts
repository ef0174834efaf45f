import { registerTensorMethods } from "./tensor-methods.js";

registerTensorMethods();

export { Module, Parameter, Buffer, StateTensor, withStateOverrides, sameShape } from "./module.js";
export * from "./layers.js";
export * as F from "./functional.js";
export { manualSeed } from "./init.js";
export { derivedCacheSize } from "./derived.js";
export type { CallObserver, CallKind } from "./hooks.js";
export { nnTildeInterface, type MethodSpec, type AttributeSpec, type AttributeValue, type NnTildeInterface } from "./method-spec.js";
