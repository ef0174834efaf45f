// Models from disk as bendable modules: tfbend folders (tfbend.json), TF.js LayersModels and
// GraphModels, and nn~ TorchScript files.
export { load, save, loadLayersModule, MANIFEST, MANIFEST_LIMITS, type LoadOptions } from "./load.js";
export { KerasModel, KerasLayer } from "./layers-model.js";
export { GraphModelModule, GraphNodeModule, GraphScope, GraphWeightParameter, loadGraphModule, type GraphModelModuleOptions } from "./graph-model.js";
