// The plugin's side of the inference thread: sends commands to the worker hosting the
// Session and gets replies, output blocks and status back. Every transport holds one
// Engine and only translates its messages into Engine.execute(atoms).
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { replyAnnounces, type Atom, type OutputBlock, type Reply } from "../protocol/index.js";
import type { SessionOptions } from "./session.js";
import { ControlMirror, type ControlState } from "./control-mirror.js";
import { BlockRelease } from "./block-release.js";
import type { AudioChunk } from "./audio-input.js";

export interface EngineOptions extends SessionOptions {
  /** Model to load at start (a name in models/ or a workspace path). */
  model?: string;
  /** What a restarted thread puts back after loading `model` (set by the engine, not by callers). */
  restore?: RestoreState;
  /**
   * The inference thread silent this long (no block, reply or heartbeat) outside a
   * command is restarted (ms; default the larger of 3 s and 8 block periods).
   */
  watchdogMs?: number;
  /** The same inside a command (a load, a render): default 60 s. */
  commandWatchdogMs?: number;
}

/** The state of the model a restarted inference thread puts back: its method, bendings (a config's JSON), controls and stream. */
export interface RestoreState {
  method: string;
  config: string | null;
  /** Stored versions (not `_default`), the version in use and the interpolation in effect. */
  versions?: string[];
  version?: string;
  interpolation?: Record<string, number> | null;
  controls?: ControlState[];
  streaming?: boolean;
  /** The weights of `versions` (set by the engine from what the thread sent when each was written). */
  storedVersions?: StoredVersion[];
}

/** A stored version's weights as plain arrays, so that a new inference thread can store it again. */
export interface StoredVersion {
  name: string;
  weights: Record<string, { shape: number[]; dtype: "float32" | "int32" | "bool"; data: Float32Array | Int32Array | Uint8Array }>;
}

/** Errors after which the inference thread cannot be trusted (its wasm memory or heap is broken): it is restarted. */
const FATAL_ERRORS = /memory access out of bounds|out of memory|Array buffer allocation failed|WebAssembly\.Memory/i;
const WATCHDOG_TICK_MS = 250;
/**
 * Memory returns: wasm memory never shrinks, so when a load leaves the thread with tensors far
 * smaller than it once held (a larger model gone) and a wasm heap far larger than they need, the
 * next quiet moment starts a fresh thread with the model (its state put back). "Far" is over
 * twice and 64 MB more. The process's RSS against its RSS at boot was the measure before: a
 * stream's own growth after boot (compiles, the JavaScript heaps) crossed it at a model switch
 * between two small models and restarted the thread for nothing (an 890 ms gap in the switch soak).
 */
const leftOver = (heldMb: number, neededMb: number): boolean => heldMb > 2 * neededMb + 64;
const rssMb = (): number => process.memoryUsage.rss() / 2 ** 20;

/** Starts the thread that hosts the session, with `workerData` (the shipped worker unless a test wraps it). */
export type StartThread = (workerData: EngineOptions) => Worker;

/** The shipped inference thread (worker.ts). */
export const startWorker: StartThread = (workerData) => new Worker(fileURLToPath(new URL("./worker.js", import.meta.url)), { workerData });

/** More deaths than this in a minute: the engine stops restarting and reports errors. */
const MAX_RESTARTS_PER_MINUTE = 5;

/** `status`: the fields of the session's status that changed since the thread's last message. */
/** `controls`: the live controls, present only when they changed. */
type FromWorker = { status: Record<string, Atom>; controls?: ControlState[] } & (
  | { ready: true; boot: Reply | null }
  | { id: number; reply: Reply; quiet?: true }
  | { block: OutputBlock; releaseAt?: number }
  | { event: Reply }
  | { started: number }
  | { alive: true }
) & { restore?: RestoreState; versionWeights?: StoredVersion[] };

