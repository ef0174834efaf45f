// The browser panel, end to end: the real plugin (inference thread, OSC and WebSocket
// servers on free ports of 127.0.0.1, the panel route) on the shipped models, driven in
// headless Chromium (Debian's chromium via playwright-core). Every panel action must be a
// command the plugin reports to other transports, and changes made over OSC must show in
// the page. Screenshots of each view go to $TFBEND_SCREENSHOTS (default: a temporary
// folder); UPDATE_SCREENSHOTS=1 writes them to docs/screenshots for the README.
import { createSocket, type Socket } from "node:dgram";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import osc from "osc";
import WebSocket from "ws";
import { chromium, type Browser, type Page } from "playwright-core";
import * as tb from "tfbend";
import { panelRoute } from "../dist/transports/panel-files.js";
import { ancestors, groupByModule, initialExpansion, visibleGraph } from "../panel/src/graphgroups.js";

const CHROMIUM = process.env.TFBEND_CHROMIUM ?? "/usr/bin/chromium";
const MODELS = join(import.meta.dirname, "../models");
const RAVE_LIKE = join(import.meta.dirname, "fixtures/torchscript/rave_like.ts");
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? join(import.meta.dirname, "../docs/screenshots")
  : (process.env.TFBEND_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "tfbend-panel-shots-")));

type OscMessage = { address: string; args: { type: string; value: unknown }[] };

let engine: tb.control.Engine;
let workspace: string;
let oscServer: tb.transports.OscServer;
let wsServer: tb.transports.WsServer;
let udp: Socket;
let browser: Browser;
let page: Page;
let observer: WebSocket;
const oscInbox: OscMessage[] = [];
const observed: { type: string; id?: number; command?: string; values?: unknown[]; dict?: unknown }[] = [];
const pageErrors: string[] = [];

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 8000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** A command over OSC (UDP), as a patch sends it; resolves with /tfbend/ok or /tfbend/error. */
async function oscCommand(command: string, atoms: tb.control.Atom[] = []): Promise<OscMessage> {
  const start = oscInbox.length;
  udp.send(osc.writePacket({ address: `/tfbend/${command}`, args: tb.transports.toOscArgs(atoms) }, { metadata: true }), oscServer.port, "127.0.0.1");
  return until(`OSC reply to ${command}`, () =>
    oscInbox.slice(start).find((m) => (m.address === "/tfbend/ok" || m.address === "/tfbend/error") && m.args[0]?.value === command));
}

const oscValues = (m: OscMessage) => m.args.slice(1).map((a) => a.value);

/** A command over a second WebSocket client (for replies with a dict). */
let nextId = 1000;
async function wsCommand(cmd: string, ...args: tb.control.Atom[]): Promise<{ ok: boolean; values: unknown[]; dict?: unknown }> {
  const id = nextId++;
  observer.send(JSON.stringify({ cmd, args, id }));
  return until(`WebSocket reply to ${cmd}`, () => observed.find((m) => m.type === "reply" && m.id === id)) as Promise<{ ok: boolean; values: unknown[]; dict?: unknown }>;
}

function httpGet(path: string, host?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: wsServer.port, path, headers: host ? { host } : {} }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function shot(name: string): Promise<void> {
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
  await page.waitForTimeout(150); // let the last frame paint
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function tab(name: string): Promise<void> {
  await page.click(`#tabs button[data-tab=${name}]`);
}

/** Clicks a node of the diagram where it is drawn (after opening its group and centring it), as a user would. */
async function clickNode(name: string): Promise<void> {
  await page.evaluate((n) => {
    window.tfbend.graph.reveal(n);
    const cy = window.tfbend.graph.cy;
    const p = cy.getElementById(n).renderedPosition();
    if (p.x < 40 || p.y < 40 || p.x > cy.width() - 40 || p.y > cy.height() - 40) cy.center(cy.getElementById(n));
  }, name);
  const p = await page.evaluate((n) => window.tfbend.graph.clientPoint(n), name);
  expect(p).not.toBeNull();
  await page.mouse.click(p!.x, p!.y);
}

/** Clicks a range input at a fraction of its width; returns the value it took. */
async function clickSlider(selector: string, fraction: number): Promise<number> {
  const box = (await page.locator(selector).boundingBox())!;
  await page.mouse.click(box.x + box.width * fraction, box.y + box.height / 2);
  return Number(await page.locator(selector).inputValue());
}

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`panel.test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set TFBEND_CHROMIUM); skipping the browser tests`);

