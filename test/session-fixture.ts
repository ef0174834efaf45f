// A models folder with small random-weight models for protocol tests (the shipped
// models are tested on their own): an audio decoder and an image decoder.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tb from "tfbend";

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