export class Engine {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly blockListeners = new Set<(block: OutputBlock) => void>();
  /** Blocks rendered ahead (during a load) wait here until they are due. */
  private readonly release = new BlockRelease((block) => {
    for (const l of this.blockListeners) l(block);
  });
  private readonly changeListeners = new Set<(reply: Reply) => void>();
  private lastStatus: Record<string, Atom> = {};
  /** Controls as the inference thread last reported them: `get`/`set` are answered from here. */
  private readonly mirror = new ControlMirror();
  /** Per control, the mirror-answered `set` on its way to the inference thread and the latest one waiting. */
  private readonly setsInFlight = new Map<string, { next: Atom[] | null }>();
  private closed = false;
  /** What clients may grow, as the transports declared it (listed in `status`). */
  private readonly limits: Record<string, number> = {};
  /** Times the inference thread died and was started again. */
  restarts = 0;
  private recentRestarts: number[] = [];
  private restarting: Promise<void> | null = null;
  readonly ready: Promise<Reply | null>;
  /** When the inference thread was last heard from (performance.now() ms). */
  private heardAt = performance.now();
  /** The command the inference thread is running (its watchdog is longer), or null. */
  private running: number | null = null;
  /** The method and bendings the inference thread last reported, for a restart. */
  private restoreState: RestoreState | null = null;
  /** The weights of the stored versions the thread reported (as many as --max-versions allows), for a restart. */
  private readonly versionWeights = new Map<string, StoredVersion>();
  /** Why the thread is being restarted (the watchdog, a fatal error), for the event clients get. */
  private recovering: string | null = null;
  private readonly watchdog: NodeJS.Timeout;
  /** The most the current thread's tensors have held (MB): a model larger than the one loaded now was there. */
  private peakTensorMb = 0;
  /** A load left memory the thread cannot give back: a fresh thread takes over when no command is pending. */
  private freshThreadWanted = false;
  /** The thread is being replaced on purpose (memory returns), not after a failure. */
  private planned = false;
  /** True while a thread is starting (loading its model): the watchdog waits for it. */
  private booting = true;

  private constructor(private readonly options: EngineOptions, private readonly startThread: StartThread) {
    this.ready = this.spawn(options);
    this.watchdog = setInterval(() => this.checkAlive(), WATCHDOG_TICK_MS);
    this.watchdog.unref();
  }

  /** Restarts a thread that has been silent past its watchdog (a method that hangs). */
  private checkAlive(): void {
    if (this.closed || this.restarting || this.recovering || this.booting) return;
    const silent = performance.now() - this.heardAt;
    const blockMs = Number(this.lastStatus.latency_ms ?? 0);
    const limit = this.running !== null ? (this.options.commandWatchdogMs ?? 60_000) : (this.options.watchdogMs ?? Math.max(3000, 8 * blockMs));
    if (silent > limit) this.recover(`the inference thread did not answer for ${Math.round(silent)} ms`);
  }

  /** After a load: a fresh thread is wanted when a larger model's memory is left over in its wasm heap. */
  private checkMemory(): void {
    const tensors = Number(this.lastStatus.tensor_mb ?? 0);
    if (leftOver(this.peakTensorMb, tensors) && leftOver(Number(this.lastStatus.wasm_mb ?? 0), tensors)) this.freshThreadWanted = true;
  }

  /** Ends a thread that cannot be trusted; the exit handler starts a new one with the model's state. */
  private recover(reason: string): void {
    if (this.closed || this.recovering) return;
    this.recovering = reason;
    console.error(`tfbend: ${reason}; restarting the inference thread`);
    void this.worker.terminate();
  }