describe.skipIf(!hasChromium)("browser panel (headless Chromium against the plugin)", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), "tfbend-panel-"));
    copyFileSync(RAVE_LIKE, join(workspace, "rave_like.ts"));
    const [started, launched] = await Promise.all([
      tb.control.Engine.start({ modelsDir: MODELS, workspace, model: "audio" }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
      }),
    ]);
    engine = started;
    browser = launched;
    oscServer = new tb.transports.OscServer(engine, { host: "127.0.0.1", port: 0 });
    wsServer = new tb.transports.WsServer(engine, { host: "127.0.0.1", port: 0, http: panelRoute() });
    await Promise.all([oscServer.ready, wsServer.ready]);
    udp = createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    udp.on("message", (data) => {
      try {
        oscInbox.push(osc.readPacket(new Uint8Array(data), { metadata: true }) as OscMessage);
      } catch {
        // not an OSC packet
      }
    });
    observer = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
    observer.on("message", (data, isBinary) => {
      if (!isBinary) observed.push(JSON.parse(String(data)));
    });
    await new Promise((r) => observer.once("open", r));
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    observer?.close();
    udp?.close();
    oscServer?.close();
    await wsServer?.close();
    await engine?.close();
    console.log(`panel.test: screenshots in ${SHOTS}`);
  });

  it("serves the page on the WebSocket port, only under a local host name", async () => {
    const index = await httpGet("/");
    expect(index.status).toBe(200);
    expect(index.type).toContain("text/html");
    expect(index.body).toContain('src="app.js"');
    const app = await httpGet("/app.js");
    expect(app.status).toBe(200);
    expect(app.body.length).toBeGreaterThan(10_000);
    expect((await httpGet("/app.css")).status).toBe(200);
    expect((await httpGet("/", "attacker.example:80")).status).toBe(403); // DNS rebinding
    expect((await httpGet("/nothing")).status).toBe(404);
  });

  it("draws the traced graph of the shipped audio model", async () => {
    await page.goto(`http://127.0.0.1:${wsServer.port}/`);
    const graph = await oscCommand("graph");
    const count = Number(oscValues(graph)[1]);
    expect(count).toBeGreaterThan(40);
    await until("the graph in the page", () => page.evaluate((n) => window.tfbend?.graph.nodes.length === n, count));
    // a small model opens fully grouped: every node drawn, inside its module's box
    expect(await page.evaluate(() => window.tfbend.graph.visible!.nodes.length)).toBe(count);
    expect(await page.evaluate(() => window.tfbend.graph.cy.getElementById("net_3_conv1").parent().id())).toBe("group:net.3");
    const node = await page.evaluate(() => window.tfbend.graph.cy.getElementById("net_3_conv1").data("label") as string);
    expect(node).toContain("net_3_conv1");
    expect(node).toContain("[1,64,32]");
    expect(await page.locator("#graph-count").textContent()).toContain(`${count} nodes`);
    // the header names the engine that computes the method's blocks (native where ONNX Runtime loads), not tfjs's backend
    // (Engine.start computes on wasm unless told otherwise; the plugin's command line picks native where it loads)
    await until("the status strip", async () => (await page.locator("#st-backend").textContent()) === "wasm");
    expect(await page.evaluate(() => String(window.tfbend.app.status.method_engine))).toBe("wasm");
    // the header stays on one line at 1400 px
    await page.setViewportSize({ width: 1400, height: 900 });
    const rows = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>("#bar > *")].map((el) => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2)));
    expect(Math.max(...rows) - Math.min(...rows)).toBeLessThan(6);
    await page.setViewportSize({ width: 1440, height: 900 });
    await clickNode("net_0");
    await until("the node card", async () => (await page.locator("#node-card strong").textContent()) === "net_0");
    await shot("graph");
  });

  it("adds a Mask from the panel, and the plugin reports it", async () => {
    await clickNode("net_3_conv1");
    await until("the selection as target", async () => (await page.inputValue("#bend-pattern")) === "net_3_conv1");
    await page.selectOption("#bend-callback", "Mask");
    await page.fill("input.arg-value[name=prob]", "0.5");
    await page.check("input[name=bind-prob]");
    await page.fill("input[name=control-prob]", "keep");
    expect(await page.textContent("#bend-preview")).toBe("bend net_3_conv1 mask prob @keep=0.5");
    await page.click("#bend-go");
    const bendings = await until("the bending in the plugin", async () => {
      const r = await oscCommand("bendings");
      return oscValues(r).includes("Mask(prob=keep(0.500))") ? r : undefined;
    });
    expect(bendings.address).toBe("/tfbend/ok");
    expect(observed).toContainEqual(expect.objectContaining({ type: "event", command: "bend" }));
    await until("the bending listed and marked", () => page.evaluate(() =>
      window.tfbend.graph.marked("net_3_conv1", "bended") && document.querySelector("#bendings")!.textContent!.includes("Mask(prob=keep(0.500))")));
  });

  it("moves a control slider; get returns the new value", async () => {
    const slider = ".control[data-control=keep] input.slider";
    await page.waitForSelector(slider);
    const value = await clickSlider(slider, 0.2);
    expect(value).toBeGreaterThan(0.1);
    expect(value).toBeLessThan(0.3);
    const got = await until("the control's new value", async () => {
      const r = await oscCommand("get", ["keep"]);
      const v = Number(oscValues(r)[1]);
      return Math.abs(v - value) < 1e-6 ? v : undefined;
    });
    expect(got).toBeCloseTo(value, 6);
    // the page keeps the new value after it refreshes from the plugin's event
    await until("the bending's repr with the new value", async () => (await page.textContent("#bendings"))!.includes(`keep(${value.toFixed(3)})`));
    expect(Number(await page.inputValue(slider))).toBeCloseTo(value, 6);
    await shot("bending");
  });

  it("shows activations live while streaming, original beside bended, and plays the audio", async () => {
    await tab("output");
    await page.click("#tab-output button:has-text('Random')");
    await page.click("#listen"); // starts the stream too
    await until("audio blocks", () => page.evaluate(() => window.tfbend.output.received > 3));
    expect(await page.evaluate(() => window.tfbend.output.scheduled)).toBeGreaterThan(0);
    await shot("output-audio");
    await tab("activations");
    await until("a live activation card", () => page.evaluate(() => window.tfbend.activations.updates >= 2 && !!document.querySelector("[data-activation=net_3_conv1] canvas.heat")));
    const info = (await page.textContent("[data-activation=net_3_conv1]"))!;
    expect(Number(/rms difference ([-\d.e]+)/.exec(info)?.[1])).toBeGreaterThan(0); // the mask changes the activation
    // a 1-D activation is a waveform (uPlot), beside the bended one
    await clickNode("net_19");
    await until("the waveform", () => page.evaluate(() => document.querySelectorAll("[data-activation=net_19] .uplot").length === 2));
    await page.click("#act-watched .chip:has-text('net_0') button"); // stop watching the first click's node
    await until("two cards", () => page.evaluate(() => document.querySelectorAll(".act-card").length === 2));
    await shot("activations");
    await page.click("#listen");
    await page.click("#stream");
    await until("the stream stopped", async () => ((await wsCommand("status")).dict as { streaming: number }).streaming === 0);
  });

  it("writes versions and interpolates with the pad and the slider", async () => {
    // a weight bending, so that the version differs from the model's own weights
    await tab("bend");
    await page.fill("#bend-pattern", "net\\.2\\.conv\\.weight");
    await page.selectOption("#bend-callback", "Scale");
    await page.fill("input.arg-value[name=scale]", "0.5");
    await page.click("#bend-go");
    await until("the weight bending", async () => oscValues(await oscCommand("bendings")).includes("Scale(scale=0.500)"));
    await tab("versions");
    await page.fill("#version-name", "quiet");
    await page.click("#version-write");
    await until("version quiet", async () => oscValues(await oscCommand("versions")).includes("quiet"));
    await page.fill("#version-name", "quiet2");
    await page.click("#version-write");
    await until("version quiet2 in the page", () => page.evaluate(() => document.querySelectorAll("#versions li").length === 3));
    // three versions: the triangle pad
    const pad = (await page.locator("#pad").boundingBox())!;
    await page.mouse.click(pad.x + pad.width * 0.5, pad.y + pad.height * 0.55);
    const three = await until("an interpolation of three", async () => {
      const w = ((await wsCommand("state")).dict as { interpolation: Record<string, number> | null }).interpolation;
      return w && Object.keys(w).length === 3 ? w : undefined;
    });
    expect(Object.keys(three).sort()).toEqual(["_default", "quiet", "quiet2"]);
    expect(Object.values(three).every((w) => w > 0.05)).toBe(true);
    await shot("versions");
    // two versions: the slider
    await page.uncheck("input[name=interp-quiet2]");
    const t = await clickSlider("#interp-slider", 0.7);
    const two = await until("an interpolation of two", async () => {
      const w = ((await wsCommand("state")).dict as { interpolation: Record<string, number> | null }).interpolation;
      return w && Object.keys(w).length === 2 && Math.abs(w.quiet - t) < 1e-3 ? w : undefined;
    });
    expect(two._default).toBeCloseTo(1 - t, 3);
    expect(observed).toContainEqual(expect.objectContaining({ type: "event", command: "interpolate" }));
    // the weight table and histogram: interpolated weights differ from the original
    await tab("weights");
    await page.click("tr[data-weight='net.2.conv.weight']");
    await until("the histogram, before and after", async () => (await page.textContent("#hist-stats"))!.includes("→ as used"));
    await shot("weights");
    // the pad follows the version in use, set from elsewhere: all weight on it
    await wsCommand("version", "quiet");
    await tab("versions");
    await until("the pad on quiet", async () => (await page.textContent("#version-playing")) === "Playing: quiet" && (await page.textContent("#interp-weights"))!.includes("quiet 1.00"));
    expect(await page.textContent("#interp-weights")).toContain("_default 0.00");
    await page.evaluate(() => window.tfbend.app.run("version", "default"));
  });

  it("shows a bending and a control change made over OSC", async () => {
    await tab("bend");
    const r = await oscCommand("bend", ["net_4_conv1", "scale", "scale", 0.25]);
    expect(r.address).toBe("/tfbend/ok");
    await until("the OSC bending in the page", () => page.evaluate(() =>
      document.querySelector("#bendings")!.textContent!.includes("Scale(scale=0.250)") && window.tfbend.graph.marked("net_4_conv1", "bended")));
    await oscCommand("set", ["keep", 0.8]);
    await until("the slider moved", async () => Number(await page.inputValue(".control[data-control=keep] input.slider")) === 0.8);
    // remove one from the panel, then reset
    await page.click("li.bending:has-text('Scale(scale=0.250)') button.remove");
    await until("unbend", async () => !oscValues(await oscCommand("bendings")).includes("Scale(scale=0.250)"));
    await page.click("#bend-reset");
    await until("reset", async () => oscValues(await oscCommand("bendings")).length === 0);
    await until("no bending in the page", () => page.evaluate(() => window.tfbend.graph.cy.nodes(".bended").length === 0));
  });

  it("sends an audio file through forward (Input: file) and the plugin reports the page as its input", async () => {
    await tab("output");
    const wav = join(mkdtempSync(join(tmpdir(), "tfbend-panel-in-")), "tone.wav");
    const tone = Float32Array.from({ length: 44100 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 330 * i) / 44100));
    await tb.io.writeWav(wav, tone, 44100);
    await page.setInputFiles("#in-file", wav);
    await until("input chunks sent", () => page.evaluate(() => window.tfbend.input.sent > 20));
    await until("the page is the plugin's input", async () => /^ws \d+$/.test(String(((await wsCommand("status")).dict as Record<string, unknown>).audio_in)));
    const status = (await wsCommand("status")).dict as Record<string, unknown>;
    expect(status).toMatchObject({ method: "forward", streaming: 1 });
    expect(Number(status.input_level_db)).toBeGreaterThan(-20); // the 0.3 tone, through the browser's decoder
    expect(Number(status.blocks)).toBeGreaterThan(0);
    await page.click("#in-stop");
    await wsCommand("stream", "stop");
    await wsCommand("method", "decode");
  });

  it("loads the image model from the panel and shows its frames", async () => {
    expect(Number(await page.textContent("#st2-blocks"))).toBeGreaterThan(0); // the audio model's stream
    await page.selectOption("#model", "image");
    await until("the image model's graph", () => page.evaluate(() => !window.tfbend.graph.cy.getElementById("fc").empty()));
    // the previous model's figures are gone at once
    await until("status reset", async () => (await page.textContent("#st2-blocks")) === "0" && (await page.textContent("#st-p50 .meter-value")) === "–");
    await tab("output");
    // an image model: no volume, no Listen, no audio input box
    await until("image output controls", async () => (await page.textContent("#out-title")) === "Image output");
    for (const hidden of ["#out-volume", "#out-listen", "#listen", "#audio-in-box"]) expect(await page.locator(hidden).isHidden(), hidden).toBe(true);
    await page.click("#tab-output button:has-text('Random')");
    const before = await page.evaluate(() => window.tfbend.output.received);
    await page.click("#out-stream");
    await until("image frames", () => page.evaluate((n) => window.tfbend.output.received > n + 5 && !document.querySelector<HTMLElement>("#out-image-wrap")!.hidden, before));
    const lit = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>("#out-image")!;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      return { w: c.width, h: c.height, varied: new Set(Array.from(d.filter((_, i) => i % 4 === 0))).size };
    });
    expect(lit).toMatchObject({ w: 64, h: 64 });
    expect(lit.varied).toBeGreaterThan(10);
    await shot("output-image");
    // the latent box: one slider per dimension for a short latent; for a long one (the spatial
    // image latent) a heat map of all values where a click picks the dimension one slider edits
    const { latent } = (await wsCommand("state")).dict as { latent: number[] };
    if (latent.length <= 32) expect(await page.locator("#latent input[type=range]").count()).toBe(latent.length);
    else {
      expect(await page.locator("#latent input[type=range]").count()).toBe(1);
      const grid = (await page.locator("#latent-grid").boundingBox())!;
      const rows = Math.ceil(latent.length / 32);
      await page.mouse.click(grid.x + (5.5 / 32) * grid.width, grid.y + (2.5 / rows) * grid.height); // row 2, column 5
      expect(await page.textContent("#latent-grid-label")).toBe("z69");
      const value = await clickSlider("#latent-grid-slider", latent[69] > 0 ? 0.05 : 0.95); // the far end from where it is
      expect(Math.abs(value - latent[69])).toBeGreaterThan(2);
      const sent = await until("the edited dimension in the plugin's state", async () => {
        const now = ((await wsCommand("state")).dict as { latent: number[] }).latent;
        return Math.abs(now[69] - value) < 1e-3 && now;
      });
      expect(sent.filter((v, i) => v !== latent[i])).toHaveLength(1); // only the picked one moved
    }
    // the Status tab: meters, RTF history, and errors as they arrive
    await tab("status");
    await until("RTF history", async () => Number(await page.textContent("#st2-blocks")) > 10 && (await page.locator("#rtf-plot .uplot").count()) === 1);
    expect(Number((await page.textContent("#st-p50 .meter-value"))!)).toBeGreaterThan(0);
    await page.evaluate(() => window.tfbend.app.run("set", "nope", 1));
    await until("the error in the log", async () => (await page.textContent("#log"))!.includes("unknown control 'nope'"));
    expect(await page.getAttribute("#st-errors", "class")).toContain("bad");
    await page.waitForTimeout(600); // one more status poll: two points of history at least
    await shot("status");
    await page.click("#stream");
    await until("the stream stopped", async () => ((await wsCommand("status")).dict as { streaming: number }).streaming === 0);
  });

  it("clusters an image activation in the Bend tab, shows each cluster's mean map, and bends one with a click: the frame changes", async () => {
    if (((await wsCommand("status")).dict as { model: string }).model !== "image") expect((await wsCommand("load", "image")).ok).toBe(true);
    await until("the image model's graph", () => page.evaluate(() => !window.tfbend.graph.cy.getElementById("net_6").empty()));
    expect((await wsCommand("input", "hold")).ok).toBe(true); // the same latent every frame
    await tab("bend");
    await page.fill("#clusters-activation", "net_6");
    await page.fill("#clusters-k", "3");
    const loaded = await page.evaluate(() => window.tfbend.clusters.loaded);
    await page.click("#clusters-run");
    await until("the cluster maps", () => page.evaluate((n) => window.tfbend.clusters.loaded > n && document.querySelectorAll("#clusters .cluster-tile").length === 3, loaded));
    expect(observed.some((m) => m.type === "event" && m.command === "cluster")).toBe(true);
    const maps = await page.evaluate(() => [...document.querySelectorAll<HTMLCanvasElement>("#clusters canvas")].map((c) => c.toDataURL()));
    expect(new Set(maps).size).toBe(3); // each cluster draws something else
    await shot("bend-clusters");

    // The frame as the Output tab shows it, once `frames` more have arrived.
    const frameAfter = async (frames: number): Promise<number[]> => {
      const from = await page.evaluate(() => window.tfbend.output.received);
      await until("frames", () => page.evaluate((n) => window.tfbend.output.received > n, from + frames));
      return page.evaluate(() => new Promise<number[]>((resolve) => requestAnimationFrame(() => {
        // painted on the animation frame after it arrived
        const c = document.querySelector<HTMLCanvasElement>("#out-image")!;
        resolve(Array.from(c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data));
      })));
    };
    await tab("output");
    expect((await wsCommand("stream", "start")).ok).toBe(true);
    const before = await frameAfter(3);
    expect(await frameAfter(3)).toEqual(before); // nothing moves by itself
    await tab("bend");
    await page.selectOption("#clusters-bending", "Rotate 90°");
    await page.click("#clusters .cluster-tile[data-cluster='net_6:c0']");
    await until("the bending reported", () => observed.some((m) => m.type === "event" && m.command === "bend" && JSON.stringify(m.values).includes("net_6:c0")));
    await tab("output");
    const after = await frameAfter(3);
    expect(after.filter((v, i) => v !== before[i]).length).toBeGreaterThan(100);
    expect((await wsCommand("bendings")).values.join(" ")).toContain("net_6:c0");
    expect((await wsCommand("stream", "stop")).ok).toBe(true);
    expect((await wsCommand("reset")).ok).toBe(true);
  });

  it("groups a RAVE-like graph by module: closed at first, opened by a tap or a search, with a minimap", async () => {
    await tab("bend");
    expect((await wsCommand("load", "rave_like.ts")).ok).toBe(true);
    const count = Number(oscValues(await oscCommand("graph"))[1]);
    expect(count).toBeGreaterThan(100);
    await until("the RAVE-like graph", () => page.evaluate((n) => window.tfbend.graph.nodes.length === n, count));
    const first = await page.evaluate(() => {
      const g = window.tfbend.graph;
      return { visible: g.visibleCount, closed: g.visible!.collapsed.map((x) => x.path), groups: g.grouping.groups.size };
    });
    expect(first.visible).toBeLessThan(count / 3);
    expect(first.closed).toEqual(expect.arrayContaining(["encoder.net", "decoder"]));
    expect(await page.textContent("#graph-count")).toContain(`${count} nodes · ${first.groups} groups, ${first.closed.length} closed`);
    // Fit fits what is drawn: readable, not a column of slivers
    await page.click("#graph-fit");
    expect(await page.evaluate(() => window.tfbend.graph.cy.zoom())).toBeGreaterThan(0.4);
    expect(await page.locator(".minimap").isVisible()).toBe(true);
    // a tap on a closed group opens it
    const p = await page.evaluate(() => window.tfbend.graph.clientPoint("group:encoder.net"));
    await page.mouse.click(p!.x, p!.y);
    await until("encoder.net open", () => page.evaluate(() => window.tfbend.graph.expanded.has("group:encoder.net") && !window.tfbend.graph.cy.getElementById("encoder_net_0").empty()));
    // a double tap on an open group's box (its margin, where no node is) closes it
    await page.click("#graph-fit");
    const corner = await page.evaluate(() => {
      const cy = window.tfbend.graph.cy;
      const b = cy.getElementById("group:encoder.net").renderedBoundingBox({ includeLabels: false });
      const box = cy.container()!.getBoundingClientRect();
      return { x: box.left + b.x1 + Math.min(2, 7 * cy.zoom()), y: box.top + (b.y1 + b.y2) / 2 }; // inside the 14-px padding
    });
    await page.mouse.dblclick(corner.x, corner.y);
    await until("encoder.net closed again", () => page.evaluate(() => !window.tfbend.graph.expanded.has("group:encoder.net") && window.tfbend.graph.cy.getElementById("encoder_net_0").empty()));
    // a search finds a node inside closed groups, opens them and selects it
    await page.fill("#graph-search", "decoder_stacks_1_units_0_conv");
    await until("one match", async () => (await page.textContent("#graph-hits")) === "1 match");
    expect(await page.evaluate(() => window.tfbend.graph.marked("decoder_stacks_1_units_0_conv", "match"))).toBe(true);
    await page.press("#graph-search", "Enter");
    await until("the node drawn and selected", async () => (await page.locator("#node-card strong").textContent()) === "decoder_stacks_1_units_0_conv"
      && (await page.evaluate(() => window.tfbend.graph.cy.getElementById("decoder_stacks_1_units_0_conv").selected())));
    const label = await page.evaluate(() => window.tfbend.graph.cy.getElementById("decoder_stacks_1_units_0_conv").data("label") as string);
    expect(label.split("\n")[0]).toBe("decoder_stacks_1_units_0_conv"); // the whole name, not "…0"
    await page.waitForTimeout(300); // the centring animation
    await shot("graph-grouped");
    await page.fill("#graph-search", "");
    await page.click("#graph-collapse");
    await until("every group closed", () => page.evaluate(() => window.tfbend.graph.expanded.size === 0 && window.tfbend.graph.visibleCount === window.tfbend.graph.grouping.top.groups.length + window.tfbend.graph.grouping.top.members.length));
    await page.click("#graph-fit");
    await page.evaluate(() => window.tfbend.app.selectNode(null));
    await shot("graph-closed");
  });

  it("draws a latent stream (encode) as a scrolling heat map, and says what the method takes", async () => {
    await tab("output");
    await wsCommand("method", "encode");
    await until("the encode panes", async () => (await page.textContent("#out-title"))!.startsWith("Latent output · encode"));
    expect(await page.textContent("#latent-note")).toContain("encode takes audio");
    expect(await page.textContent("#latent")).not.toContain("takes no latent input");
    expect(await page.locator("#audio-in-box").isVisible()).toBe(true);
    expect(await page.textContent("#in-title")).toContain("encode");
    await page.click("#out-stream");
    await until("the no-input hint", async () => (await page.textContent("#out-hint"))!.includes("encode takes audio and none is arriving"));
    const wav = join(workspace, "tone.wav");
    const tone = Float32Array.from({ length: 44100 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 44100) * (1 + Math.sin(i / 3000)));
    await tb.io.writeWav(wav, tone, 44100);
    await page.setInputFiles("#in-file", wav);
    await until("latent frames drawn", () => page.evaluate(() => window.tfbend.output.latentReceived > 64 && !document.querySelector<HTMLElement>("#out-latent-wrap")!.hidden), 20_000);
    await until("blocks/s counted", async () => /· [1-9][\d.]* blocks\/s|· 0\.[1-9]\d* blocks\/s/.test((await page.textContent("#out-stats"))!));
    const heat = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>("#out-latent")!;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      return { rows: c.height, cols: c.width, colours: new Set(Array.from({ length: d.length / 4 }, (_, i) => `${d[i * 4]},${d[i * 4 + 1]},${d[i * 4 + 2]}`)).size };
    });
    expect(heat.rows).toBe(3); // rave_like's latent channels
    expect(heat.cols).toBeGreaterThan(64);
    expect(heat.colours).toBeGreaterThan(10);
    expect(await page.textContent("#out-latent-wrap .heat-legend")).toMatch(/^-?[\d.e+-]+-?[\d.e+-]+$/); // −m … +m
    expect(await page.textContent("#out-hint")).toBe("");
    await shot("output-latent");
    await page.click("#in-stop");
    await wsCommand("stream", "stop");
  });

  it("lays out a graph of hundreds of nodes quickly", async () => {
    // one evaluation: a refresh from the plugin cannot redraw the real graph in between
    const ms = await page.evaluate(() => {
      const nodes = [{ name: "x", op: "placeholder", target: "x", inputs: [] as string[], shape: "[1,3,224,224]", bended: false }];
      for (let i = 0; i < 600; i++) {
        const inputs = [nodes[nodes.length - 1].name];
        if (i % 7 === 3) inputs.push(nodes[nodes.length - 4]?.name ?? "x");
        nodes.push({ name: `block_${Math.floor(i / 6)}_op_${i % 6}`, op: i % 3 ? "call_module" : "call_function", target: `block.${i}`, inputs, shape: "[1,64,56,56]", bended: i % 40 === 0 });
      }
      const g = window.tfbend.graph;
      const t0 = performance.now();
      window.tfbend.renderGraph(nodes);
      const closed = g.visibleCount;
      g.expandAll(); // the worst case: every node drawn
      const took = performance.now() - t0;
      return { took, closed, count: g.visible!.nodes.length, bended: g.cy.nodes(".bended").length };
    });
    expect(ms).toMatchObject({ count: 601, bended: 15 });
    expect(ms.closed).toBeLessThan(10); // one group "block", closed
    expect(ms.took).toBeLessThan(5000);
    console.log(`panel.test: 601-node graph laid out and drawn in ${Math.round(ms.took)} ms`);
    expect(pageErrors).toEqual([]);
  });
});

