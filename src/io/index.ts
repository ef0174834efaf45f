export { loadSafetensors, loadSafetensorsFile, parseSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
export { load, save, loadLayersModule, MANIFEST, type LoadOptions } from "./load.js";
export { KerasModel, KerasLayer } from "./layers-model.js";
export { fileHandler, registerFileRouter } from "./files.js";
