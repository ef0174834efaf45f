// The native engine (ONNX Runtime's CPU kernels): compiles a traced, bent method to ONNX.
// bended/ and control/ do not import this folder; the session picks an engine per method.
export { nativeAvailable, nativeUnavailableReason, nativeInfo } from "./ort.js";
export { compileMethod, structureKey, engineFor, CompiledMethod, type BetweenSteps, type CompileOptions, type EngineReport, type RunResult } from "./engine.js";
export { NativeMethodCache, type NativeLookup, type CacheOptions } from "./cache.js";
export {
  registerFunctionLowering, registerMethodLowering, registerModuleLowering, NotCompilable,
  type FunctionLowering, type ModuleLowering, type LoweringContext, type LoweredArg, type TensorValue,
} from "./lowering.js";
export { registerBendingLowering, type BendingLowering, type BendingLoweringArgs } from "./bendings.js";
// the spatial and time callbacks' lowerings register themselves on import
import "./bendings-spatial.js";
import "./bendings-temporal.js";
export * as onnxOps from "./ops.js";
