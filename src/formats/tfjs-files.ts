// TF.js model files without tfjs-node: a file:// IOHandler (model.json plus weight shards)
// for tf.loadLayersModel / model.save, and reading model.json.
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";
import { confinedPath } from "./paths.js";
import { replaceFile } from "./replace-file.js";

type ModelJSON = tf.io.ModelJSON;

export function readModelJSON(path: string): ModelJSON {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BendingError(`cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as ModelJSON;
  } catch {
    throw new BendingError(`'${path}' is not valid JSON`);
  }
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out.buffer;
}

/** Loads model artifacts from a model.json and the weight shards it lists. */
export async function loadArtifacts(path: string): Promise<tf.io.ModelArtifacts> {
  const json = readModelJSON(path);
  const dir = dirname(resolve(path));
  return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs = manifest.flatMap((group) => group.weights);
    const shards = manifest.flatMap((group) => group.paths.map((p) => {
      const shard = confinedPath(p, [dir], dir, `weight shard '${String(p).slice(0, 200)}' of '${path}'`);
      try {
        return readFileSync(shard);
      } catch (e) {
        throw new BendingError(`weight shard '${p}' of '${path}' cannot be read: ${(e as Error).message}`);
      }
    }));
    return [specs, concat(shards)];
  });
}

/** An IOHandler that reads (and writes) a model.json + weights.bin pair in a folder or file path. */
export function fileHandler(path: string): tf.io.IOHandler {
  const target = path.replace(/^file:\/\//, "");
  return {
    load: () => loadArtifacts(target.endsWith(".json") ? target : join(target, "model.json")),
    save: async (artifacts: tf.io.ModelArtifacts) => {
      const dir = target.endsWith(".json") ? dirname(target) : target;
      mkdirSync(dir, { recursive: true });
      const weightsFile = "weights.bin";
      const data = artifacts.weightData ? new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData)) : new Uint8Array();
      await replaceFile(join(dir, weightsFile), data);
      const json: ModelJSON = {
        modelTopology: artifacts.modelTopology as ModelJSON["modelTopology"],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
      };
      await replaceFile(target.endsWith(".json") ? target : join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

let registered = false;

/** Lets tf.loadLayersModel("file://...") and model.save("file://...") work in Node. */
export function registerFileRouter(): void {
  if (registered) return;
  registered = true;
  const router = (url: string | string[]) => {
    const u = Array.isArray(url) ? url[0] : url;
    // tfjs routers answer null for URLs they do not handle.
    return (typeof u === "string" && u.startsWith("file://") ? fileHandler(u) : null) as tf.io.IOHandler;
  };
  tf.io.registerLoadRouter(router);
  tf.io.registerSaveRouter(router);
}