  /**
   * Starts an inference thread. If it dies (a crash in a native kernel, out of memory),
   * pending commands get an error and a new thread loads the same model: the plugin
   * keeps serving instead of hanging.
   */
  private spawn(options: EngineOptions): Promise<Reply | null> {
    const worker = this.startThread(options);
    this.worker = worker;
    this.booting = true;
    let booted = false;
    const ready = new Promise<Reply | null>((resolveReady, rejectReady) => {
      worker.once("error", rejectReady);
      worker.on("message", (message: FromWorker) => {
        if (worker !== this.worker) return;
        this.heardAt = performance.now();
        for (const stored of message.versionWeights ?? []) this.versionWeights.set(stored.name, stored);
        if (message.restore) {
          this.restoreState = message.restore;
          const kept = new Set(message.restore.versions ?? []);
          for (const name of [...this.versionWeights.keys()]) if (!kept.has(name)) this.versionWeights.delete(name);
        }
        if ("started" in message) {
          this.running = message.started;
          return;
        }
        if ("alive" in message) return;
        // A new thread starts a new picture; later messages carry only what changed.
        if ("ready" in message) {
          this.lastStatus = { ...message.status };
          this.mirror.clear();
          this.setsInFlight.clear();
          this.peakTensorMb = 0;
        } else Object.assign(this.lastStatus, message.status);
        this.peakTensorMb = Math.max(this.peakTensorMb, Number(this.lastStatus.tensor_mb ?? 0));
        if (message.controls) this.mirror.replace(message.controls);
        if ("ready" in message) {
          booted = true;
          this.booting = false;
          this.heardAt = performance.now();
          resolveReady(message.boot);
        }
        else if ("block" in message) this.release.push(message.block, message.releaseAt);
        else if ("event" in message) {
          for (const l of this.changeListeners) l(message.event);
          if (!message.event.ok && FATAL_ERRORS.test(String(message.event.values[0]))) this.recover(`the inference thread failed: ${message.event.values[0]}`);
        } else {
          if (this.running === message.id) this.running = null;
          if (!message.reply.ok && FATAL_ERRORS.test(String(message.reply.values[0]))) this.recover(`the inference thread failed: ${message.reply.values[0]}`);
          this.pending.get(message.id)?.(message.reply);
          this.pending.delete(message.id);
          if (message.reply.command === "load" && message.reply.ok) this.checkMemory();
          if (this.freshThreadWanted && this.pending.size === 0) {
            this.freshThreadWanted = false;
            this.planned = true;
            this.recover("the memory of a model no longer loaded returns to the system");
          }
          // A quiet reply (a `set` answered from the mirror) was announced already.
          if (!message.quiet && replyAnnounces(message.reply)) for (const l of this.changeListeners) l(message.reply);
        }
      });
    });
    worker.on("error", (e) => console.error(`tfbend: inference thread failed: ${e.message}`));
    worker.on("exit", (code) => {
      if (this.closed || worker !== this.worker) return;
      const planned = this.planned;
      this.planned = false;
      // What the new thread puts back: the method and bendings reported last, the live controls, the stream.
      const restore: RestoreState | undefined = this.restoreState
        ? {
          ...this.restoreState,
          controls: this.mirror.states(),
          streaming: this.lastStatus.streaming === 1,
          storedVersions: (this.restoreState.versions ?? []).flatMap((name) => this.versionWeights.get(name) ?? []),
        }
        : undefined;
      const reason = this.recovering;
      this.running = null;
      this.mirror.clear();
      this.setsInFlight.clear();
      for (const resolvePending of this.pending.values()) {
        resolvePending({ command: "?", ok: false, values: [`inference thread stopped (exit ${code})`] });
      }
      this.pending.clear();
      // A thread that never booted, or one that keeps dying, is not restarted in a loop.
      const now = Date.now();
      this.recentRestarts = this.recentRestarts.filter((t) => now - t < 60_000);
      if (!planned && (!booted || this.recentRestarts.length >= MAX_RESTARTS_PER_MINUTE)) {
        console.error(`tfbend: inference thread stopped (exit ${code}); not restarting it (${booted ? "too many restarts" : "it failed to start"})`);
        this.closed = true;
        return;
      }
      if (!planned) {
        this.recentRestarts.push(now);
        this.restarts++;
      }
      const lastModel = typeof this.lastStatus.model === "string" && this.lastStatus.model !== "none" ? this.lastStatus.model : null;
      const model = lastModel ?? this.options.model;
      console.error(`tfbend: inference thread stopped (exit ${code}); restarting with model ${model ?? "none"}`);
      const delay = planned ? 0 : 250 * 2 ** (this.recentRestarts.length - 1);
      // Commands sent meanwhile wait for the new thread instead of going to the dead one.
      this.restarting = new Promise<void>((resolveRestart) => {
        setTimeout(() => {
          if (this.closed) return resolveRestart();
          this.spawn({ ...this.options, model, restore: lastModel ? restore : undefined })
            .then((boot) => {
              const restored = boot?.ok ? `model ${model} restored with its method, versions, bendings and controls${restore?.streaming ? ", streaming" : ""}` : `model ${model ?? "none"} could not be loaded again`;
              const event: Reply = { command: "engine", ok: planned && boot?.ok === true, values: [`inference thread restarted (${reason ?? `it stopped, exit ${code}`}); ${restored}`] };
              for (const l of this.changeListeners) l(event);
            })
            .catch((e) => console.error(`tfbend: restart failed: ${(e as Error).message}`))
            .finally(() => {
              this.recovering = null;
              this.heardAt = performance.now();
              this.restarting = null;
              resolveRestart();
            });
        }, delay);
      });
    });
    return ready;
  }

  /** Starts the inference thread (and loads `options.model`). */
  static async start(options: EngineOptions, startThread: StartThread = startWorker): Promise<Engine> {
    const engine = new Engine(options, startThread);
    await engine.ready;
    return engine;
  }

