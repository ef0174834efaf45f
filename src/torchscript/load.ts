// Loading an nn~ TorchScript file (torch.jit.save's zip): read the archive, parse and
// compile every code file once (an op the table lacks fails here, naming the op, the
// method and the source line), then build one TorchScriptModule per scripted module.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Buffer, Parameter } from "../nn/module.js";
import { readTorchScriptArchive } from "./archive.js";
import { ScriptTuple, type ScriptObject, type ScriptValue, type StoredTensor, type TorchScriptArchive } from "./values.js";
import { parseSource } from "./parser.js";
import { Program } from "./interpreter.js";
import type { Value } from "./script-class.js";
import { Runtime, StateBuffer, TorchScriptModule, TorchScriptRoot } from "./module.js";
import { ScriptObjectInstance } from "./objects.js";
import "./ops-torch2.js";
import type { RandomSource } from "./context.js";
import { CALL_LIMITS, type CallLimits } from "./budget.js";

export interface TorchScriptOptions {
  /** Where randn/rand draw from (tests replay PyTorch's draws); default: tfjs's generator, seeded by `seed`. */
  random?: RandomSource;
  /** Seed of the default random source (reproducible noise). */
  seed?: number;
  /** What one call into the model's code may spend (default CALL_LIMITS). */
  limits?: Partial<CallLimits>;
}

/** tfjs's random generator as a RandomSource; each draw advances a seeded counter. */
export function seededRandom(seed?: number): RandomSource {
  let draw = 0;
  return (kind, shape) => tf.tidy(() => {
    const s = seed === undefined ? undefined : seed * 1_000_003 + draw++;
    const t = kind === "normal" ? tf.randomNormal(shape, 0, 1, "float32", s) : tf.randomUniform(shape, 0, 1, "float32", s);
    return t.dataSync() as Float32Array;
  });
}

/** A stored tensor as a tfjs tensor (float64 → float32, int64 → int32, see the README). */
export function tensorFromStored(t: StoredTensor): Tensor {
  const { dtype, shape, data } = t;
  switch (dtype) {
    case "float32": case "float64": case "float16": case "bfloat16":
      return tf.tensor(data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>), shape, "float32");
    case "bool":
      return tf.tensor(data as Uint8Array, shape, "bool");
    case "int64": {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return tf.tensor(out, shape, "int32");
    }
    default:
      return tf.tensor(data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>), shape, "int32");
  }
}

function isStoredTensor(v: ScriptValue): v is StoredTensor {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof ScriptTuple) && v.kind === "tensor";
}

function isScriptObject(v: ScriptValue): v is ScriptObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof ScriptTuple) && v.kind === "object";
}

/** Plain pickled values as interpreter values; tensors are collected in `owned`. */
/** Lists, tuples and dicts nested in a pickled value (torch's nest a few deep). */
const MAX_VALUE_DEPTH = 100;

function plainValue(v: ScriptValue, owned: Tensor[], where: string, ancestors: object[] = []): Value {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof ScriptTuple || Array.isArray(v) || v instanceof Map) {
    if (ancestors.includes(v)) throw new BendingError(`${where}: a list, tuple or dict contains itself`);
    if (ancestors.length >= MAX_VALUE_DEPTH) throw new BendingError(`${where}: lists, tuples or dicts nested more than ${MAX_VALUE_DEPTH} deep`);
    ancestors.push(v);
    try {
      const inner = (x: ScriptValue): Value => plainValue(x, owned, where, ancestors);
      if (v instanceof ScriptTuple) return v.items.map(inner);
      if (Array.isArray(v)) return v.map(inner);
      return new Map([...v].map(([k, x]) => [inner(k), inner(x)]));
    } finally {
      ancestors.pop();
    }
  }
  if (isStoredTensor(v)) {
    const t = tensorFromStored(v);
    owned.push(t);
    return t;
  }
  throw new BendingError(`${where}: a ${v.className} object inside a plain value is not supported`);
}

/**
 * Parses and compiles an archive's code. Ops the table lacks are listed (`unsupportedOps`),
 * not refused here: library code such as F.interpolate carries branches for every mode, and
 * only a call that reaches one of them fails, naming the op, the method and the line.
 */
export function compileArchive(archive: TorchScriptArchive, owned: Tensor[]): Program {
  const files = [...archive.code].filter(([path]) => path.endsWith(".py")).map(([path, source]) =>
    parseSource(source, `${archive.file}: code/${path.replace(/^code\//, "")}`));
  const constants = archive.constants.map((c) => plainValue(c, owned, `${archive.file}: constants.pkl`));
  return new Program(files, constants);
}

