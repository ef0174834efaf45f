// node.script entry of the tfbend Max package: `[node.script tfbend.mjs @autostart 1]`.
// max-api is provided by Max at run time. The plugin's code is the repository's dist/
// (this package folder is plugin/ inside it; link it into Max's Packages folder).
import maxApi from "max-api";
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import { startMax } from "../../dist/transports/max.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const workspace = process.env.TFBEND_WORKSPACE ?? join(homedir(), "Documents", "tfbend-workspace");
mkdirSync(workspace, { recursive: true });

startMax(maxApi, {
  modelsDir: resolve(here, "../../models"),
  workspace,
  model: process.env.TFBEND_MODEL ?? "audio",
  // native (ONNX Runtime's CPU kernels) where it loads, tfjs wasm otherwise; TFBEND_ENGINE=wasm forces wasm
  engine: "auto",
  jitter: { host: "127.0.0.1", audioPort: 7474, imagePort: 7475 },
  // the patch's live audio: [adc~] → [jit.catch~] → [jit.net.send @port 7476]
  jitterIn: { host: "127.0.0.1", port: 7476 },
}).catch((e) => maxApi.post(`tfbend failed to start: ${e.message}`, maxApi.POST_LEVELS.ERROR));
