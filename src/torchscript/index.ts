// TorchScript files (`.ts`, written by torch.jit.save): the archive reader.
export { readTorchScriptArchive } from "./archive.js";
export { ScriptTuple, type ScriptObject, type ScriptValue, type StoredTensor, type TorchDtype, type TorchScriptArchive } from "./values.js";
