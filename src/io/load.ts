// tb.load / tb.save: models from disk, no network. A path is a TF.js model.json
// (LayersModel), or a tfbend folder (tfbend.json: architecture, weights as
// .safetensors, versions, the bending config and the traced methods' input shapes).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tfl from "@tensorflow/tfjs-layers";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module } from "../nn/module.js";
import { BendedModule } from "../bended/bended-module.js";
import { DEFAULT_VERSION } from "../bended/versions.js";
import { BendingConfig } from "../bending/config.js";
import { architectureOf, createModule, type ArchitectureOptions } from "../zoo/registry.js";
import { confinedPath, fileHandler, isInside, readModelJSON } from "./files.js";
import { KerasModel } from "./layers-model.js";
import { loadGraphModule } from "./graph-model.js";
import { loadSafetensorsFile, saveSafetensors } from "./safetensors.js";
import { loadTorchScript, type TorchScriptOptions } from "../torchscript/load.js";
import { TorchScriptModule } from "../torchscript/module.js";

export const MANIFEST = "tfbend.json";

interface Manifest {
  format: "tfbend";
  version: 1;
  architecture:
    | { kind: "registered"; name: string; options: ArchitectureOptions }
    | { kind: "layers-model"; path: string }
    | { kind: "custom"; className: string };
  /** One .safetensors file, or files by key prefix ({"": "decoder.safetensors", "encoder.": "encoder.safetensors"}). */
  weights: string | Record<string, string>;
  versions: Record<string, string>;
  currentVersion: string;
  interpolation: Record<string, number> | null;
  config: string | null;
  traces: Record<string, number[][]>;
  metadata: Record<string, string>;
}

export interface LoadOptions extends TorchScriptOptions {
  /** The module to load weights into, for folders saved from a custom (unregistered) module. */
  module?: Module;
  /**
   * Folders that every file a manifest names must lie in (links resolved). Default: the
   * model's own folder, and the shipped models folder for a shipped model.
   */
  roots?: string[];
}

/** Whether a file is a zip (a TorchScript archive): its first bytes are "PK\x03\x04". */
function isZip(path: string): boolean {
  const head = Buffer.alloc(4);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  return head.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
}

/**
 * An nn~ TorchScript file as a BendedModule; each nn~ method traces on a one-step input
 * (its channels × max(1, 2048 / inRatio) samples) when trace(method) is called without inputs.
 */
async function loadTorchScriptBended(path: string, options: TorchScriptOptions): Promise<BendedModule> {
  const root = await loadTorchScript(path, options);
  const bended = new BendedModule(root);
  for (const m of root.methods) bended.exampleShapes.set(m.name, [[1, m.inChannels, Math.max(1, Math.floor(2048 / Math.max(1, m.inRatio)))]]);
  bended.metadata = { format: "torchscript", file: path };
  // RAVE-style exports keep their sample rate as an attribute
  const rate = ["sr", "sampling_rate", "sample_rate"].map((n) => root.attribute(n)).find((v) => typeof v === "number" && v > 0);
  if (rate !== undefined) bended.metadata.sample_rate = String(rate);
  return bended;
}

/** The shipped models (one may name another's weights, e.g. the audio encoder). */
const SHIPPED_MODELS = fileURLToPath(new URL("../../models/", import.meta.url));

/** Bounds a manifest's numbers are checked against before anything is allocated. */
export const MANIFEST_LIMITS = {
  /** Bytes of tfbend.json. */
  manifestBytes: 1 << 20,
  /** Bytes of one weights, version, config or layers file. */
  fileBytes: 1 << 30,
  versions: 256,
  traces: 64,
  /** Inputs of one traced method, dimensions of one input, and one dimension's size. */
  inputs: 16,
  dims: 8,
  dimSize: 1 << 20,
  /** Elements of one example input (tracing allocates it). */
  elements: 1 << 22,
  /** Characters of one metadata or option value. */
  valueChars: 4096,
} as const;

/** Loads a TF.js LayersModel from a model.json on disk as a tfbend module. */
export async function loadLayersModule(path: string): Promise<KerasModel> {
  const json = readModelJSON(path);
  if (json.format === "graph-model") {
    throw new BendingError(`'${path}' is a TF.js GraphModel; load it with tb.load(path) or tb.io.loadGraphModule(path)`);
  }
  const model = await tfl.loadLayersModel(fileHandler(path));
  return new KerasModel(model);
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

async function loadStateFile(path: string): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  return loadSafetensorsFile(path);
}

