export { loadSafetensors, loadSafetensorsFile, parseSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
export { load, save, loadLayersModule, MANIFEST, MANIFEST_LIMITS, type LoadOptions } from "./load.js";
export { writeWav, readWav, writePng } from "./media.js";
export { KerasModel, KerasLayer } from "./layers-model.js";
export { GraphModelModule, GraphNodeModule, GraphScope, GraphWeightParameter, loadGraphModule, type GraphModelModuleOptions } from "./graph-model.js";
export { confinedPath, fileHandler, registerFileRouter, writeFileNoFollow } from "./files.js";