describe("panel commands (query-only: nothing changes, nothing is announced)", () => {
  it("peek reads activations, original and bended, without advancing the stream", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-panel-"));
    const sessions = [new tb.control.Session({ workspace, modelsDir: MODELS }), new tb.control.Session({ workspace, modelsDir: MODELS })];
    const blocks: Float32Array[][] = [[], []];
    for (const s of sessions) {
      expect((await s.execute(["load", "audio"])).ok).toBe(true);
      await s.execute(["input", 0.5, -1, 0.3, 1.2, 0, -0.4, 0.8, -0.2]);
      expect((await s.execute(["bend", "net_3_conv1", "mask", "prob", 0.5, "seed", 7])).ok).toBe(true);
    }
    let peek: tb.control.Reply | undefined;
    for (let k = 0; k < 3; k++) {
      blocks[0].push((await sessions[0].renderBlock()).data);
      blocks[1].push((await sessions[1].renderBlock()).data);
      peek = await sessions[1].execute(["peek", "net_3_conv1", "net_19"]);
      expect(peek.ok).toBe(true);
    }
    // the streamed blocks are the same with and without peeks in between (causal caches untouched)
    for (let k = 0; k < 3; k++) expect(Array.from(blocks[1][k])).toEqual(Array.from(blocks[0][k]));
    const [heat, wave] = (peek!.dict as { items: { name: string; original: { layout: string; dims: number[]; data: number[] }; bended: { data: number[] } }[] }).items;
    expect(heat).toMatchObject({ name: "net_3_conv1", original: { layout: "heat", dims: [64, 32] } });
    expect(heat.bended.data).not.toEqual(heat.original.data);
    expect(heat.bended.data.filter((v) => v === 0).length).toBeGreaterThan(heat.original.data.filter((v) => v === 0).length);
    expect(wave).toMatchObject({ name: "net_19", original: { layout: "wave", dims: [2048] } });
    expect((await sessions[0].execute(["peek", "nothing"])).ok).toBe(false);
    for (const s of sessions) s.dispose();
  });

  it("weight statistics and histograms compare the original weights with those the next pass uses", async () => {
    const s = new tb.control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-panel-")), modelsDir: MODELS });
    await s.execute(["load", "audio"]);
    type Row = { name: string; size: number; bended: boolean; changed: boolean; original: { std: number }; current: { std: number } };
    const rows = async () => ((await s.execute(["weightstats"])).dict as { weights: Row[] }).weights;
    expect((await rows()).every((r) => !r.changed && !r.bended)).toBe(true);
    await s.execute(["bend", "net.0.weight", "scale", "scale", 2]);
    const w = (await rows()).find((r) => r.name === "net.0.weight")!;
    expect(w).toMatchObject({ bended: true, changed: true });
    expect(w.current.std).toBeCloseTo(2 * w.original.std, 3);
    const hist = (await s.execute(["histogram", "net.0.weight", 32])).dict as { original: number[]; current: number[]; lo: number; hi: number; changed: boolean };
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    expect(hist.original).toHaveLength(32);
    expect(sum(hist.original)).toBe(w.size);
    expect(sum(hist.current)).toBe(w.size);
    expect(hist.changed).toBe(true);
    expect((await s.execute(["histogram", "nope"])).ok).toBe(false);
    const callbacks = (await s.execute(["callbacks"])).dict as { type: string; args: { name: string; value: unknown }[] }[];
    expect(callbacks.find((c) => c.type === "Mask")?.args.map((a) => a.name)).toEqual(["prob", "dim"]);
    expect(callbacks.find((c) => c.type === "Permute")?.args.map((a) => a.name)).toContain("dim");
    expect(callbacks.some((c) => c.type === "Lambda")).toBe(false);
    // the stream starts its latent walk at the encoder's latent mean
    const latentMean = JSON.parse(s.bended!.metadata.latent_mean) as number[];
    expect((await s.execute(["state"])).dict).toMatchObject({ model: "audio", kind: "audio", method: "decode", latent: latentMean, version: "_default" });
    s.dispose();
  });

  it("groups a RAVE v1-like graph by module path: every node once, no one-node groups, closed within the budget", async () => {
    const workspace = mkdtempSync(join(tmpdir(), "tfbend-panel-"));
    copyFileSync(join(import.meta.dirname, "fixtures/torchscript/rave_v1_like.ts"), join(workspace, "rave_v1_like.ts"));
    const s = new tb.control.Session({ workspace, modelsDir: MODELS });
    expect((await s.execute(["load", "rave_v1_like.ts"])).ok).toBe(true);
    const nodes = ((await s.execute(["graph"])).dict as { nodes: { name: string; op: string; target: string; inputs: string[]; shape: string; bended: boolean }[] }).nodes;
    s.dispose();
    expect(nodes.length).toBeGreaterThan(200);
    const g = groupByModule(nodes);
    const paths = [...g.groups.values()].map((x) => x.path);
    expect(paths).toEqual(expect.arrayContaining(["encoder.net", "decoder"]));
    // each node sits in one group (or the top level), and a group's size counts what is inside
    const placed = [...g.top.members, ...[...g.groups.values()].flatMap((x) => x.members)];
    expect(placed.sort()).toEqual(nodes.map((n) => n.name).sort());
    for (const x of g.groups.values()) {
      expect(x.size).toBeGreaterThanOrEqual(2);
      expect(x.size).toBe(x.members.length + x.children.reduce((a, c) => a + g.groups.get(c)!.size, 0));
    }
    // a module call sits inside its module path's group
    const conv = nodes.find((n) => n.op === "call_module" && n.target.startsWith("decoder."))!;
    expect(ancestors(g, conv.name).map((id) => g.groups.get(id)!.path).every((p) => conv.target.startsWith(`${p}.`))).toBe(true);
    const opened = initialExpansion(g, 30);
    const first = visibleGraph(nodes, g, opened);
    expect(first.nodes.length + first.collapsed.length).toBeLessThanOrEqual(30);
    expect(first.collapsed.length).toBeGreaterThan(0);
    // fully open: every node drawn, every edge between two nodes drawn once
    const all = visibleGraph(nodes, g, new Set(g.groups.keys()));
    expect(all.nodes.length).toBe(nodes.length);
    const names = new Set(nodes.map((n) => n.name));
    const edges = new Set(nodes.flatMap((n) => n.inputs.filter((i) => names.has(i) && i !== n.name).map((i) => `${i}->${n.name}`)));
    expect(all.edges.length).toBe(edges.size);
  });
});
