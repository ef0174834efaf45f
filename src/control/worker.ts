// The inference thread: hosts the Session so that computing a block never blocks the
// thread that talks to the patch. Commands arrive as atoms; replies, blocks and stats
// go back as messages (block data transferred, not copied).
import { parentPort, workerData } from "node:worker_threads";
import { getHeapStatistics } from "node:v8";
// The whole library: selects the backend and registers every architecture and callback.
import "../index.js";
import { Session, type SessionOptions } from "./session.js";
import { BlockFirstQueue } from "./block-first-queue.js";
import type { Atom } from "../protocol/atoms.js";
import type { ControlState } from "./control-mirror.js";
import type { AudioChunk } from "./audio-input.js";
import { BendingConfig } from "../bending/config.js";
import { tf } from "../tf.js";
import type { RestoreState, StoredVersion } from "./engine.js";
import { DEFAULT_VERSION } from "../bended/versions.js";

/** How often the thread says it is alive (the engine's watchdog restarts one that stops). */
const HEARTBEAT_MS = 250;

/** `quiet`: a `set` the main thread answered already (see ControlMirror). */
/** `data`: samples a command takes with it (an OSC blob for `buffer`/`tensor`; see attributes.ts). */
export type ToWorker = { id: number; atoms: Atom[]; quiet?: true; data?: Float32Array } | { id: number; audio: AudioChunk } | { close: true };

