// Files on disk: paths confined to a folder (symlinks resolved, writes never follow a
// link), and TF.js model files without tfjs-node: a file:// IOHandler (model.json plus
// weight shards) for tf.loadLayersModel / model.save, and reading model.json.
import { constants, lstatSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { tf } from "../tf.js";
import { BendingError } from "../errors.js";

type ModelJSON = tf.io.ModelJSON;

/** Whether `path` is `root` or lies below it (both absolute, links already resolved). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The real path of `path` (relative to `base`) if it lies inside one of `roots`, else a
 * BendingError. Links are resolved through the deepest part of the path that exists, so a
 * folder or file that is a link pointing outside is refused, and so is a dangling link
 * (it would create a file wherever it points). `what` names the path in errors.
 */
export function confinedPath(path: string, roots: string[], base: string, what = `path '${path}'`): string {
  if (typeof path !== "string" || path === "") throw new BendingError(`${what} is empty`);
  if (path.includes("\0")) throw new BendingError(`${what} contains a NUL character`);
  const candidate = resolve(base, path);
  let existing = candidate;
  const rest: string[] = [];
  while (!exists(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  let real: string;
  try {
    real = join(realpathSync(existing), ...rest);
  } catch {
    throw new BendingError(`${what} goes through a link whose target does not exist`);
  }
  for (const root of roots) {
    let rootReal = resolve(root);
    try {
      rootReal = realpathSync(root);
    } catch {
      // a root that does not exist yet holds nothing but itself
    }
    if (isInside(rootReal, real)) return real;
  }
  throw new BendingError(`${what} is outside the ${roots.length > 1 ? "allowed folders" : `folder ${roots[0]}`}`);
}

/** Open flags for writing a file that is not followed if it is (or became) a link. */
const NO_FOLLOW_WRITE = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/**
 * Writes a file at a path that `confinedPath` returned: a link swapped in for the file
 * between the check and the write is not followed (the write fails instead).
 */
export async function writeFileNoFollow(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await writeFile(path, data, { flag: NO_FOLLOW_WRITE });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new BendingError(`'${path}' became a link; not written`);
    throw new BendingError(`cannot write '${path}': ${code ?? (e as Error).message}`);
  }
}

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
      writeFileSync(join(dir, weightsFile), data);
      const json: ModelJSON = {
        modelTopology: artifacts.modelTopology as ModelJSON["modelTopology"],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
      };
      writeFileSync(target.endsWith(".json") ? target : join(dir, "model.json"), JSON.stringify(json));
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
