// tfbend: live network bending on TensorFlow.js.
import { ready } from "./backend.js";
import { registerFastCopies, registerFastTanh } from "./kernels.js";

export { tf, type Tensor } from "./tf.js";
export * as nn from "./nn/index.js";
export { F } from "./nn/index.js";
export { BendingError } from "./errors.js";
export { backend, setBackend, ready, BACKEND_ORDER } from "./backend.js";
export { backendInfo, type BackendInfo } from "./backend.js";
export { Graph, Node, type Argument, type NodeOp } from "./graph/graph.js";
export { GraphModule } from "./graph/graph-module.js";
export { trace } from "./graph/tracer.js";
export { BendingCallback, Chain, registerCallback, callbackFromJSON, callbackArguments, type ArgumentSpec, type ArgumentSpecs, type CallbackJSON, type BendingTarget, type TargetState } from "./bending/callback.js";
export { BendingParameter, DerivedParameter, type Controllable, type ParameterJSON, type ParameterOptions } from "./bending/parameter.js";
export { BendingConfig } from "./bending/config.js";
export { Mask } from "./bending/mask.js";
export { OrderedMask, Scale, Bias, Affine, Normal, Uniform, Permute, Reverse, Clamp, ThresholdActivation, Capture, InterpolateActivation, Lambda, CatalogueCallback, type Dim, type DimOptions, type NoiseOp, type NoiseOptions, type NormalOptions, type ThresholdOptions, type CaptureOptions, type LambdaOptions } from "./bending/catalogue.js";
export { ChannelCallback, type ChannelOptions } from "./bending/channels.js";
export { Translate, Rotate, Zoom, Flip, Erode, Dilate, Blur, Sharpen, Invert, Warp, MAX_RADIUS, type TranslateOptions, type SharpenOptions, type FlipAxis } from "./bending/spatial.js";
export { TimeShift, Stretch, Smear, Filter, Unphase, filterGain, MAX_MATRIX_LENGTH, type TimeShiftOptions, type StretchOptions, type FilterOptions, type FilterKind } from "./bending/temporal.js";
export { clusterMeans, type ChannelCluster, type ClusterOptions } from "./bended/clusters.js";
export { kmeans, type KMeansOptions, type KMeansResult } from "./util/kmeans.js";
export { BendedModule, type BendingHandle, type WeightPin } from "./bended/bended-module.js";
export { BENDING_LIMITS } from "./bended/limits.js";
export { DEFAULT_VERSION, DEFAULT_MAX_VERSIONS } from "./bended/versions.js";
export { WindowedQuantiles, statistics, type Stats } from "./util/stats.js";
export * as io from "./io.js";
export { load, save } from "./load/load.js";
export { saveTorchScript, type ExportReport } from "./load/torchscript-export.js";
export * as zoo from "./zoo/index.js";
export * as torchscript from "./torchscript/index.js";
export * as control from "./control/index.js";
export * as transports from "./transports/index.js";
export * as native from "./native/index.js";
export { registerArchitecture, createModule, architectures } from "./zoo/registry.js";

export { registerFastTanh, unregisterFastTanh, registerFastCopies, unregisterFastCopies } from "./kernels.js";

// Importing tfbend selects a backend (TFBEND_BACKEND or the fastest available).
await ready();
registerFastTanh();
registerFastCopies();
