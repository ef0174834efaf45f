export { loadSafetensors, loadSafetensorsFile, parseSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
export { load, save, loadLayersModule, MANIFEST, type LoadOptions } from "./load.js";
export { writeWav, readWav, writePng } from "./media.js";
export { KerasModel, KerasLayer } from "./layers-model.js";
export { GraphModelModule, GraphNodeModule, GraphScope, GraphWeightParameter, loadGraphModule, type GraphModelModuleOptions } from "./graph-model.js";
export { fileHandler, registerFileRouter } from "./files.js";