/** An object of a scripted class that is not a module (nn~'s buffer attributes), with its pickled fields. */
function buildObject(obj: ScriptObject, program: Program, runtime: Runtime, owned: Tensor[], objects: ScriptObjectInstance[], where: string,
  ancestors: ScriptObject[] = []): ScriptObjectInstance {
  if (ancestors.includes(obj)) throw new BendingError(`${where}: a ${obj.className} object contains itself`);
  if (ancestors.length >= MAX_VALUE_DEPTH) throw new BendingError(`${where}: objects nested more than ${MAX_VALUE_DEPTH} deep`);
  const cls = program.classes.get(obj.className);
  if (cls === undefined) throw new BendingError(`${where}: a ${obj.className} object, a class with no code in the archive`);
  if (obj.state !== undefined) throw new BendingError(`${where}: a ${obj.className} object pickled by __getstate__ is not supported`);
  const instance = new ScriptObjectInstance(cls, true, (body) => runtime.run(body));
  for (const [name, value] of obj.attributes) {
    instance.define(name, isScriptObject(value) ? buildObject(value, program, runtime, owned, objects, `${where}.${name}`, [...ancestors, obj])
      : plainValue(value, owned, `${where}.${name}`));
  }
  objects.push(instance);
  return instance;
}

/** Whether a scripted class is a module (`class X(Module):`), not a plain class. */
function isModuleClass(program: Program, className: string): boolean {
  return program.classes.get(className)?.def.bases.includes("Module") ?? true;
}

function buildModule(obj: ScriptObject, program: Program, runtime: Runtime, owned: Tensor[], path: string, root: TorchScriptRoot | null,
  objects: ScriptObjectInstance[] = []): TorchScriptModule {
  const cls = program.classes.get(obj.className);
  if (cls === undefined) throw new BendingError(`module '${path || "(root)"}' is a ${obj.className}, which has no code in the archive`);
  const module = root ?? new TorchScriptModule(cls, runtime);
  let children = 0;
  for (const [name, value] of obj.attributes) {
    const where = `${obj.className}.${name}`;
    if (name === "training") {
      module.training = Boolean(value);
    } else if (isScriptObject(value) && !isModuleClass(program, value.className)) {
      module.define(name, "attr", buildObject(value, program, runtime, owned, objects, where));
    } else if (isScriptObject(value)) {
      module.define(name, "module", buildModule(value, program, runtime, owned, path === "" ? name : `${path}.${name}`, null, objects));
      children++;
    } else if (isStoredTensor(value) && cls.def.parameters.includes(name)) {
      module.define(name, "param", new Parameter(tensorFromStored(value)));
    } else if (isStoredTensor(value) && cls.def.buffers.includes(name)) {
      const t = tensorFromStored(value);
      module.define(name, cls.mutatesState ? "state" : "buffer", cls.mutatesState ? new StateBuffer(t) : new Buffer(t));
    } else {
      module.define(name, "attr", plainValue(value, owned, where));
    }
  }
  module.isLeaf = children === 0 && cls.methods.has("forward");
  return module;
}

/** Loads an nn~ TorchScript file as a TorchScriptRoot (the root module of the tree). */
export async function loadTorchScript(path: string, options: TorchScriptOptions = {}): Promise<TorchScriptRoot> {
  return moduleFromArchive(await readTorchScriptArchive(path), options);
}

/** The module tree of an archive already read. */
export function moduleFromArchive(archive: TorchScriptArchive, options: TorchScriptOptions = {}): TorchScriptRoot {
  const owned: Tensor[] = [];
  try {
    const program = compileArchive(archive, owned);
    const rootClass = program.classes.get(archive.root.className);
    if (rootClass === undefined) throw new BendingError(`${archive.file}: the root module's class ${archive.root.className} has no code in the archive`);
    const runtime = new Runtime(program, options.random ?? seededRandom(options.seed), { ...CALL_LIMITS, ...options.limits });
    const root = new TorchScriptRoot(rootClass, runtime);
    try {
      const objects: ScriptObjectInstance[] = [];
      try {
        buildModule(archive.root, program, runtime, owned, "", root, objects);
      } finally {
        root.ownObjects(objects);
      }
      root.isLeaf = false;
      root.file = archive.file;
      const seen = new Set<string>();
      root.unsupportedOps = program.missing.map((m) => `${m.op} in ${m.where}`).filter((m) => !seen.has(m) && seen.add(m));
      root.own(owned);
      root.eval();
      root.readNnTilde();
    } catch (e) {
      root.dispose();
      throw e;
    }
    return root;
  } catch (e) {
    for (const t of owned) if (!t.isDisposed) t.dispose();
    throw e;
  }
}
