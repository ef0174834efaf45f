// The main thread's copy of the live controls, so that `get` and `set` are answered on
// the transport thread from the latest state instead of waiting behind a block render.
// The inference thread sends the controls whenever they change; a `set` answered here
// updates the copy at once and is forwarded to the inference thread, which applies it
// in order. While a command that may create or replace controls (bend, config, load,
// anything unknown) is on its way, the inference thread answers everything itself.
import { BendingError } from "../errors.js";
import { BendingParameter } from "../bending/parameter.js";
import type { Atom, Reply } from "../protocol/index.js";

/** One live control as the inference thread reports it. */
export interface ControlState {
  name: string;
  value: number;
  range: [number, number] | null;
  clamp: boolean;
  /** Derived controls follow another one, and a name that is also an nn~ attribute is ambiguous: the inference thread answers those. */
  derived: boolean;
}

/** Commands that never create, remove or move a control (besides `set` itself). */
const KEEP_CONTROLS = new Set([
  "get", "controls", "status", "dump", "help", "models", "weights", "activations", "graph", "bendings", "trace", "method",
  "versions", "version", "write", "interpolate", "unbend", "reset", "input", "render", "stream", "enable",
]);

/** Whether a command may create, replace or move controls: `bend` only with an `@control` argument, `config` only when loading. */
function mayChangeControls(atoms: Atom[]): boolean {
  const command = String(atoms[0]);
  if (KEEP_CONTROLS.has(command)) return false;
  if (command === "bend") return atoms.some((a) => typeof a === "string" && a.startsWith("@"));
  if (command === "config") return atoms[1] !== "save";
  return true;
}

export class ControlMirror {
  private controls = new Map<string, ControlState>();
  /** `set`s answered here that the inference thread has not applied yet, per control. */
  private readonly inFlight = new Map<string, number>();
  /** Commands on their way that may change the controls: while any is, nothing is answered here. */
  private uncertain = 0;

  /** The inference thread's controls (after a change); values of controls with a `set` in flight stay as set here. */
  replace(list: ControlState[]): void {
    const next = new Map<string, ControlState>();
    for (const c of list) {
      const mine = this.controls.get(c.name);
      next.set(c.name, (this.inFlight.get(c.name) ?? 0) > 0 && mine ? { ...c, value: mine.value } : { ...c });
    }
    this.controls = next;
  }

  /** The controls as known here (values set here included), for a restarted thread to put back. */
  states(): ControlState[] {
    return Array.from(this.controls.values(), (c) => ({ ...c }));
  }

  clear(): void {
    this.controls.clear();
    this.inFlight.clear();
    this.uncertain = 0;
  }

  /**
   * A command the inference thread will answer: returns what to call when its reply
   * arrives (commands that may change controls make the copy uncertain until then).
   */
  forwarded(atoms: Atom[]): () => void {
    if (!mayChangeControls(atoms)) return () => undefined;
    this.uncertain++;
    return () => void this.uncertain--;
  }

  /**
   * `get <control>` or `set <control> <value>` answered from the copy, or null when the
   * inference thread must answer. A `set` answered here comes back with `apply`: forward
   * it, then call `applied(name)` with the inference thread's reply.
   */
  answer(atoms: Atom[]): { reply: Reply; apply: boolean } | null {
    if (this.uncertain > 0) return null;
    const [command, name, value] = atoms;
    if (typeof name !== "string") return null;
    const control = this.controls.get(name);
    if (!control || control.derived) return null;
    if (command === "get" && atoms.length === 2) return { reply: { command, ok: true, values: [name, control.value] }, apply: false };
    if (command !== "set" || atoms.length !== 3 || typeof value !== "number" || !Number.isFinite(value)) return null;
    let checked: number;
    try {
      // The control's own check (finite, in range or clamped), as the inference thread applies it.
      checked = new BendingParameter(control.name, value, { range: control.range ?? undefined, clamp: control.clamp }).value;
    } catch (e) {
      if (!(e instanceof BendingError)) throw e;
      return { reply: { command, ok: false, values: [e.message] }, apply: false };
    }
    control.value = checked;
    this.inFlight.set(name, (this.inFlight.get(name) ?? 0) + 1);
    return { reply: { command, ok: true, values: [name, value] }, apply: true };
  }

  /** The inference thread applied (or refused) a `set` answered here. */
  applied(name: string): void {
    const n = (this.inFlight.get(name) ?? 1) - 1;
    if (n > 0) this.inFlight.set(name, n);
    else this.inFlight.delete(name);
  }
}
