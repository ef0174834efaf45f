// What computes the stream's blocks: tfjs (wasm, or whichever tfjs backend runs) calling the
// model as every pass does, or the native engine (src/native: the bent method compiled to
// ONNX, run on ONNX Runtime's CPU kernels). The renderer asks the engine for one block at a
// time (`begin`); the native engine recompiles in the background when the bending structure,
// the version or the weights change, keeps the old session playing meanwhile, and hands the
// renderer the old session at the block where the new one takes over, to crossfade from it.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import type { BendedModule } from "../bended/bended-module.js";
import { streamingState } from "../nn/streaming-state.js";
import { NativeMethodCache, nativeAvailable, nativeUnavailableReason, type BetweenSteps, type CompiledMethod } from "../native/index.js";

export const ENGINE_CHOICES = ["auto", "native", "wasm"] as const;
/** `auto`: native where ONNX Runtime loads, wasm otherwise. */
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** The engine one method runs on, and why not native when it falls back. */
export interface MethodEngine {
  engine: "native" | "wasm" | "compiling";
  reason?: string;
  /** Milliseconds the compile of the session in use took (trace, lowering, ONNX Runtime's load). */
  compileMs?: number;
  /** Compiled sessions that took over for the method since the model was loaded (recompiles show here). */
  compiles?: number;
}

/** One block's computation, from `BlockEngine.begin`. */
export interface BlockStep {
  /** Whether this block runs on tfjs (the module itself), not on a compiled session. */
  readonly onTfjs: boolean;
  /** The block under the session in use now (synchronous, so that a crossfade's undo can wrap it). */
  call(input: Tensor): Tensor;
  /** The block under the compiled session left at this block (a recompile took over), or null. */
  readonly left: ((input: Tensor) => Tensor) | null;
  /** Saves the streamed past of the session in use; the returned function puts it back. */
  save(): () => void;
  /** Releases what the block no longer needs; a recompile due starts after the block is sent. */
  end(): void;
}

export interface BlockEngine {
  readonly name: "native" | "wasm";
  /** Prepares one block of `fn` on inputs of `shape` (the native engine may wait for a first compile here). */
  begin(model: BendedModule, fn: string, shape: number[]): Promise<BlockStep>;
  /**
   * Gets `fn` of a model on its way in ready for blocks of `shape` while the model playing
   * keeps its own (the native engine compiles it off the audio path, `between` its steps, and
   * runs it once), so that its first block is on time. A model that cannot be compiled is not
   * an error here: it runs on tfjs.
   */
  prepare(model: BendedModule, fn: string, shape: number[], between?: BetweenSteps): Promise<void>;
  /** The model is now the session's (the one before is being freed): its sessions go, a prepared model's come in. */
  use(model: BendedModule): void;
  /**
   * One block of `fn` beside the stream (a render on a copy of its state): the session the
   * stream runs now, or tfjs where it has none; it starts no compile and hands over no
   * retired session, so the stream's next `begin` is as it would have been.
   */
  sideStep(model: BendedModule, fn: string, shape: number[]): BlockStep;
  /** Forgets the streamed past of the engine's compiled sessions (the module's own past is the session's). */
  resetState(): void;
  /** What `fn` runs on, as far as the engine knows. */
  method(fn: string): MethodEngine;
  dispose(): void;
}

/** Runs the model's method on tfjs; the streamed past is the module's. */
function tfjsStep(model: BendedModule, fn: string): BlockStep {
  return {
    onTfjs: true,
    call: (input) => model.call(fn, input) as Tensor,
    left: null,
    save: () => {
      const state = streamingState(model.module);
      const snapshot = state?.snapshotState?.();
      return () => {
        if (snapshot !== undefined) state!.restoreState!(snapshot);
      };
    },
    end: () => undefined,
  };
}

export class WasmBlockEngine implements BlockEngine {
  readonly name = "wasm";
  /** Why the stream is not on the native engine (chosen, or ONNX Runtime missing). */
  constructor(private readonly why: string) {}
  begin(model: BendedModule, fn: string): Promise<BlockStep> {
    return Promise.resolve(tfjsStep(model, fn));
  }
  prepare(): Promise<void> {
    return Promise.resolve();
  }
  use(): void {}
  sideStep(model: BendedModule, fn: string): BlockStep {
    return tfjsStep(model, fn);
  }
  resetState(): void {}
  method(): MethodEngine {
    return { engine: "wasm", reason: this.why };
  }
  dispose(): void {}
}

