// Byte formats and files on disk: safetensors, WAV/PNG renders, TF.js model files, confined
// paths and atomic replacement. Nothing here knows about modules, bending or the plugin.
export { loadSafetensors, loadSafetensorsFile, parseSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
export { encodeWav, writeWav, readWav, encodePng, writePng } from "./media.js";
export { confinedPath, isInside, writeFileNoFollow } from "./paths.js";
export { fileHandler, registerFileRouter } from "./tfjs-files.js";
export { replaceFile, replaceFileSync, type ContentsWriter, type FileContents, type ReplaceOptions } from "./replace-file.js";
