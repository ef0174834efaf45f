// The plugin's side of the inference thread: sends commands to the worker hosting the
// Session and gets replies, output blocks and status back. Every transport holds one
// Engine and only translates its messages into Engine.execute(atoms).
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { announces, type Atom, type OutputBlock, type Reply } from "../protocol/index.js";
import type { SessionOptions } from "./session.js";
import { ControlMirror, type ControlState } from "./control-mirror.js";
import type { AudioChunk } from "./audio-input.js";

export interface EngineOptions extends SessionOptions {
  /** Model to load at start (a name in models/ or a workspace path). */
  model?: string;
}

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
  | { block: OutputBlock }
  | { event: Reply }
);

export class Engine {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly blockListeners = new Set<(block: OutputBlock) => void>();
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

  private constructor(private readonly options: EngineOptions, private readonly startThread: StartThread) {
    this.ready = this.spawn(options);
  }

  /**
   * Starts an inference thread. If it dies (a crash in a native kernel, out of memory),
   * pending commands get an error and a new thread loads the same model: the plugin
   * keeps serving instead of hanging.
   */
  private spawn(options: EngineOptions): Promise<Reply | null> {
    const worker = this.startThread(options);
    this.worker = worker;
    let booted = false;
    const ready = new Promise<Reply | null>((resolveReady, rejectReady) => {
      worker.once("error", rejectReady);
      worker.on("message", (message: FromWorker) => {
        // A new thread starts a new picture; later messages carry only what changed.
        if ("ready" in message) {
          this.lastStatus = { ...message.status };
          this.mirror.clear();
          this.setsInFlight.clear();
        } else Object.assign(this.lastStatus, message.status);
        if (message.controls) this.mirror.replace(message.controls);
        if ("ready" in message) {
          booted = true;
          resolveReady(message.boot);
        }
        else if ("block" in message) for (const l of this.blockListeners) l(message.block);
        else if ("event" in message) for (const l of this.changeListeners) l(message.event);
        else {
          this.pending.get(message.id)?.(message.reply);
          this.pending.delete(message.id);
          // A quiet reply (a `set` answered from the mirror) was announced already.
          if (!message.quiet && message.reply.ok && announces(message.reply.command)) for (const l of this.changeListeners) l(message.reply);
        }
      });
    });
    worker.on("error", (e) => console.error(`tfbend: inference thread failed: ${e.message}`));
    worker.on("exit", (code) => {
      if (this.closed || worker !== this.worker) return;
      this.mirror.clear();
      this.setsInFlight.clear();
      for (const resolvePending of this.pending.values()) {
        resolvePending({ command: "?", ok: false, values: [`inference thread stopped (exit ${code})`] });
      }
      this.pending.clear();
      // A thread that never booted, or one that keeps dying, is not restarted in a loop.
      const now = Date.now();
      this.recentRestarts = this.recentRestarts.filter((t) => now - t < 60_000);
      if (!booted || this.recentRestarts.length >= MAX_RESTARTS_PER_MINUTE) {
        console.error(`tfbend: inference thread stopped (exit ${code}); not restarting it (${booted ? "too many restarts" : "it failed to start"})`);
        this.closed = true;
        return;
      }
      this.recentRestarts.push(now);
      this.restarts++;
      const model = typeof this.lastStatus.model === "string" && this.lastStatus.model !== "none" ? this.lastStatus.model : this.options.model;
      console.error(`tfbend: inference thread stopped (exit ${code}); restarting with model ${model ?? "none"}`);
      const delay = 250 * 2 ** (this.recentRestarts.length - 1);
      // Commands sent meanwhile wait for the new thread instead of going to the dead one.
      this.restarting = new Promise<void>((resolveRestart) => {
        setTimeout(() => {
          if (this.closed) return resolveRestart();
          this.spawn({ ...this.options, model })
            .catch((e) => console.error(`tfbend: restart failed: ${(e as Error).message}`))
            .finally(() => {
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
   * Runs one command. `status` is answered here from the last report of the inference
   * thread, so it never waits for a block to finish.
   */
  execute(atoms: Atom[]): Promise<Reply> {
    if (this.closed) return Promise.resolve({ command: String(atoms[0] ?? "?"), ok: false, values: ["inference thread stopped; restart the plugin"] });
    if (atoms.length === 1 && atoms[0] === "status" && Object.keys(this.lastStatus).length > 0) {
      const listed = Object.entries(this.limits).map(([name, value]): [string, Atom] => [name, value === Infinity ? "none" : value]);
      const limits = Object.fromEntries(listed.map(([name, value]) => [`limit_${name}`, value]));
      const values = Object.entries({ ...this.lastStatus, ...limits }).flat();
      return Promise.resolve({ command: "status", ok: true, values, dict: { ...this.lastStatus, ...limits, limits: Object.fromEntries(listed) } });
    }
    const fast = this.restarting ? null : this.mirror.answer(atoms);
    if (fast) {
      if (fast.apply) this.applySet(atoms);
      if (fast.reply.ok && announces(fast.reply.command)) for (const l of this.changeListeners) l(fast.reply);
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
        this.worker.postMessage({ id, atoms });
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
    this.worker.postMessage({ close: true });
    await this.worker.terminate();
  }
}