/**
 * Blocks on ONNX Runtime. A method's first block waits for its first compile (a fresh
 * stream starts that much later; a model loaded mid-stream is compiled by `prepare` before it
 * takes over); afterwards a change of structure is
 * compiled starting right after a block is sent, when the stream clock says the next block
 * is not due within half a block (its synchronous part, trace and lowering, then uses the
 * time until the next block is due), the old session plays until the new one is
 * ready, and the new one takes over at a block boundary with the old one's streamed past.
 * A method that cannot be compiled (a Lambda, an op without a lowering) runs on tfjs and
 * `method()` says why.
 */
export class NativeBlockEngine implements BlockEngine {
  readonly name = "native";
  private cache: NativeMethodCache | null = null;
  private model: BendedModule | null = null;
  /** The cache of a model on its way in (see `prepare`), taken over at its first block. */
  private incoming: { model: BendedModule; cache: NativeMethodCache } | null = null;
  /** Sessions a recompile replaced, kept to crossfade from at the next block. */
  private retired: CompiledMethod[] = [];
  /** The session each method's last block ran on. */
  private readonly last = new Map<string, CompiledMethod>();
  private readonly methods = new Map<string, MethodEngine>();
  /** No recompile starts before this (performance.now() ms): see `begin`. */
  private nextCompileAt = 0;
  private disposed = false;

  /**
   * `room()`: whether the thread has time now for a compile's synchronous part before the next block is due.
   * `lead(ms)`: has the stream render ahead so that `ms` of work on this thread delays no block; resolves
   * when it has, with the function that ends the lead (see StreamClock.renderAhead).
   * `between`: waits, between a recompile's steps, until the stream has caught up (its lead whole again).
   */
  constructor(
    private readonly room: () => boolean = () => true,
    private readonly lead: (ms: number) => Promise<() => void> = () => Promise.resolve(() => undefined),
    private readonly between: BetweenSteps = () => Promise.resolve(),
  ) {}

  private newCache(): NativeMethodCache {
    return new NativeMethodCache({ retire: (old) => this.retired.push(old) });
  }

  private cacheFor(model: BendedModule): NativeMethodCache {
    if (this.cache && this.model === model) return this.cache;
    // Another model was loaded: the old one's sessions go, and the new one's prepared sessions come in.
    const incoming = this.incoming?.model === model ? this.incoming.cache : null;
    if (incoming) this.incoming = null;
    this.releaseAll();
    this.model = model;
    this.cache = incoming ?? this.newCache();
    return this.cache;
  }

  async prepare(model: BendedModule, fn: string, shape: number[], between: BetweenSteps = () => Promise.resolve()): Promise<void> {
    if (this.model === model) return;
    if (this.incoming?.model !== model) {
      this.incoming?.cache.dispose();
      this.incoming = { model, cache: this.newCache() };
    }
    const incoming = this.incoming;
    const method = await incoming.cache.ready(model, fn, [shape], between).catch(() => null); // runs on tfjs, and says why, at its first block
    if (method === null) return;
    await between();
    if (this.incoming !== incoming) return; // another load meanwhile
    // One run on silence now, its streamed past put back: a session's first run copies every
    // weight into ONNX Runtime and sets up its buffers, which would otherwise fall on the stream's block.
    const snapshot = method.snapshotState();
    const silence = tf.zeros(shape);
    try {
      tf.dispose(method.run(silence));
    } finally {
      silence.dispose();
      method.restoreState(snapshot);
    }
  }

  use(model: BendedModule): void {
    this.cacheFor(model);
  }

  async begin(model: BendedModule, fn: string, shape: number[]): Promise<BlockStep> {
    const cache = this.cacheFor(model);
    const shapes = [shape];
    let found = cache.lookup(model, fn, shapes, false);
    let recompile = false;
    if (!found.current && found.reason === undefined) {
      // Nothing of this method has played yet (a session prepared at load may be out of date
      // by the stream's start): the first block waits for the structure in effect.
      if (found.method === null || !this.last.has(fn)) {
        this.methods.set(fn, { engine: "compiling" });
        await cache.ready(model, fn, shapes).catch(() => undefined);
        if (this.cache !== cache) return tfjsStep(model, fn); // disposed or another model meanwhile
        found = cache.lookup(model, fn, shapes, false);
      } else if (!found.compiling && performance.now() >= this.nextCompileAt) {
        // One compile at a time, and at most one start per two compile times: under a flood
        // of structural changes (bend, interpolate, write at hundreds a second) the stream
        // keeps most of the thread, and the newest structure is compiled next.
        recompile = true;
        this.nextCompileAt = performance.now() + 2 * found.method.compileMs;
      }
    }
    const leaving = this.retired;
    this.retired = [];
    const method = found.method;
    if (method === null || (found.reason !== undefined && !found.current)) {
      this.methods.set(fn, { engine: "wasm", reason: found.reason ?? "not compiled" });
      this.last.delete(fn);
      for (const m of leaving) m.dispose();
      return tfjsStep(model, fn);
    }
    const previous = this.last.get(fn);
    const compiles = (this.methods.get(fn)?.compiles ?? 0) + (previous === method ? 0 : 1);
    this.methods.set(fn, { engine: "native", compileMs: method.compileMs, compiles });
    const left = previous !== undefined && previous !== method && leaving.includes(previous) ? previous : null;
    return {
      onTfjs: false,
      call: (input) => method.run(input) as Tensor,
      left: left ? (input) => left.run(input) as Tensor : null,
      save: () => {
        const snapshot = method.snapshotState();
        return () => method.restoreState(snapshot);
      },
      end: () => {
        this.last.set(fn, method);
        for (const m of leaving) m.dispose();
        if (recompile) setImmediate(() => void this.recompile(cache, model, fn, shapes, method.compileMs));
      },
    };
  }

