// Backend selection at start: the fastest that loads among tensorflow (tfjs-node-gpu /
// tfjs-node, only when the user installed them), webgpu, wasm (embedded default), cpu.
// TFBEND_BACKEND forces one and fails clearly if it cannot load.
import { tf } from "./tf.js";
import { BendingError } from "./errors.js";

export const BACKEND_ORDER = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** Registers an optional backend package if it is installed; false when it is not. */
async function loadOptional(name: BackendName): Promise<boolean> {
  if (name === "tensorflow") {
    for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
      try {
        await import(pkg);
        return tf.findBackendFactory("tensorflow") !== null;
      } catch {
        // not installed (or its native library is missing): try the next
      }
    }
    return false;
  }
  if (name === "webgpu") return tf.findBackendFactory("webgpu") !== null;
  return tf.findBackendFactory(name) !== null;
}

async function trySet(name: BackendName): Promise<boolean> {
  if (!(await loadOptional(name))) return false;
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** Selects `name`, or the fastest available backend; returns the one in use. */
export async function setBackend(name?: string): Promise<string> {
  if (name !== undefined && name !== "") {
    if (!(BACKEND_ORDER as readonly string[]).includes(name)) {
      throw new BendingError(`unknown backend '${name}' (choose one of ${BACKEND_ORDER.join(", ")})`);
    }
    if (!(await trySet(name as BackendName))) {
      throw new BendingError(`backend '${name}' could not be loaded on this machine`);
    }
    return tf.getBackend();
  }
  for (const candidate of BACKEND_ORDER) if (await trySet(candidate)) return tf.getBackend();
  throw new BendingError("no tfjs backend could be loaded");
}

/** The backend in use ("wasm", "cpu", "tensorflow", "webgpu"). */
export function backend(): string {
  return tf.getBackend();
}

/** Initialises the backend from TFBEND_BACKEND or automatically. */
export async function ready(): Promise<string> {
  return setBackend(process.env.TFBEND_BACKEND);
}
