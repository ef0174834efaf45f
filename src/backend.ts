// Backend selection at start: the fastest that loads among tensorflow (tfjs-node-gpu /
// tfjs-node, only when the user installed them), webgpu (Dawn, from the `webgpu` package,
// when a GPU adapter exists), wasm (embedded default), cpu. TFBEND_BACKEND forces one and
// fails clearly if it cannot load. A GPU candidate that is not there costs a few
// milliseconds and, in automatic selection, one line on stderr, never a stack trace.
import { existsSync, readdirSync } from "node:fs";
import { constants as osConstants, homedir } from "node:os";
import { join } from "node:path";
import { tf } from "./tf.js";
import { BendingError } from "./errors.js";
import { installThreadedWasm, wasmThreadsInstalled } from "./wasm-threads.js";
import { nativeInfo } from "./native/ort.js";

export const BACKEND_ORDER = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** The backend in use and the device it computes on. */
export interface BackendInfo {
  name: string;
  device: string;
  /** Threads computing on the CPU backends (wasm: XNNPACK's pool, cpu: 1); absent on GPU backends. */
  threads?: number;
  /** The native engine (src/native): "onnxruntime <version> (cpu)" where it runs, else "unavailable: <why>". */
  native: string;
}

/**
 * wasm threads when TFBEND_THREADS is not set. 1: on this project's shared 2-core machine
 * bench/threads.js measured 2 threads at 0.25–0.68× the speed of one (pool threads wait on
 * each other when the cores are busy, README "Speed"), and a patcher shares the host's cores.
 */
export const DEFAULT_WASM_THREADS = 1;

/** Longest wait for Dawn's adapter request before giving up on WebGPU. */
const ADAPTER_TIMEOUT_MS = 5000;
const TENSORFLOW_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"];

/** Why a candidate did not load: `report` is false when there is nothing to tell (not installed). */
interface Failure {
  reason: string;
  report: boolean;
}
type Attempt = { ok: true } | ({ ok: false } & Failure);

let webgpuDevice: string | undefined;
let tensorflowDevice: string | undefined;

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "unknown error";
}

// --- webgpu ------------------------------------------------------------------------

interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  info?: GpuAdapterInfo;
  isFallbackAdapter?: boolean;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}
