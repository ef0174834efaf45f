// Threaded wasm under Node. tfjs-backend-wasm ships a threaded SIMD binary but never uses it
// in Node: its thread-support flag is false there, its pthread worker is a `blob:` URL that
// worker_threads cannot load, and the C++ caps the pool at half the logical cores (1 of 2).
// This loader instantiates the package's own threaded binary (wasm-out/) with a worker file
// written once to the temp folder, then builds the package's BackendWasm on it, with the
// package's setThreadsCount. Nothing inside node_modules is changed.
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import * as wasmBackend from "@tensorflow/tfjs-backend-wasm";
import { tf } from "./tf.js";
import { replaceFileSync } from "./formats/replace-file.js";

const require = createRequire(import.meta.url);
const WASM_OUT = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "wasm-out");
const MAIN_SCRIPT = join(WASM_OUT, "tfjs-backend-wasm-threaded-simd.js");
const BINARY = join(WASM_OUT, "tfjs-backend-wasm-threaded-simd.wasm");
const WORKER_MODULE = join(WASM_OUT, "tfjs-backend-wasm-threaded-simd.worker.js");

/** The Emscripten module as tfjs's BackendWasm expects it (its `tfjs` bridge is added here). */
interface EmscriptenModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  PThread?: { unusedWorkers: NodeWorker[]; runningWorkers: NodeWorker[] };
  tfjs?: Record<string, unknown>;
}
interface NodeWorker {
  unref(): void;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** The pthread worker script, written where worker_threads can load it (once per package version). */
function workerFile(): string {
  const version = (require("@tensorflow/tfjs-backend-wasm/package.json") as { version: string }).version;
  const dir = join(os.tmpdir(), `tfbend-wasm-${version}-${process.getuid?.() ?? "user"}`);
  const file = join(dir, "tfjs-backend-wasm-threaded-simd.worker.cjs");
  if (!existsSync(file)) {
    const { wasmWorkerContents } = require(WORKER_MODULE) as { wasmWorkerContents: string };
    mkdirSync(dir, { recursive: true });
    // replaced atomically: concurrent processes never read half a file
    try {
      // the package escapes newlines the same way before making its blob (they sit in string literals)
      replaceFileSync(file, wasmWorkerContents.replace(/\n/g, "\\n"));
    } catch (e) {
      // another process won the race: its copy is identical
      if (!existsSync(file)) throw e;
    }
  }
  return file;
}

/** Runs `make` while the C++ sees 2·threads logical cores (it uses half of them). */
async function withLogicalCores<T>(threads: number, make: () => Promise<T> | T): Promise<T> {
  const cpus = os.cpus;
  const first = cpus()[0];
  os.cpus = () => Array.from({ length: 2 * threads }, () => first);
  try {
    return await make();
  } finally {
    os.cpus = cpus;
  }
}

let installedThreads: number | undefined;

/** Threads the wasm backend was set up with by this loader (undefined: the package's default loader). */
export function wasmThreadsInstalled(): number | undefined {
  return installedThreads;
}

/**
 * Replaces tfjs's wasm backend factory by one that runs `threads` XNNPACK threads. Must run
 * before the wasm backend is first initialised; later calls with the same count do nothing.
 */
export function installThreadedWasm(threads: number): void {
  if (installedThreads === threads) return;
  if (installedThreads !== undefined) throw new Error(`the wasm backend already runs ${installedThreads} threads`);
  const factory = require(MAIN_SCRIPT) as Factory;
  const worker = workerFile();
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", async () => {
    wasmBackend.setThreadsCount(threads);
    return withLogicalCores(threads, async () => {
      const module = await factory({
        locateFile: (path: string, prefix: string) =>
          path.endsWith(".worker.js") ? worker : path.endsWith(".wasm") ? BINARY : prefix + path,
        mainScriptUrlOrBlob: MAIN_SCRIPT,
      });
      // the bridge tfjs's own init() builds
      module.tfjs = {
        init: module.cwrap("init", null, []),
        initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
        getThreadsCount: module.cwrap("get_threads_count", "number", []),
        registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
        disposeData: module.cwrap("dispose_data", null, ["number"]),
        dispose: module.cwrap("dispose", null, []),
      };
      const backend = new wasmBackend.BackendWasm(module as unknown as ConstructorParameters<typeof wasmBackend.BackendWasm>[0]);
      // pool threads wait for work forever: they must not keep the process alive
      for (const w of [...(module.PThread?.unusedWorkers ?? []), ...(module.PThread?.runningWorkers ?? [])]) w.unref();
      return backend;
    });
  }, 2);
  installedThreads = threads;
}