if (parentPort) {
  /** The wasm backend's linear memory (it grows and never shrinks), 0 on another backend. */
  const wasmHeapMb = (): number => {
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
    return heap ? Number((heap.byteLength / 2 ** 20).toFixed(1)) : 0;
  };
  const port = parentPort;
  const options = workerData as SessionOptions & { model?: string; restore?: RestoreState };
  const session = new Session(options);
  // Each message carries only the status fields that changed since the last one
  // (usually blocks, rtf and nothing else): the main thread keeps the whole picture.
  let sent: Record<string, Atom> = {};
  const statusDelta = (): Record<string, Atom> => {
    // tensor_mb: what the thread's tensors hold; the engine compares it with the process's RSS (memory returns).
    // heap_mb: the thread's own JavaScript heap (a slow leak shows here or in tensor_mb, or in neither: native memory).
    const now: Record<string, Atom> = {
      ...session.status(),
      tensor_mb: Number((tf.memory().numBytes / 2 ** 20).toFixed(1)),
      heap_mb: Number((getHeapStatistics().used_heap_size / 2 ** 20).toFixed(1)),
      wasm_mb: wasmHeapMb(),
    };
    const delta: Record<string, Atom> = {};
    for (const [key, value] of Object.entries(now)) if (sent[key] !== value) delta[key] = value;
    sent = now;
    return delta;
  };
  // The controls go to the main thread (which answers get/set from them) when they change.
  let sentControls = "";
  const controlsDelta = (): { controls?: ControlState[] } => {
    const attributes = new Set(session.bended ? session.attributeNames() : []);
    const controls: ControlState[] = (session.bended?.controls() ?? []).map((c) => ({
      name: c.name, value: c.value, range: c.range, clamp: c.clamp, derived: c.sources()[0] !== c || attributes.has(c.name),
    }));
    const signature = JSON.stringify(controls);
    if (signature === sentControls) return {};
    sentControls = signature;
    return { controls };
  };
  const changes = () => ({ status: statusDelta(), ...controlsDelta() });
  // What a restarted thread needs to put back (the method, versions and bendings), sent when it changed after a command.
  let sentRestore = "";
  // Per stored version, the id of its first tensor when its weights were sent (a version written again gets new tensors).
  let sentVersions = new Map<string, number>();
  // `command`: the command just run; only `write` (or a change of the names) can give a version new weights.
  const restoreDelta = (command?: Atom): { restore?: RestoreState; versionWeights?: StoredVersion[] } => {
    const bended = session.bended;
    const versions = bended ? bended.versionNames().filter((name) => name !== DEFAULT_VERSION) : [];
    const restore: RestoreState = {
      method: session.method,
      config: bended ? JSON.stringify(bended.bendingConfig().toJSON()) : null,
      versions,
      version: bended?.version,
      interpolation: bended?.interpolationWeights ?? null,
    };
    const versionWeights: StoredVersion[] = [];
    const namesChanged = versions.length !== sentVersions.size || versions.some((name) => !sentVersions.has(name));
    const now = new Map<string, number>();
    for (const name of command === undefined || command === "write" || namesChanged ? versions : []) {
      const state = Object.entries(bended!.versionStateDict(name));
      const id = state[0]?.[1].id ?? -1;
      now.set(name, id);
      if (sentVersions.get(name) === id) continue;
      // Copied out once per write: the engine keeps them (as many as --max-versions) for a restart.
      const weights: StoredVersion["weights"] = {};
      for (const [key, t] of state) weights[key] = { shape: [...t.shape], dtype: t.dtype as "float32" | "int32" | "bool", data: t.dataSync() as Float32Array | Int32Array | Uint8Array };
      versionWeights.push({ name, weights });
    }
    if (command === undefined || command === "write" || namesChanged) sentVersions = now;
    const signature = JSON.stringify(restore);
    if (signature === sentRestore && versionWeights.length === 0) return {};
    sentRestore = signature;
    return { restore, ...(versionWeights.length ? { versionWeights } : {}) };
  };
  setInterval(() => port.postMessage({ alive: true, status: {} }), HEARTBEAT_MS).unref();
  session.onBlock((block, releaseAt) => {
    port.postMessage({ block, ...(releaseAt !== undefined ? { releaseAt } : {}), ...changes() }, [block.data.buffer as ArrayBuffer]);
  });
  session.onError((reply) => port.postMessage({ event: reply, ...changes() }));
  session.onNotice((reply) => port.postMessage({ event: reply, ...changes() }));
  const boot = options.model ? session.execute(["load", options.model]).then((reply) => (reply.ok && options.restore ? restore(options.restore).then(() => reply) : reply)) : Promise.resolve(null);
  /** Puts back what the thread before this one had: method, versions, bendings, control values, stream. */
  async function restore(state: RestoreState): Promise<void> {
    try {
      if (state.method !== session.method) await session.execute(["method", state.method]);
      const model = session.requireModel();
      for (const stored of state.storedVersions ?? []) {
        const tensors = Object.fromEntries(Object.entries(stored.weights).map(([key, w]) => [key, tf.tensor(w.data, w.shape, w.dtype)]));
        try {
          model.createVersion(stored.name, tensors); // stores copies
        } finally {
          for (const t of Object.values(tensors)) t.dispose();
        }
      }
      if (state.interpolation) model.interpolate(state.interpolation);
      else if (state.version !== undefined) model.version = state.version;
      if (state.config) model.setConfig(BendingConfig.fromJSON(JSON.parse(state.config), model));
      const known = new Set(model.controls().map((c) => c.name));
      for (const control of state.controls ?? []) if (!control.derived && known.has(control.name)) model.update(control.name, control.value);
      if (state.streaming) await session.execute(["stream", "start"]);
    } catch (e) {
      console.error(`tfbend: restoring the model's state after a restart failed: ${(e as Error).message}`);
    }
  }
  boot.then((reply) => port.postMessage({ ready: true, boot: reply, ...changes(), ...restoreDelta() }));
  const queue = new BlockFirstQueue<Exclude<ToWorker, { close: true }>>({
    msUntilNextBlock: () => session.msUntilNextBlock(),
    blockMs: () => session.blockMs,
    urgent: (message) => "audio" in message,
    ready: boot,
    run: async (message) => {
      if ("audio" in message) {
        // Audio arrives often: its replies carry no status (blocks and commands bring it).
        port.postMessage({ id: message.id, reply: session.receiveAudio(message.audio), status: {} });
        return;
      }
      if (!message.quiet) port.postMessage({ started: message.id, status: {} });
      const reply = await session.execute(message.atoms, message.data);
      port.postMessage({ id: message.id, reply, ...(message.quiet ? { quiet: true } : {}), ...changes(), ...(message.quiet ? {} : restoreDelta(message.atoms[0])) });
    },
  });
  session.onBlock(() => queue.blockDone());
  port.on("message", (message: ToWorker) => {
    if ("close" in message) {
      queue.close();
      session.dispose();
      port.close();
      return;
    }
    // Anything else is not for the session (a host wrapping this thread may listen too).
    if ("id" in message && ("atoms" in message || "audio" in message)) queue.push(message);
  });
}