interface WebGpuPackage {
  create(options: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** Dawn options for `create()`, from TFBEND_DAWN_OPTIONS ("backend=vulkan;adapter=NVIDIA …"). */
function dawnOptions(): string[] {
  return (process.env.TFBEND_DAWN_OPTIONS ?? "").split(";").map((s) => s.trim()).filter((s) => s !== "");
}

function dawnBackend(options: string[]): string | undefined {
  return options.find((o) => o.startsWith("backend="))?.slice("backend=".length);
}

/**
 * Cheap checks (about 2 ms) made before Dawn is touched on Linux, where WebGPU runs on Vulkan.
 * Dawn prints native warnings with source locations when Vulkan is missing, so we only let it
 * look for an adapter where one can exist. `auto` adds the heuristics (a GPU device node, a
 * Vulkan driver manifest) that a forced TFBEND_BACKEND=webgpu skips.
 */
function vulkanProblem(auto: boolean): string | undefined {
  if (process.platform !== "linux") return undefined;
  const backendOption = dawnBackend(dawnOptions());
  if (backendOption !== undefined && backendOption !== "vulkan") return undefined;
  if (auto && !hasGpuDeviceNode()) return "no GPU device: /dev/dri/* and /dev/nvidia* absent";
  // Dawn dlopens libvulkan.so.1; process.dlopen searches the same paths. A loadable library
  // that is no Node addon fails with "did not self-register", a missing one with "cannot open".
  try {
    process.dlopen({ exports: {} } as unknown as NodeJS.Module, "libvulkan.so.1", osConstants.dlopen.RTLD_LAZY);
  } catch (error) {
    if (/cannot open shared object|no such file/i.test(firstLine(error))) {
      return "Vulkan loader libvulkan.so.1 not found";
    }
  }
  if (auto && !hasVulkanDriver()) return "no Vulkan driver manifest (ICD) in the Vulkan loader's search paths";
  return undefined;
}

function hasGpuDeviceNode(): boolean {
  if (existsSync("/dev/dxg")) return true; // WSL2
  for (const [dir, pattern] of [["/dev", /^nvidia\d+$/], ["/dev/dri", /^(renderD|card)\d+$/]] as const) {
    try {
      if (readdirSync(dir).some((name) => pattern.test(name))) return true;
    } catch {
      // no such directory
    }
  }
  return false;
}

/** A Vulkan ICD manifest where the loader looks (VK_DRIVER_FILES / VK_ICD_FILENAMES, XDG dirs, /etc). */
function hasVulkanDriver(): boolean {
  const hasJson = (path: string): boolean => {
    try {
      if (path.endsWith(".json")) return existsSync(path);
      return readdirSync(path).some((name) => name.endsWith(".json"));
    } catch {
      return false;
    }
  };
  const list = (value: string | undefined) => (value ?? "").split(":").filter((s) => s !== "");
  const override = list(process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES);
  if (override.length > 0) return override.some(hasJson);
  const env = process.env;
  const dirs = [
    ...list(env.VK_ADD_DRIVER_FILES),
    join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "vulkan/icd.d"),
    ...list(env.XDG_CONFIG_DIRS ?? "/etc/xdg").map((d) => join(d, "vulkan/icd.d")),
    "/etc/vulkan/icd.d",
    "/usr/local/etc/vulkan/icd.d",
    join(env.XDG_DATA_HOME ?? join(homedir(), ".local/share"), "vulkan/icd.d"),
    ...list(env.XDG_DATA_DIRS ?? "/usr/local/share:/usr/share").map((d) => join(d, "vulkan/icd.d")),
  ];
  return dirs.some(hasJson);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describeAdapter(info: GpuAdapterInfo | undefined, dawn: string | undefined): string {
  const name = info?.description || info?.device || "unnamed adapter";
  const details = [info?.vendor, info?.architecture, dawn ? `Dawn ${dawn} backend` : "Dawn"].filter((s) => !!s);
  return `${name} (${details.join(", ")})`;
}

/** Puts `gpu` at `navigator.gpu`, where tfjs-backend-webgpu looks (Node 20 has no navigator; 21+ has one). */
function installNavigatorGpu(gpu: Gpu): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const existing = g.navigator;
  if (existing !== undefined && existing !== null) {
    try {
      Object.defineProperty(existing, "gpu", { value: gpu, configurable: true, writable: true, enumerable: true });
    } catch {
      // frozen or not extensible: replace the global below
    }
    if (g.navigator?.gpu === gpu) return;
  }
  // A plain object: Node's own Navigator getters refuse a receiver that is not a Navigator.
  const replacement: Record<string, unknown> = { gpu };
  for (const key of ["userAgent", "platform", "language", "languages", "hardwareConcurrency"]) {
    try {
      if (existing && existing[key] !== undefined) replacement[key] = existing[key];
    } catch {
      // unreadable: leave it out
    }
  }
  Object.defineProperty(globalThis, "navigator", { value: replacement, configurable: true, writable: true, enumerable: false });
  if (g.navigator?.gpu !== gpu) throw new Error("navigator.gpu could not be installed (globalThis.navigator is read-only)");
}

/** The WebGPU interfaces (GPUBufferUsage, GPUMapMode, ...) tfjs reads as globals; existing ones are kept. */
function installGlobals(globals: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(globals)) {
    if (key in globalThis) continue;
    Object.defineProperty(globalThis, key, { value, configurable: true, writable: true, enumerable: false });
  }
}

/** Finds a WebGPU adapter through Dawn and installs it for tfjs; the reason when there is none. */
async function probeWebGPU(auto: boolean): Promise<Attempt> {
  const problem = vulkanProblem(auto);
  if (problem !== undefined) return { ok: false, reason: problem, report: true };
  let webgpu: WebGpuPackage;
  try {
    webgpu = (await import("webgpu")) as unknown as WebGpuPackage;
  } catch (error) {
    return { ok: false, reason: `the webgpu package did not load: ${firstLine(error)}`, report: true };
  }
  const options = dawnOptions();
  let adapter: GpuAdapter | null;
  let gpu: Gpu;
  try {
    gpu = webgpu.create(options);
    adapter = await withTimeout(gpu.requestAdapter({ powerPreference: "high-performance" }), ADAPTER_TIMEOUT_MS, "the adapter request");
  } catch (error) {
    return { ok: false, reason: firstLine(error), report: true };
  }
  if (adapter === null || adapter === undefined) return { ok: false, reason: "Dawn's requestAdapter returned null", report: true };
  const info = adapter.info;
  const device = describeAdapter(info, dawnBackend(options));
  if (auto && (info?.isFallbackAdapter || adapter.isFallbackAdapter)) {
    return { ok: false, reason: `only the software adapter ${device}, slower than wasm`, report: true };
  }
  try {
    installGlobals(webgpu.globals);
    installNavigatorGpu(gpu);
  } catch (error) {
    return { ok: false, reason: firstLine(error), report: true };
  }
  webgpuDevice = device;
  return { ok: true };
}

/**
 * tfjs-backend-webgpu reads synchronously (dataSync, arraySync, print) through an OffscreenCanvas,
 * which Node lacks ("OffscreenCanvas is not defined"). Say so, and what to do instead.
 */
