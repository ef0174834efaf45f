// The public tb.io namespace: the byte formats (src/formats) and model loading (src/load)
// under the one name users import them by.
export * from "./formats/index.js";
export * from "./load/index.js";
