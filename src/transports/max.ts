// The Node for Max entry: every command of the table is a message to node.script.
// Replies go out of the outlet as `ok <command> ...` / `error <command> <message>`;
// metadata (weights, graph, controls) also as a Max dict named tfbend_<command>, announced
// as `dict <command> <name>`. max-api is injected by Max at run time, so the entry takes
// it as an argument (tests pass a stand-in with the same interface).
import type { Atom } from "../protocol/index.js";
import { COMMANDS } from "../control/commands.js";
import { Engine, type EngineOptions } from "../control/engine.js";
import { reportHandlerFailure } from "./guard.js";
import { JitterReceiver, type JitterReceiverOptions } from "./jitter/receiver.js";
import { attachJitter, type JitterOutputOptions } from "./jitter/sender.js";

/** The part of Node for Max's max-api (see @types/max-api) that tfbend uses. */
export interface MaxApiLike {
  addHandler(selector: string, handler: (...args: never[]) => unknown): void;
  outlet(...args: (Atom | object)[]): Promise<void>;
  post(...args: (Atom | object)[]): Promise<void>;
  setDict(id: string, dict: object): Promise<object>;
  MESSAGE_TYPES: { ALL: string };
}

export interface MaxSession {
  engine: Engine;
  close(): Promise<void>;
}

export interface MaxOptions extends EngineOptions {
  /** Stream outputs to jit.net.recv (audio → jit.release~, images → jit.pwindow). */
  jitter?: JitterOutputOptions;
  /** Listen as jit.net.recv for the patch's live audio ([jit.catch~] → [jit.net.send @port 7476]). */
  jitterIn?: JitterReceiverOptions;
}

export async function startMax(max: MaxApiLike, options: MaxOptions): Promise<MaxSession> {
  const engine = await Engine.start(options);
  const jitter = options.jitter ? attachJitter(engine, options.jitter) : null;
  const jitterIn = options.jitterIn ? new JitterReceiver(engine, options.jitterIn) : null;
  await jitterIn?.ready.catch((e: Error) => max.post(`tfbend: cannot listen for live audio on port ${options.jitterIn?.port ?? 7476}: ${e.message}`));
  const status = engine.status();
  await max.post(`tfbend ready: backend ${status.backend}, model ${status.model}`);

  const run = async (atoms: Atom[]) => {
    try {
      await answer(atoms);
    } catch (e) {
      await max.outlet("error", String(atoms[0] ?? "?"), reportHandlerFailure("max", e));
    }
  };
  const answer = async (atoms: Atom[]) => {
    const reply = await engine.execute(atoms);
    if (reply.ok && reply.dict !== undefined) {
      const name = `tfbend_${reply.command}`;
      const dict = Array.isArray(reply.dict) ? { items: reply.dict } : (reply.dict as object);
      await max.setDict(name, dict);
      await max.outlet("dict", reply.command, name);
    }
    await max.outlet(reply.ok ? "ok" : "error", reply.command, ...reply.values);
  };

  // Errors nobody asked for (the stream stopped) still reach the patch.
  engine.onChange((reply) => {
    if (!reply.ok) void max.outlet("error", reply.command, ...reply.values);
  });
  for (const name of COMMANDS.keys()) {
    max.addHandler(name, (...args: Atom[]) => run([name, ...args]));
  }
  // Anything else: say so instead of staying silent.
  max.addHandler(max.MESSAGE_TYPES.ALL, (handled: boolean, ...message: Atom[]) => {
    if (!handled) void run(message);
  });
  return {
    engine,
    close: async () => {
      await jitter?.close();
      await jitterIn?.close();
      await engine.close();
    },
  };
}
