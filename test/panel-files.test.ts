// The panel's file route: a page request tells the plugin a browser is about to load the panel
// (the CLI then has the stream render ahead), other files do not.
import { createServer, request, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { panelRoute } from "../dist/transports/panel-files.js";

let server: Server;
let port = 0;
let pages = 0;

beforeAll(async () => {
  const route = panelRoute({ onPage: () => pages++ });
  server = createServer((req, res) => {
    if (!route(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function fetchStatus(path: string, method = "GET", host = `127.0.0.1:${port}`): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers: { host } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("panel files", () => {
  it("calls onPage for the page itself, not for its scripts, a HEAD or a refused host", async () => {
    expect(await fetchStatus("/app.js")).toBe(200);
    expect(await fetchStatus("/app.css")).toBe(200);
    expect(await fetchStatus("/", "HEAD")).toBe(200);
    expect(await fetchStatus("/", "GET", "attacker.example:80")).toBe(403); // DNS rebinding: no page
    expect(pages).toBe(0);
    expect(await fetchStatus("/")).toBe(200);
    expect(await fetchStatus("/index.html?x=1")).toBe(200);
    expect(pages).toBe(2);
  });
});
