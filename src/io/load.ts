// tb.load / tb.save: models from disk, no network. A path is a TF.js model.json
// (LayersModel), or a tfbend folder (tfbend.json: architecture, weights as
// .safetensors, versions, the bending config and the traced methods' input shapes).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tfl from "@tensorflow/tfjs-layers";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module } from "../nn/module.js";
import { BendedModule } from "../bended/bended-module.js";
import { DEFAULT_VERSION } from "../bended/versions.js";
import { BendingConfig } from "../bending/config.js";
import { architectureOf, createModule, type ArchitectureOptions } from "../zoo/registry.js";
import { fileHandler, readModelJSON } from "./files.js";
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
  return bended;
}

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
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
  } catch {
    throw new BendingError(`'${manifestPath}' is not valid JSON`);
  }
  if (manifest.format !== "tfbend") throw new BendingError(`'${manifestPath}' is not a tfbend manifest`);

  let module: Module;
  const arch = manifest.architecture;
  if (options.module) module = options.module;
  else if (arch.kind === "registered") module = createModule(arch.name, arch.options);
  else if (arch.kind === "layers-model") module = await loadLayersModule(join(full, arch.path));
  else throw new BendingError(`'${path}' was saved from a custom module (${arch.className}); pass it: tb.load(path, { module: new ${arch.className}() })`);
  module.eval();
  try {
    return await restore(full, manifest, module);
  } catch (e) {
    // A folder that fails half-way leaves nothing behind (unless the caller owns the module).
    if (!options.module) module.dispose();
    throw e;
  }
}

/** Weights, versions, traces, bendings and version of a tfbend folder, into `module`. */
/** The manifest's weight files as one state dict (keys prefixed per file); metadata of earlier files wins. */
async function loadWeights(full: string, weights: Manifest["weights"]): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const files = typeof weights === "string" ? { "": weights } : weights;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [prefix, file] of Object.entries(files)) {
    const part = await loadStateFile(join(full, file));
    for (const [key, t] of Object.entries(part.tensors)) tensors[prefix + key] = t;
    metadata = { ...part.metadata, ...metadata };
  }
  return { tensors, metadata };
}

async function restore(full: string, manifest: Manifest, module: Module): Promise<BendedModule> {
  const weights = await loadWeights(full, manifest.weights);
  try {
    module.loadStateDict(weights.tensors);
  } finally {
    tf.dispose(Object.values(weights.tensors));
  }
  const bended = new BendedModule(module);
  bended.metadata = { ...weights.metadata, ...manifest.metadata };
  for (const [name, file] of Object.entries(manifest.versions ?? {})) {
    const version = await loadStateFile(join(full, file));
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
    if (manifest.config) bended.bend(BendingConfig.load(join(full, manifest.config), bended));
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