  /**
   * Runs one command, with the samples `data` for a command that takes them (`buffer`,
   * `tensor`). `status` is answered here from the last report of the inference thread, so
   * it never waits for a block to finish.
   */
  execute(atoms: Atom[], data?: Float32Array): Promise<Reply> {
    if (this.closed) return Promise.resolve({ command: String(atoms[0] ?? "?"), ok: false, values: ["inference thread stopped; restart the plugin"] });
    if (atoms.length === 1 && atoms[0] === "status" && Object.keys(this.lastStatus).length > 0) {
      const listed = Object.entries(this.limits).map(([name, value]): [string, Atom] => [name, value === Infinity ? "none" : value]);
      const limits = Object.fromEntries(listed.map(([name, value]) => [`limit_${name}`, value]));
      // the whole process's resident memory, read now (a patch or the soak watches it for a slow leak)
      const memory = { rss_mb: Number(rssMb().toFixed(1)) };
      const values = Object.entries({ ...this.lastStatus, ...memory, ...limits }).flat();
      return Promise.resolve({ command: "status", ok: true, values, dict: { ...this.lastStatus, ...memory, ...limits, limits: Object.fromEntries(listed) } });
    }
    const fast = this.restarting || data !== undefined ? null : this.mirror.answer(atoms);
    if (fast) {
      if (fast.apply) this.applySet(atoms);
      if (replyAnnounces(fast.reply)) for (const l of this.changeListeners) l(fast.reply);
      return Promise.resolve(fast.reply);
    }
    const id = this.nextId++;
    const send = () =>
      new Promise<Reply>((resolveReply) => {
        if (this.closed) return resolveReply({ command: String(atoms[0] ?? "?"), ok: false, values: ["inference thread stopped; restart the plugin"] });
        const settled = this.mirror.forwarded(atoms);
        this.pending.set(id, (reply) => {
          settled();
          resolveReply(reply);
        });
        // samples that come with the command are transferred, not copied
        if (data === undefined) this.worker.postMessage({ id, atoms });
        else this.worker.postMessage({ id, atoms, data }, [data.buffer as ArrayBuffer]);
      });
    return this.restarting ? this.restarting.then(send) : send();
  }

  /**
   * A `set` already answered from the mirror: the inference thread applies it, in order.
   * Sets of one control coalesce: while one is on its way, only the latest value waits
   * to follow it (the next block only ever uses the latest), so a flood of sets costs the
   * inference thread one set per control per round trip.
   */
  private applySet(atoms: Atom[]): void {
    const name = String(atoms[1]);
    const flight = this.setsInFlight.get(name);
    if (flight) {
      if (flight.next) this.mirror.applied(name); // superseded: never reaches the inference thread
      flight.next = atoms;
      return;
    }
    const current = { next: null as Atom[] | null };
    this.setsInFlight.set(name, current);
    const id = this.nextId++;
    this.pending.set(id, (reply) => {
      this.mirror.applied(name);
      // Refused after all (the control went away meanwhile): every client hears it.
      if (!reply.ok) for (const l of this.changeListeners) l(reply);
      if (this.setsInFlight.get(name) !== current) return; // the thread restarted meanwhile
      this.setsInFlight.delete(name);
      if (current.next) this.applySet(current.next);
    });
    this.worker.postMessage({ id, atoms, quiet: true });
  }

  /**
   * Hands live audio to the running method (its buffer is transferred, not copied). The
   * reply is an error when the chunk was refused; audio is never queued behind a restart.
   */
  pushAudio(chunk: AudioChunk): Promise<Reply> {
    if (this.closed || this.restarting) {
      return Promise.resolve({ command: "audio_in", ok: false, values: [this.closed ? "inference thread stopped; restart the plugin" : "inference thread restarting"] });
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolveReply) => {
      this.pending.set(id, resolveReply);
      this.worker.postMessage({ id, audio: chunk }, [chunk.data.buffer as ArrayBuffer]);
    });
  }

  status(): Record<string, Atom> {
    return { ...this.lastStatus };
  }

  /** A transport's limits on what its clients may grow (see transports/limits.ts): `status` lists them as limit_<name>. */
  declareLimits(limits: Record<string, number | undefined>): void {
    for (const [name, value] of Object.entries(limits)) if (value !== undefined) this.limits[name] = value;
  }

  onBlock(listener: (block: OutputBlock) => void): () => void {
    this.blockListeners.add(listener);
    return () => this.blockListeners.delete(listener);
  }

  /**
   * Successful state-changing commands, from any transport (keeps every client in sync),
   * and errors nobody asked for (ok false: the stream stopped).
   */
  onChange(listener: (reply: Reply) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    this.release.clear();
    this.worker.postMessage({ close: true });
    await this.worker.terminate();
  }
}
