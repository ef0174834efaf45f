// The panel opened beside a live stream: the RAVE-v2-sized decoder (bench/rave_decoder.py,
// an nn~-style export, method decode) streams at 2048 samples on the chosen engine while
// headless Chromium opens the panel, waits until the graph and the weight statistics are drawn,
// and closes it, `--loads` times. Between loads the stream runs alone for as long as a load
// took, so late blocks with the page opening can be told from late blocks of a loaded machine.
// Also: how long each command the page sends at load keeps the inference thread (reply time).
//
//   node bench/panel-load.js [--loads 10] [--engine native|wasm] [--block 2048] [--model <file.ts>] [--no-ahead]
//
// Needs Chromium (/usr/bin/chromium, or TFBEND_CHROMIUM). Wall-clock figures: an idle machine.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { spawnSync } from "node:child_process";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import * as tb from "tfbend";
import { PAGE_LOAD_AHEAD_MS, panelRoute } from "../dist/transports/panel-files.js";
import { writeRaveExport } from "./rave.js";
import { fmt, quantile } from "./util.js";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const loads = Number(arg("loads", 10));
const engineChoice = arg("engine", tb.native.nativeAvailable() ? "native" : "wasm");
const blockSamples = Number(arg("block", 2048));
const CHROMIUM = process.env.TFBEND_CHROMIUM ?? "/usr/bin/chromium";
/** The commands a fresh page sends at once (panel/src/app.ts fetch), timed one by one. */
const PAGE_COMMANDS = [["state"], ["models"], ["callbacks"], ["graph"], ["weightstats"], ["bendings"], ["controls"], ["versions"], ["status"]];

if (!existsSync(CHROMIUM)) {
  console.log(`panel-load: no Chromium at ${CHROMIUM}; not measured`);
  process.exit(0);
}
const workspace = mkdtempSync(join(tmpdir(), "tfbend-panel-load-"));
const given = arg("model", null);
let model = "rave_v2.ts";
if (given !== null) {
  model = basename(given);
  copyFileSync(given, join(workspace, model));
} else {
  const why = writeRaveExport(join(workspace, model));
  if (why !== null) {
    console.log(`panel-load: no RAVE-v2-sized export (${why}); pass --model <file.ts>`);
    process.exit(0);
  }
}

const engine = await tb.control.Engine.start({
  modelsDir: new URL("../models", import.meta.url).pathname, workspace, model, blockSamples, engine: engineChoice,
});
// as the plugin serves it (src/cli.ts): the page asks the stream to render ahead while it loads; --no-ahead leaves that out
const ahead = !process.argv.includes("--no-ahead");
const ws = new tb.transports.WsServer(engine, {
  host: "127.0.0.1", port: 0, http: panelRoute({ onPage: ahead ? () => void engine.execute(["ahead", PAGE_LOAD_AHEAD_MS]) : undefined }),
});
await ws.ready;
const ok = async (...atoms) => {
  const r = await engine.execute(atoms);
  if (!r.ok) throw new Error(`${atoms.join(" ")}: ${r.values.join(" ")}`);
  return r;
};
if ((await engine.execute(["method", "decode"])).ok === false) console.log("no decode method: streaming the model's default");
const status = async () => (await ok("status")).dict;

// each page-load command's reply time, the stream not running (the inference thread's own cost)
const commandMs = Object.fromEntries(PAGE_COMMANDS.map(([c]) => [c, []]));
for (let round = 0; round < 3; round++) {
  for (const atoms of PAGE_COMMANDS) {
    const t0 = performance.now();
    await ok(...atoms);
    commandMs[atoms[0]].push(performance.now() - t0);
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
await ok("stream", "start");
const settle = Date.now() + 3000;
while (Date.now() < settle) await new Promise((r) => setTimeout(r, 100));

/** Late blocks (status `dropped`) over `run()`. */
async function droppedOver(run) {
  const before = Number((await status()).dropped);
  const t0 = performance.now();
  await run();
  return { dropped: Number((await status()).dropped) - before, ms: performance.now() - t0 };
}

/** The page's load-time commands at once from a WebSocket client: tfbend's share of a load, without a browser's CPU. */
async function commandsOnly() {
  const client = new WebSocket(`ws://127.0.0.1:${ws.port}`);
  await new Promise((r) => client.once("open", r));
  let left = PAGE_COMMANDS.length;
  const done = new Promise((r) => client.on("message", (data, binary) => {
    if (!binary && JSON.parse(String(data)).type === "reply" && --left === 0) r();
  }));
  PAGE_COMMANDS.forEach((atoms, id) => client.send(JSON.stringify({ cmd: atoms[0], args: atoms.slice(1), id })));
  await done;
  client.close();
}

const withPage = [];
const alone = [];
const commands = [];
for (let i = 0; i < loads; i++) {
  commands.push(await droppedOver(commandsOnly));
  const load = await droppedOver(async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${ws.port}/`);
    await page.waitForFunction(() => (window.tfbend?.graph.nodes.length ?? 0) > 0 && window.tfbend.app.weightNames.length > 0, null, { timeout: 60000 });
    await page.close();
  });
  withPage.push(load);
  alone.push(await droppedOver(() => new Promise((r) => setTimeout(r, load.ms))));
}
const final = await status();
await ok("stream", "stop");
await browser.close();
await ws.close();
await engine.close();
rmSync(workspace, { recursive: true, force: true });

const cpu = spawnSync("lscpu", { encoding: "utf8" }).stdout?.match(/Model name:\s*(.+)/)?.[1]?.trim() ?? "unknown CPU";
const sum = (xs) => xs.reduce((a, b) => a + b.dropped, 0);
console.log(`\n## Panel page loads beside the stream (${model}, ${final.method}, ${final.method_engine}, block ${final.block}; ${ahead ? `rendering ahead ${PAGE_LOAD_AHEAD_MS} ms from the page request` : "no render-ahead"}; ${cpu})`);
console.log("\n| command a fresh page sends | reply ms, p50 | max |");
console.log("|---|---:|---:|");
for (const [c, ms] of Object.entries(commandMs)) console.log(`| ${c} | ${fmt(quantile(ms, 0.5))} | ${fmt(Math.max(...ms))} |`);
console.log(`\n| window | count | ms each, p50 | late blocks |`);
console.log("|---|---:|---:|---:|");
console.log(`| a page opened, drawn and closed | ${loads} | ${fmt(quantile(withPage.map((l) => l.ms), 0.5))} | ${sum(withPage)} |`);
console.log(`| the stream alone, as long | ${loads} | ${fmt(quantile(alone.map((l) => l.ms), 0.5))} | ${sum(alone)} |`);
console.log(`| the page's commands at once, no browser | ${loads} | ${fmt(quantile(commands.map((l) => l.ms), 0.5))} | ${sum(commands)} |`);
console.log(`\nWhole run: ${final.blocks} blocks, ${final.dropped} late, RTF p50 ${final.rtf_p50} / p95 ${final.rtf_p95}`);
