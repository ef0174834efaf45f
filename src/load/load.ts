// tb.load / tb.save: models from disk, no network. A path is a TF.js model.json
// (LayersModel), or a tfbend folder (tfbend.json: architecture, weights as
// .safetensors, versions, the bending config and the traced methods' input shapes).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tfl from "@tensorflow/tfjs-layers";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module } from "../nn/module.js";
import { BendedModule } from "../bended/bended-module.js";
import { DEFAULT_VERSION } from "../bended/versions.js";
import { BendingConfig } from "../bending/config.js";
import { architectureOf, createModule } from "../zoo/registry.js";
import { confinedPath, isInside } from "../formats/paths.js";
import { fileHandler, readModelJSON } from "../formats/tfjs-files.js";
import { loadSafetensorsFile, saveSafetensors } from "../formats/safetensors.js";
import { replaceFile } from "../formats/replace-file.js";
import { KerasModel } from "./layers-model.js";
import { loadGraphModule } from "./graph-model.js";
import { checkManifest, MANIFEST, MANIFEST_LIMITS, type Manifest } from "./manifest.js";
import { loadTorchScript, type TorchScriptOptions } from "../torchscript/load.js";
import { saveTorchScript } from "./torchscript-export.js";
import { TorchScriptModule } from "../torchscript/module.js";

export { MANIFEST, MANIFEST_LIMITS } from "./manifest.js";

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
  const module = bended.module;
  if (module instanceof TorchScriptModule) {
    // A model read from a TorchScript file goes back to one: tb.save(bended, "bent.ts").
    if (/\.(ts|pt)$/i.test(dir)) {
      await saveTorchScript(bended, dir);
      return;
    }
    throw new BendingError("a model read from a TorchScript file is saved as one: tb.save(bended, \"bent.ts\") writes its weights as they are now (versions, interpolation, weight bendings baked in); save bendings with bended.bendingConfig().save(path)");
  }
  const full = resolve(dir);
  mkdirSync(full, { recursive: true });
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
  await replaceFile(join(full, MANIFEST), JSON.stringify(manifest, null, 2));
}