/**
 * Loads a model as a BendedModule: a model.json (TF.js LayersModel) or a folder saved by
 * tb.save (or shipped in models/). Traced methods, bendings and versions come back.
 */
export async function load(path: string, options: LoadOptions = {}): Promise<BendedModule> {
  const full = resolve(path);
  if (!existsSync(full)) throw new BendingError(`no model at '${path}'`);
  if (!isDirectory(full)) {
    // A FIFO or device would block the thread on open or read, and never answer.
    if (!statSync(full).isFile()) throw new BendingError(`'${path}' is not a regular file or a model folder`);
    if (full.endsWith(".ts") || full.endsWith(".pt") || full.endsWith(".torchscript") || isZip(full)) return loadTorchScriptBended(full, options);
    if (!full.endsWith(".json")) throw new BendingError(`'${path}' is neither a model.json nor a tfbend model folder`);
    if (readModelJSON(full).format === "graph-model") {
      const graphModule = await loadGraphModule(full);
      const bended = new BendedModule(graphModule);
      const shapes = graphModule.exampleInputShapes();
      if (shapes !== null) bended.exampleShapes.set("forward", shapes);
      return bended;
    }
    const module = await loadLayersModule(full);
    const bended = new BendedModule(module);
    bended.exampleShapes.set("forward", module.exampleInputs().map((t) => {
      const shape = t.shape;
      t.dispose();
      return shape;
    }));
    return bended;
  }
  const manifestPath = join(full, MANIFEST);
  if (!existsSync(manifestPath)) {
    if (existsSync(join(full, "model.json"))) return load(join(full, "model.json"), options);
    throw new BendingError(`'${path}' has no ${MANIFEST} or model.json`);
  }
  const roots = options.roots ?? [full, ...(isInside(resolve(SHIPPED_MODELS), full) ? [SHIPPED_MODELS] : [])];
  const files = new ModelFiles(full, roots, manifestPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(files.path(MANIFEST, "the manifest", MANIFEST_LIMITS.manifestBytes), "utf8"));
  } catch (e) {
    if (e instanceof BendingError) throw e;
    throw new BendingError(`'${manifestPath}' is not valid JSON`);
  }
  const manifest = checkManifest(json, manifestPath);
  let module: Module;
  const arch = manifest.architecture;
  if (options.module) module = options.module;
  else if (arch.kind === "registered") module = createModule(arch.name, arch.options);
  else if (arch.kind === "layers-model") module = await loadLayersModule(files.path(arch.path, "the layers model"));
  else throw new BendingError(`'${path}' was saved from a custom module (${arch.className}); pass it: tb.load(path, { module: new ${arch.className}() })`);
  module.eval();
  try {
    return await restore(files, manifest, module);
  } catch (e) {
    // A folder that fails half-way leaves nothing behind (unless the caller owns the module).
    if (!options.module) module.dispose();
    throw e;
  }
}

/** The files a manifest names: confined to `roots`, regular files, bounded in size. */
class ModelFiles {
  constructor(private readonly folder: string, private readonly roots: string[], private readonly manifestPath: string) {}

  path(name: string, what: string, maxBytes: number = MANIFEST_LIMITS.fileBytes): string {
    const label = `${what} '${String(name).slice(0, 200)}' named by ${this.manifestPath}`;
    const real = confinedPath(name, this.roots, this.folder, label);
    let stats;
    try {
      stats = statSync(real);
    } catch {
      throw new BendingError(`${label} does not exist`);
    }
    if (!stats.isFile()) throw new BendingError(`${label} is not a regular file`);
    if (stats.size > maxBytes) throw new BendingError(`${label} has ${stats.size} bytes; at most ${maxBytes}`);
    return real;
  }
}

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * A parsed tfbend.json checked field by field, numbers against MANIFEST_LIMITS, before
 * anything is read or allocated; errors name the field, never a file's content.
 */
