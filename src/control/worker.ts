// The inference thread: hosts the Session so that computing a block never blocks the
// thread that talks to the patch. Commands arrive as atoms; replies, blocks and stats
// go back as messages (block data transferred, not copied).
import { parentPort, workerData } from "node:worker_threads";
// The whole library: selects the backend and registers every architecture and callback.
import "../index.js";
import "./panel-commands.js";
import { Session, type SessionOptions } from "./session.js";
import type { Atom } from "./atoms.js";

export type ToWorker = { id: number; atoms: Atom[] } | { close: true };

if (parentPort) {
  const port = parentPort;
  const options = workerData as SessionOptions & { model?: string };
  const session = new Session(options);
  // Each message carries only the status fields that changed since the last one
  // (usually blocks, rtf and nothing else): the main thread keeps the whole picture.
  let sent: Record<string, Atom> = {};
  const statusDelta = (): Record<string, Atom> => {
    const now = session.status();
    const delta: Record<string, Atom> = {};
    for (const [key, value] of Object.entries(now)) if (sent[key] !== value) delta[key] = value;
    sent = now;
    return delta;
  };
  session.onBlock((block) => {
    port.postMessage({ block, status: statusDelta() }, [block.data.buffer as ArrayBuffer]);
  });
  session.onError((reply) => port.postMessage({ event: reply, status: statusDelta() }));
  const boot = options.model ? session.execute(["load", options.model]) : Promise.resolve(null);
  boot.then((reply) => port.postMessage({ ready: true, status: statusDelta(), boot: reply }));
  port.on("message", async (message: ToWorker) => {
    if ("close" in message) {
      session.dispose();
      port.close();
      return;
    }
    await boot;
    const reply = await session.execute(message.atoms);
    port.postMessage({ id: message.id, reply, status: statusDelta() });
  });
}
