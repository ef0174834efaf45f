// Bundles the browser panel (panel/src → dist/panel/app.js + app.css) and copies its
// static files. Runs as part of `npm run build` (so at `npm install` time, via prepare);
// the plugin process serves the result, no build server at run time.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "../dist/panel");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, "src/main.ts") },
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outdir: out,
  logLevel: "warning",
});
for (const f of ["index.html", "favicon.svg"]) copyFileSync(join(here, f), join(out, f));
