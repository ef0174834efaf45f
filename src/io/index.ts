export { loadSafetensors, loadSafetensorsFile, parseSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