function checkManifest(json: Json, source: string): Manifest {
  const fail = (what: string): never => {
    throw new BendingError(`${source}: ${what}`);
  };
  const text = (v: Json, field: string, max: number = MANIFEST_LIMITS.valueChars): string => {
    if (typeof v !== "string" || v === "" || v.length > max) fail(`'${field}' must be a non-empty string of at most ${max} characters`);
    return v as string;
  };
  if (!isRecord(json) || json.format !== "tfbend") fail(`not a tfbend manifest (expected "format": "tfbend")`);
  const m = json as Record<string, Json>;
  const arch = m.architecture;
  if (!isRecord(arch)) return fail(`'architecture' must be an object`);
  let architecture: Manifest["architecture"];
  if (arch.kind === "registered") {
    const options = arch.options ?? {};
    if (!isRecord(options)) return fail(`'architecture.options' must be an object`);
    for (const [key, value] of Object.entries(options)) {
      const ok = typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value) && Math.abs(value) <= MANIFEST_LIMITS.dimSize)
        || (typeof value === "string" && value.length <= MANIFEST_LIMITS.valueChars);
      if (!ok) fail(`'architecture.options.${key.slice(0, 40)}' must be a boolean, a short string or a number of magnitude at most ${MANIFEST_LIMITS.dimSize}`);
    }
    architecture = { kind: "registered", name: text(arch.name, "architecture.name", 200), options: options as ArchitectureOptions };
  } else if (arch.kind === "layers-model") architecture = { kind: "layers-model", path: text(arch.path, "architecture.path") };
  else if (arch.kind === "custom") architecture = { kind: "custom", className: text(arch.className, "architecture.className", 200) };
  else return fail(`'architecture.kind' must be registered, layers-model or custom`);
  const versions = m.versions ?? {};
  if (!isRecord(versions)) return fail(`'versions' must be an object of name: file`);
  const versionEntries = Object.entries(versions);
  if (versionEntries.length > MANIFEST_LIMITS.versions) fail(`${versionEntries.length} versions; at most ${MANIFEST_LIMITS.versions}`);
  for (const [name, file] of versionEntries) text(file, `versions.${name.slice(0, 40)}`);
  const interpolation = m.interpolation ?? null;
  if (interpolation !== null) {
    if (!isRecord(interpolation)) return fail(`'interpolation' must be null or an object of version: weight`);
    for (const [name, w] of Object.entries(interpolation)) {
      if (typeof w !== "number" || !Number.isFinite(w)) fail(`interpolation weight of '${name.slice(0, 40)}' must be a finite number`);
    }
  }
  const traces = m.traces ?? {};
  if (!isRecord(traces)) return fail(`'traces' must be an object of method: input shapes`);
  const traceEntries = Object.entries(traces);
  if (traceEntries.length > MANIFEST_LIMITS.traces) fail(`${traceEntries.length} traced methods; at most ${MANIFEST_LIMITS.traces}`);
  for (const [fn, shapes] of traceEntries) {
    const field = `traces.${fn.slice(0, 40)}`;
    if (!Array.isArray(shapes) || shapes.length > MANIFEST_LIMITS.inputs) fail(`'${field}' must be a list of at most ${MANIFEST_LIMITS.inputs} shapes`);
    for (const shape of shapes as Json[]) {
      if (!Array.isArray(shape) || shape.length > MANIFEST_LIMITS.dims) fail(`'${field}' shapes are lists of at most ${MANIFEST_LIMITS.dims} sizes`);
      let elements = 1;
      for (const d of shape as Json[]) {
        if (!Number.isInteger(d) || (d as number) < 1 || (d as number) > MANIFEST_LIMITS.dimSize) fail(`'${field}' sizes must be integers in 1..${MANIFEST_LIMITS.dimSize}`);
        elements *= d as number;
      }
      if (elements > MANIFEST_LIMITS.elements) fail(`'${field}' has an input of ${elements} elements; at most ${MANIFEST_LIMITS.elements}`);
    }
  }
  const metadata = m.metadata ?? {};
  if (!isRecord(metadata)) return fail(`'metadata' must be an object`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value))) fail(`'metadata.${key.slice(0, 40)}' must be a string or a number`);
    if (String(value).length > MANIFEST_LIMITS.valueChars) fail(`'metadata.${key.slice(0, 40)}' is longer than ${MANIFEST_LIMITS.valueChars} characters`);
  }
  const weightFiles = (w: Json): Manifest["weights"] => {
    if (typeof w === "string") return text(w, "weights");
    if (!isRecord(w)) return fail(`'weights' must be a file name or an object of key prefix: file`);
    const entries = Object.entries(w);
    if (entries.length === 0 || entries.length > MANIFEST_LIMITS.traces) fail(`'weights' names 1 to ${MANIFEST_LIMITS.traces} files`);
    for (const [prefix, file] of entries) text(file, `weights.${prefix.slice(0, 40)}`);
    return w as Record<string, string>;
  };
  const current = m.currentVersion ?? DEFAULT_VERSION;
  return {
    format: "tfbend",
    version: 1,
    architecture,
    weights: weightFiles(m.weights),
    versions: versions as Record<string, string>,
    currentVersion: text(current, "currentVersion", 200),
    interpolation: interpolation as Record<string, number> | null,
    config: m.config === null || m.config === undefined ? null : text(m.config, "config"),
    traces: traces as Record<string, number[][]>,
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, String(v)])),
  };
}