function guardSyncReads(): void {
  if ("OffscreenCanvas" in globalThis) return;
  const b = tf.backend() as unknown as {
    readSync(dataId: object): unknown;
    tensorMap?: { get(dataId: object): { values?: unknown; dtype?: string } | undefined };
    __tfbendGuarded?: boolean;
  };
  if (b.__tfbendGuarded) return;
  const readSync = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    const data = b.tensorMap?.get(dataId);
    if (data !== undefined && data.values == null && data.dtype !== "string" && data.dtype !== "complex64") {
      throw new BendingError(
        "synchronous reads (dataSync, arraySync, bufferSync, print) are not available on the webgpu backend " +
        "under Node (tfjs reads them back through OffscreenCanvas): use `await tensor.data()`, or TFBEND_BACKEND=wasm",
      );
    }
    return readSync(dataId);
  };
  b.__tfbendGuarded = true;
}

async function loadWebGPU(auto: boolean): Promise<Attempt> {
  if (tf.findBackendFactory("webgpu") === null) {
    const probe = await probeWebGPU(auto);
    if (!probe.ok) return probe;
    try {
      await import("@tensorflow/tfjs-backend-webgpu");
    } catch (error) {
      return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu did not load: ${firstLine(error)}`, report: true };
    }
    if (tf.findBackendFactory("webgpu") === null) {
      return { ok: false, reason: "@tensorflow/tfjs-backend-webgpu did not register (imported before navigator.gpu existed?)", report: true };
    }
  }
  return activate("webgpu");
}

// --- tensorflow (tfjs-node-gpu / tfjs-node) -------------------------------------------------

function isNotInstalled(error: unknown, pkg: string): boolean {
  const code = (error as { code?: string }).code;
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && firstLine(error).includes(pkg);
}

async function loadTensorflow(): Promise<Attempt> {
  let broken: Failure | undefined;
  if (tf.findBackendFactory("tensorflow") === null) {
    for (const pkg of TENSORFLOW_PACKAGES) {
      try {
        await import(pkg);
      } catch (error) {
        // not installed: try the next; installed but its native library failed: say which
        if (!isNotInstalled(error, pkg)) broken ??= { reason: `${pkg} did not load: ${firstLine(error)}`, report: true };
        continue;
      }
      if (tf.findBackendFactory("tensorflow") !== null) {
        tensorflowDevice = pkg;
        break;
      }
      broken ??= {
        reason: `${pkg} registered with another copy of @tensorflow/tfjs-core (install the version matching tfbend's, 4.22)`,
        report: true,
      };
    }
    if (tf.findBackendFactory("tensorflow") === null) {
      return { ok: false, ...(broken ?? { reason: "neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed", report: false }) };
    }
  }
  return activate("tensorflow");
}

// --- selection ---------------------------------------------------------------------------

const PROCESS_ERROR_EVENTS = ["uncaughtException", "unhandledRejection"] as const;

/**
 * The wasm backend's Emscripten glue adds uncaughtException/unhandledRejection handlers
 * that rethrow, so Node reports any later error at a 30 KB line of minified glue and
 * prints it. Returns a function that removes every such handler added since the call.
 */
function snapshotProcessHandlers(): () => void {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(PROCESS_ERROR_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  return () => {
    for (const event of PROCESS_ERROR_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  };
}

/**
 * tf.setBackend, with tfjs's own failure logging (two console.warn calls, one a stack trace)
 * turned into a reason. Warnings of a backend that does start are passed on.
 */
async function activate(name: BackendName): Promise<Attempt> {
  const warnings: unknown[][] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args);
  let ok = false;
  let thrown: unknown;
  const restoreProcessHandlers = snapshotProcessHandlers();
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    thrown = error;
  } finally {
    console.warn = warn;
    restoreProcessHandlers();
  }
  if (ok) {
    for (const args of warnings) warn(...args);
    if (name === "webgpu") guardSyncReads();
    return { ok: true };
  }
  const detail = thrown ?? warnings.map((w) => w.map(String).join(" ")).find((w) => !/^Initialization of backend/.test(w));
  return { ok: false, reason: detail === undefined ? `tfjs could not initialise it` : firstLine(detail), report: true };
}

/** wasm threads asked for by TFBEND_THREADS (a positive integer), or the default. */
export function requestedWasmThreads(): number {
  const text = process.env.TFBEND_THREADS;
  if (text === undefined || text.trim() === "") return DEFAULT_WASM_THREADS;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new BendingError(`TFBEND_THREADS must be a positive integer, got '${text}'`);
  return n;
}