  sideStep(model: BendedModule, fn: string, shape: number[]): BlockStep {
    const found = this.cache && this.model === model ? this.cache.lookup(model, fn, [shape], false) : null;
    const method = found?.method ?? null;
    if (method === null || (found!.reason !== undefined && !found!.current)) return tfjsStep(model, fn);
    return {
      onTfjs: false,
      call: (input) => method.run(input) as Tensor,
      left: null,
      save: () => {
        const snapshot = method.snapshotState();
        return () => method.restoreState(snapshot);
      },
      end: () => undefined,
    };
  }

  /**
   * Compiles the structure in effect now. Each of its steps (trace, lowering, ONNX Runtime's
   * load of the session) holds this thread at a stretch: 15–240 ms for a RAVE-sized decoder.
   * The stream renders ahead for as long as the whole compile took last time (`compileMs`, up to
   * its lead) and catches up between the steps, so no block comes late.
   */
  private async recompile(cache: NativeMethodCache, model: BendedModule, fn: string, shapes: number[][], compileMs: number): Promise<void> {
    if (this.disposed || this.cache !== cache) return;
    // The next block is due soon (the stream is catching up): try again after it.
    if (!this.room()) {
      this.nextCompileAt = 0;
      return;
    }
    const caughtUp = await this.lead(compileMs);
    try {
      if (!this.disposed && this.cache === cache) {
        cache.lookup(model, fn, shapes, true, this.between);
        // one compile (a failed one is recorded by the cache: the method plays on, and says why)
        await cache.settled(fn, shapes);
      }
    } finally {
      caughtUp();
    }
  }

  resetState(): void {
    this.cache?.resetState();
  }

  method(fn: string): MethodEngine {
    return this.methods.get(fn) ?? { engine: "compiling" };
  }

  private releaseAll(): void {
    this.cache?.dispose();
    this.cache = null;
    for (const m of this.retired) m.dispose();
    this.retired = [];
    this.last.clear();
    this.methods.clear();
  }

  dispose(): void {
    this.disposed = true;
    this.releaseAll();
    this.incoming?.cache.dispose();
    this.incoming = null;
  }
}

/** Whether the native engine can run here, or why not (injectable for tests). */
export interface NativeAvailability {
  available(): boolean;
  reason(): string | null;
}

const ONNX_RUNTIME: NativeAvailability = { available: nativeAvailable, reason: nativeUnavailableReason };

/**
 * The engine a choice gives here: `native` where ONNX Runtime is not available is an error
 * (never a silent fallback); `auto` falls back to wasm and says why.
 */
export function resolveEngine(choice: EngineChoice, runtime: NativeAvailability = ONNX_RUNTIME): { name: "native" | "wasm"; why?: string } {
  if (!(ENGINE_CHOICES as readonly string[]).includes(choice)) throw new BendingError(`unknown engine '${String(choice)}' (engines: ${ENGINE_CHOICES.join(", ")})`);
  if (choice === "wasm") return { name: "wasm", why: "engine wasm chosen" };
  if (runtime.available()) return { name: "native" };
  const why = runtime.reason() ?? "ONNX Runtime is not available";
  if (choice === "native") throw new BendingError(`engine native: ONNX Runtime cannot run here (${why}); install onnxruntime-node or use --engine wasm`);
  return { name: "wasm", why };
}

/** `room`: whether the stream leaves time now for a recompile's synchronous part (see NativeBlockEngine). */
export function createBlockEngine(
  choice: EngineChoice,
  runtime: NativeAvailability = ONNX_RUNTIME,
  room?: () => boolean,
  lead?: (ms: number) => Promise<() => void>,
  between?: BetweenSteps,
): BlockEngine {
  const { name, why } = resolveEngine(choice, runtime);
  return name === "native" ? new NativeBlockEngine(room, lead, between) : new WasmBlockEngine(why ?? "");
}