/** Weights, versions, traces, bendings and version of a tfbend folder, into `module`. */
/** The manifest's weight files as one state dict (keys prefixed per file); metadata of earlier files wins. */
async function loadWeights(files: ModelFiles, weights: Manifest["weights"]): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const named = typeof weights === "string" ? { "": weights } : weights;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  try {
    for (const [prefix, file] of Object.entries(named)) {
      const part = await loadStateFile(files.path(file, "the weights"));
      for (const [key, t] of Object.entries(part.tensors)) tensors[prefix + key] = t;
      metadata = { ...part.metadata, ...metadata };
    }
  } catch (e) {
    tf.dispose(Object.values(tensors)); // the files read before the one that failed
    throw e;
  }
  return { tensors, metadata };
}

async function restore(files: ModelFiles, manifest: Manifest, module: Module): Promise<BendedModule> {
  const weights = await loadWeights(files, manifest.weights);
  try {
    module.loadStateDict(weights.tensors);
  } finally {
    tf.dispose(Object.values(weights.tensors));
  }
  const bended = new BendedModule(module);
  bended.metadata = { ...weights.metadata, ...manifest.metadata };
  for (const [name, file] of Object.entries(manifest.versions ?? {})) {
    const version = await loadStateFile(files.path(file, `version '${name}'`));
    try {
      bended.createVersion(name, version.tensors);
    } finally {
      tf.dispose(Object.values(version.tensors));
    }
  }
  for (const [fn, shapes] of Object.entries(manifest.traces ?? {})) {
    bended.exampleShapes.set(fn, shapes);
    bended.trace(fn);
  }
  try {
    if (manifest.config) bended.bend(BendingConfig.load(files.path(manifest.config, "the bending config"), bended));
    if (manifest.interpolation) bended.interpolate(manifest.interpolation);
    else bended.version = manifest.currentVersion ?? DEFAULT_VERSION;
  } catch (e) {
    bended.dispose();
    throw e;
  }
  return bended;
}

/**
 * Saves a BendedModule into a folder: its weights, versions, bendings and traced
 * methods, so that tb.load(dir) gives back identical outputs.
 */
export async function save(bended: BendedModule, dir: string): Promise<void> {
  const full = resolve(dir);
  mkdirSync(full, { recursive: true });
  const module = bended.module;
  if (module instanceof TorchScriptModule) {
    throw new BendingError("tb.save of an interpreted TorchScript model is not supported: keep the .ts file, and save bendings with bended.bendingConfig().save(path) and versions with tb.io.saveSafetensors(path, bended.versionStateDict(name))");
  }
  let architecture: Manifest["architecture"];
  const registered = architectureOf(module);
  if (registered) architecture = { kind: "registered", ...registered };
  else if (module instanceof KerasModel) {
    await module.model.save(fileHandler(join(full, "layers")));
    architecture = { kind: "layers-model", path: "layers/model.json" };
  } else architecture = { kind: "custom", className: module.constructor.name };

  await saveSafetensors(join(full, "weights.safetensors"), module.stateDict(), bended.metadata);
  const versions: Record<string, string> = {};
  mkdirSync(join(full, "versions"), { recursive: true });
  for (const name of bended.versionNames()) {
    if (name === DEFAULT_VERSION) continue;
    const file = `versions/${name.replace(/[^\w.-]/g, "_")}.safetensors`;
    await saveSafetensors(join(full, file), bended.versionStateDict(name));
    versions[name] = file;
  }
  const config = bended.bendingConfig();
  let configFile: string | null = null;
  if (config.entries.length > 0) {
    configFile = "bending.json";
    config.save(join(full, configFile));
  }
  const manifest: Manifest = {
    format: "tfbend",
    version: 1,
    architecture,
    weights: "weights.safetensors",
    versions,
    currentVersion: bended.version,
    interpolation: bended.interpolationWeights,
    config: configFile,
    traces: Object.fromEntries(bended.tracedMethods().map((fn) => [fn, bended.exampleShapes.get(fn) ?? []])),
    metadata: bended.metadata,
  };
  writeFileSync(join(full, MANIFEST), JSON.stringify(manifest, null, 2));
}
