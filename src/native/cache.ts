// Compiled sessions per (method, input shape), rebuilt off the audio path when the bending
// structure, the version or the weights change: the old session keeps playing until the new
// one is ready, then the new one takes over at the next block with the old one's streamed
// state, and the old one is released.
import type { BendedModule } from "../bended/bended-module.js";
import { compileMethod, structureKey, type BetweenSteps, type CompileOptions, type CompiledMethod } from "./engine.js";

export interface NativeLookup {
  /** The session to run this block: the current one, or the previous one while the new compiles; null if none. */
  method: CompiledMethod | null;
  /** Whether `method` matches the bendings and weights in effect now. */
  current: boolean;
  /** Why the structure in effect cannot run natively (the caller runs wasm and says this). */
  reason?: string;
  /** Whether a compile is under way for this method and shape (maybe of an older structure). */
  compiling: boolean;
}

interface Slot {
  active: CompiledMethod | null;
  pendingKey: string | null;
  pending: Promise<CompiledMethod> | null;
  failed: { key: string; reason: string } | null;
}

export interface CacheOptions extends CompileOptions {
  /**
   * Takes a session the cache replaced by a recompiled one (default: disposed at once). A
   * stream keeps it for one more block, to crossfade from it at the swap, then disposes it.
   */
  retire?: (old: CompiledMethod) => void;
}

export class NativeMethodCache {
  private readonly slots = new Map<string, Slot>();
  private disposed = false;

  constructor(private readonly options: CacheOptions = {}) {}

  private slot(fn: string, shapes: number[][]): Slot {
    const id = `${fn}|${JSON.stringify(shapes)}`;
    let slot = this.slots.get(id);
    if (!slot) {
      slot = { active: null, pendingKey: null, pending: null, failed: null };
      this.slots.set(id, slot);
    }
    return slot;
  }

  /**
   * The session for this block, starting a compile in the background when the structure
   * changed (unless `start` is false: the caller starts it later, off the audio path);
   * `between` runs between the compile's steps (see compileMethod).
   */
  lookup(bended: BendedModule, fn: string, shapes: number[][], start = true, between?: BetweenSteps): NativeLookup {
    const slot = this.slot(fn, shapes);
    const key = structureKey(bended, fn, shapes, this.options);
    if (slot.active?.key === key) return { method: slot.active, current: true, compiling: slot.pending !== null };
    if (slot.failed?.key === key) return { method: null, current: false, reason: slot.failed.reason, compiling: slot.pending !== null };
    if (start && slot.pendingKey !== key) this.start(slot, bended, fn, shapes, key, between);
    return { method: slot.active, current: false, compiling: slot.pending !== null };
  }

  /** Resolves with the session for the structure in effect now (compiling it if needed, with `between` between its steps). */
  async ready(bended: BendedModule, fn: string, shapes: number[][], between?: BetweenSteps): Promise<CompiledMethod> {
    for (;;) {
      const found = this.lookup(bended, fn, shapes, true, between);
      if (found.current && found.method) return found.method;
      if (found.reason !== undefined) throw new Error(found.reason);
      await this.slot(fn, shapes).pending?.catch(() => undefined);
    }
  }

  /** Resolves when the compile under way for `fn` at these shapes, if any, has ended (either way). */
  async settled(fn: string, shapes: number[][]): Promise<void> {
    await this.slot(fn, shapes).pending?.catch(() => undefined);
  }

  private start(slot: Slot, bended: BendedModule, fn: string, shapes: number[][], key: string, between?: BetweenSteps): void {
    slot.pendingKey = key;
    const pending = compileMethod(bended, fn, shapes, this.options, between);
    slot.pending = pending;
    pending.then(
      (compiled) => {
        if (this.disposed || slot.pending !== pending) return compiled.dispose();
        const old = slot.active;
        if (old) compiled.adoptState(old);
        slot.active = compiled;
        slot.pending = null;
        slot.pendingKey = null;
        if (old) (this.options.retire ?? ((m: CompiledMethod) => m.dispose()))(old);
      },
      (error: unknown) => {
        if (slot.pending !== pending) return;
        slot.failed = { key, reason: error instanceof Error ? error.message : String(error) };
        slot.pending = null;
        slot.pendingKey = null;
      },
    );
  }

  /** Forgets every session's streamed past. */
  resetState(): void {
    for (const s of this.slots.values()) s.active?.resetState();
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.slots.values()) s.active?.dispose();
    this.slots.clear();
  }
}
