// The browser panel: static files (bundled into dist/panel by `npm run build`) served on
// the WebSocket server's HTTP port, so http://127.0.0.1:7401/ opens it. The page speaks
// the same command table as every other transport over the same WebSocket.
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
// The panel's query commands (weight statistics, histograms, activation values, ...) join
// the command table where the page is served. (Until the table registers them itself.)

export interface PanelOptions {
  /** Folder of the built panel (default: dist/panel next to this file's folder). */
  root?: string;
  /**
   * Called when the page itself is served: a browser is about to parse, lay out and draw the
   * panel, a second or two of CPU beside the stream (the plugin asks the stream to render
   * ahead meanwhile: `ahead PAGE_LOAD_AHEAD_MS`).
   */
  onPage?: () => void;
}

/** How long a page load is covered by the stream rendering ahead (ms): a RAVE-sized model's panel draws in 1.5-2.5 s on 2 cores. */
export const PAGE_LOAD_AHEAD_MS = 3000;

/** The built panel's folder. */
export const PANEL_ROOT = resolve(fileURLToPath(new URL("../panel/", import.meta.url)));

const FILES: Record<string, [string, string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/app.css": ["app.css", "text/css; charset=utf-8"],
  "/favicon.svg": ["favicon.svg", "image/svg+xml"],
};

/**
 * Host names a page may be served under: IP literals and localhost. A DNS name pointing
 * at 127.0.0.1 (DNS rebinding) gets no page.
 */
function allowedHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

/** An HTTP route for WsServer's `http` option: true when it answered the request. */
export function panelRoute(options: PanelOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const root = options.root ?? PANEL_ROOT;
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const file = FILES[path];
    if (!file) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return true;
    }
    if (!allowedHost(req.headers.host)) {
      res.writeHead(403, { "content-type": "text/plain" }).end("tfbend panel: open it as http://127.0.0.1:<port>/\n");
      return true;
    }
    const [name, type] = file;
    if (name === "index.html" && req.method === "GET") options.onPage?.();
    const full = join(root, name);
    if (!existsSync(full)) {
      res.writeHead(503, { "content-type": "text/plain" }).end("tfbend panel is not built: run 'npm run build'\n");
      return true;
    }
    // Read on each request (a few hundred kB, rarely): a rebuild shows without a restart.
    const body = readFileSync(full);
    res.writeHead(200, {
      "content-type": type,
      "content-length": body.length,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; media-src 'self' blob:",
    });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  };
}
