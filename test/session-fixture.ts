// A models folder with small random-weight models for protocol tests (the shipped
// models are tested on their own): an audio decoder and an image decoder.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tb from "tfbend";
import { testThreads } from "./helpers.js";

export async function makeModelsDir(): Promise<{ modelsDir: string; workspace: string }> {
  const root = mkdtempSync(join(tmpdir(), "tfbend-session-"));
  const modelsDir = join(root, "models");
  tb.nn.manualSeed(1);
  const audio = new tb.BendedModule(tb.createModule("audio-decoder").eval());
  audio.metadata = { kind: "audio", sample_rate: "44100", ratio: "256", latent_dim: "8" };
  audio.trace({ z: tb.tf.zeros([1, 8, 8]) });
  await tb.save(audio, join(modelsDir, "audio"));
  const image = new tb.BendedModule(tb.createModule("image-decoder").eval());
  image.metadata = { kind: "image", latent_dim: "16" };
  image.trace({ z: tb.tf.zeros([1, 16]) });
  await tb.save(image, join(modelsDir, "image"));
  return { modelsDir, workspace: join(root, "workspace") };
}

export interface RunningPlugin {
  engine: tb.control.Engine;
  oscServer: tb.transports.OscServer;
  wsServer: tb.transports.WsServer;
  workspace: string;
  /** The engine's inference threads: make the current one busy, or crash it. */
  threads: ReturnType<typeof testThreads>;
  close(): Promise<void>;
}

/** The plugin process's parts (inference thread, OSC and WebSocket on free ports of 127.0.0.1) on the fixture models. */
export async function startPlugin(model = "audio"): Promise<RunningPlugin> {
  const { mkdirSync } = await import("node:fs");
  const dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  const threads = testThreads();
  const engine = await tb.control.Engine.start({ ...dirs, model }, threads.start);
  const oscServer = new tb.transports.OscServer(engine, { host: "127.0.0.1", port: 0 });
  const wsServer = new tb.transports.WsServer(engine, { host: "127.0.0.1", port: 0 });
  await Promise.all([oscServer.ready, wsServer.ready]);
  return {
    engine, oscServer, wsServer, workspace: dirs.workspace, threads,
    close: async () => {
      await oscServer.close();
      await wsServer.close();
      await engine.close();
    },
  };
}