/** The wasm backend with the requested threads: the threaded loader for more than one. */
async function loadWasm(): Promise<Attempt> {
  const threads = requestedWasmThreads();
  const running = wasmThreadsInstalled() ?? (tf.findBackend("wasm") === null ? undefined : 1);
  if (running !== undefined && running !== threads) {
    return { ok: false, reason: `the wasm backend already runs ${running} thread(s); threads are chosen once, before it starts`, report: true };
  }
  if (threads === 1 || running !== undefined) return activate("wasm");
  const singleThreaded = tf.findBackendFactory("wasm");
  installThreadedWasm(threads);
  const result = await activate("wasm");
  if (result.ok || singleThreaded === null) return result;
  // the threaded binary did not start here: say why once, and run single-threaded
  console.error(`tfbend: ${threads} wasm threads not available (${result.reason}); using 1`);
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", singleThreaded, 2);
  return activate("wasm");
}

async function attempt(name: BackendName, auto: boolean): Promise<Attempt> {
  if (name === "tensorflow") return loadTensorflow();
  if (name === "webgpu") return loadWebGPU(auto);
  if (name === "wasm" && tf.findBackendFactory(name) !== null) return loadWasm();
  if (tf.findBackendFactory(name) === null) return { ok: false, reason: "not registered", report: true };
  return activate(name);
}

function note(name: BackendName, failure: Failure): string {
  return name === "webgpu" ? `no WebGPU adapter (${failure.reason})` : `${name} backend not used (${failure.reason})`;
}

/** Selects `name`, or the fastest available backend; returns the one in use. */
export async function setBackend(name?: string): Promise<string> {
  if (name !== undefined && name !== "") {
    if (!(BACKEND_ORDER as readonly string[]).includes(name)) {
      throw new BendingError(`unknown backend '${name}' (choose one of ${BACKEND_ORDER.join(", ")})`);
    }
    const result = await attempt(name as BackendName, false);
    if (!result.ok) {
      const why = name === "webgpu" ? note("webgpu", result) : result.reason;
      throw new BendingError(`backend '${name}' could not be loaded on this machine: ${why}`);
    }
    return tf.getBackend();
  }
  const notes: string[] = [];
  for (const candidate of BACKEND_ORDER) {
    const result = await attempt(candidate, true);
    if (result.ok) {
      // one line per GPU backend that was expected and is not there, never a stack trace
      for (const line of notes) console.error(`tfbend: ${line}; using ${candidate}`);
      return tf.getBackend();
    }
    if (result.report) notes.push(note(candidate, result));
  }
  throw new BendingError(`no tfjs backend could be loaded (${notes.join("; ")})`);
}

/** The backend in use ("wasm", "cpu", "tensorflow", "webgpu"). */
export function backend(): string {
  return tf.getBackend();
}

function wasmThreads(): number | undefined {
  const b = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } };
  try {
    return b.wasm?.tfjs?.getThreadsCount?.();
  } catch {
    return undefined;
  }
}

function wasmDevice(): string {
  const flag = (key: string): boolean | undefined => {
    try {
      return tf.env().getBool(key);
    } catch {
      return undefined; // not evaluated yet
    }
  };
  const simd = flag("WASM_HAS_SIMD_SUPPORT");
  const threads = wasmThreads();
  return `CPU (WebAssembly, SIMD ${simd === undefined ? "unknown" : simd ? "on" : "off"}, threads ${threads ?? "unknown"})`;
}

/** The backend in use and its device: the GPU adapter, the TensorFlow device, or the CPU flavour. */
export function backendInfo(): BackendInfo {
  const info = nativeInfo();
  const native = info.available ? `onnxruntime ${info.onnxruntime} (${info.executionProvider})` : `unavailable: ${info.reason}`;
  return { ...tfjsBackendInfo(), native };
}

function tfjsBackendInfo(): Omit<BackendInfo, "native"> {
  const name = tf.getBackend();
  switch (name) {
    case "webgpu":
      return { name, device: `GPU ${webgpuDevice ?? "(WebGPU)"}` };
    case "wasm": {
      const threads = wasmThreads();
      return threads === undefined ? { name, device: wasmDevice() } : { name, device: wasmDevice(), threads };
    }
    case "cpu":
      return { name, device: "CPU (JavaScript)", threads: 1 };
    case "tensorflow": {
      const b = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
      const where = b.isUsingGpuDevice ? "GPU (TensorFlow, CUDA)" : "CPU (TensorFlow native)";
      return { name, device: `${where}, ${tensorflowDevice ?? "tfjs-node"}` };
    }
    default:
      return { name, device: "unknown" };
  }
}

/** Initialises the backend from TFBEND_BACKEND or automatically. */
export async function ready(): Promise<string> {
  return setBackend(process.env.TFBEND_BACKEND);
}
