// TorchScript files (`.ts`, written by torch.jit.save): the archive reader.
export { readTorchScriptArchive } from "./archive.js";
export { ScriptTuple, type ScriptObject, type ScriptValue, type StoredTensor, type TorchDtype, type TorchScriptArchive } from "./values.js";
// The interpreter: models that run (tb.load("model.ts") wraps them in a BendedModule).
export { loadTorchScript, moduleFromArchive, seededRandom, tensorFromStored, type TorchScriptOptions } from "./load.js";
export { TorchScriptModule, TorchScriptRoot, StateBuffer } from "./module.js";
export { opNames } from "./op-table.js";
export { parseSource } from "./parser.js";
export type { RandomSource } from "./context.js";
export { CALL_LIMITS, type CallLimits } from "./budget.js";
