// npm run soak -- --minutes N [--engine native|wasm|auto]: the plugin process (`tfbend serve`, started
// here as its own process, as a user runs it) on the shipped audio model, streaming,
// while ~1,000 control messages a second arrive (set, get, status, interpolate,
// bend/unbend, write with the version cap, version delete) over WebSocket and OSC, and
// WebSocket clients connect and leave. All on 127.0.0.1; stops by itself after N minutes.
// Every 10 s: blocks received vs real time, dropped, max gap, reply p50/p99, RSS; at the
// end the totals and the RSS slope after the first minute. RSS is the plugin process's (its `status`
// rss_mb), not this load generator's.
// --switch-models S: every S seconds, `load` alternately a second audio model (the
// TorchScript fixture rave_like.ts, copied into the workspace) and the shipped `audio`
// while the stream runs; the switch replies are listed at the end.
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const { transports } = tb;
const { values: opts } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    rate: { type: "string", default: "1000" },
    "max-versions": { type: "string", default: "8" },
    // what computes blocks, as the plugin's --engine: native, wasm, auto (native where ONNX Runtime loads)
    engine: { type: "string", default: "auto" },
    "switch-models": { type: "string", default: "0" },
  },
});
const MINUTES = Number(opts.minutes);
const RATE = Number(opts.rate);
const MAX_VERSIONS = Number(opts["max-versions"]);
if (!(MINUTES > 0 && MINUTES <= 120) || !(RATE > 0 && RATE <= 20000)) throw new Error("--minutes in (0, 120], --rate in (0, 20000]");
const SWITCH_S = Number(opts["switch-models"]);
if (!(SWITCH_S >= 0)) throw new Error("--switch-models <seconds>: 0 (off) or more");
const REPORT_MS = 10_000;
const workspace = mkdtempSync(join(tmpdir(), "tfbend-soak-"));
// The second model of --switch-models: a RAVE-like TorchScript archive in the workspace.
const SECOND_MODEL = "rave_like.ts";
if (SWITCH_S > 0) copyFileSync(new URL("../test/fixtures/torchscript/rave_like.ts", import.meta.url).pathname, join(workspace, SECOND_MODEL));

// The plugin as a user starts it, on ports the system picks (it prints them).
const plugin = spawn(process.execPath, [new URL("../dist/cli.js", import.meta.url).pathname, "serve",
  "--osc-port", "0", "--ws-port", "0", "--workspace", workspace, "--models", new URL("../models", import.meta.url).pathname,
  "--max-versions", String(MAX_VERSIONS), "--engine", opts.engine], { stdio: ["ignore", "pipe", "inherit"] });
let pluginExited = false;
let stopping = false;
plugin.once("exit", (code, signal) => {
  pluginExited = true;
  if (!stopping) {
    console.error(`the plugin exited during the soak (code ${code}, signal ${signal})`);
    process.exit(1);
  }
});
const ports = await new Promise((resolve, reject) => {
  let text = "";
  const onData = (chunk) => {
    text += chunk;
    const m = /OSC on udp:\/\/[^:]+:(\d+)\s+WebSocket on ws:\/\/[^:]+:(\d+)/.exec(text);
    if (!m) return;
    plugin.stdout.off("data", onData);
    plugin.stdout.resume();
    console.log(text.split("\n").filter((l) => l.startsWith("tfbend: engine")).join("\n"));
    resolve({ osc: Number(m[1]), ws: Number(m[2]) });
  };
  plugin.stdout.setEncoding("utf8").on("data", onData);
  plugin.once("exit", () => reject(new Error(`the plugin exited before it listened:\n${text}`)));
});
const url = `ws://127.0.0.1:${ports.ws}`;
const open = async () => {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return socket;
};
const BEND_KEEP = ["bend", "net_7_conv1", "mask", "prob", "@keep=0.5", "dim", -2];

// --- the listener: blocks as a patch receives them ------------------------------------
const listener = await open();
const blockMs = (2048 / 44100) * 1000;
let blocks = 0;
let lastSeq = -1;
let seqGaps = 0;
let lastFrameAt = 0;
let intervalMaxGap = 0;
let maxGap = 0;
listener.on("message", (data, binary) => {
  if (!binary) return;
  const seq = data.readUInt32LE(8);
  if (lastSeq >= 0 && seq > lastSeq + 1) seqGaps += seq - lastSeq - 1;
  lastSeq = seq;
  const now = performance.now();
  if (lastFrameAt > 0) {
    intervalMaxGap = Math.max(intervalMaxGap, now - lastFrameAt);
    maxGap = Math.max(maxGap, now - lastFrameAt);
  }
  lastFrameAt = now;
  blocks++;
});

// --- control traffic: WebSocket JSON with ids (exact latencies) and OSC (replies by order) ---
const control1 = await open();
const pending = new Map();
let nextId = 1;
let intervalLatencies = [];
const allLatencies = { set: [], get: [], other: [] };
let sent = 0;
let answered = 0;
let errors = 0;
const errorKinds = new Set();
control1.on("message", (data, binary) => {
  if (binary) return;
  const m = JSON.parse(String(data));
  if (m.type !== "reply") return;
  if (m.command === "status" && m.ok && m.dict) sampleStatus(m.dict);
  const waiter = waiters.get(m.id);
  if (waiter) {
    waiters.delete(m.id);
    waiter(m);
    return;
  }
  if (!pending.has(m.id)) return;
  const { t0, command } = pending.get(m.id);
  pending.delete(m.id);
  const ms = performance.now() - t0;
  if (command === "load") switchReplies.push({ at: (performance.now() - runStart) / 1000, ms, ok: m.ok, says: String(m.values.join(" ")).slice(0, 160) });
  intervalLatencies.push(ms);
  (allLatencies[command] ?? allLatencies.other).push(ms);
  answered++;
  if (!m.ok) {
    errors++;
    const why = `${m.command}: ${m.values[0]}`;
    if (!errorKinds.has(why) && errorKinds.size < 10) errorKinds.add(why);
  }
});
/** Replies awaited by `command` (setup and teardown), by id. */
const waiters = new Map();
/** One command outside the measured traffic; resolves with its reply. */
const command = (cmd, args = []) => new Promise((resolve) => {
  const id = nextId++;
  waiters.set(id, resolve);
  control1.send(JSON.stringify({ cmd, args, id }));
});
/** --switch-models: each `load` reply (when, how long, ok, what it said). */
const switchReplies = [];
let runStart = performance.now();
const wsSend = (cmd, args = []) => {
  const id = nextId++;
  pending.set(id, { t0: performance.now(), command: cmd });
  control1.send(JSON.stringify({ cmd, args, id }));
  sent++;
};
const udp = createSocket("udp4");
await new Promise((r) => udp.bind(0, "127.0.0.1", r));
const oscTimes = [];
udp.on("message", (data) => {
  const m = osc.readPacket(new Uint8Array(data), { metadata: true });
  if (m.address !== "/tfbend/ok" && m.address !== "/tfbend/error") return;
  const t0 = oscTimes.shift();
  if (t0 === undefined) return;
  const ms = performance.now() - t0;
  intervalLatencies.push(ms);
  allLatencies.set.push(ms);
  answered++;
});
const oscSend = (command, atoms) => {
  oscTimes.push(performance.now());
  udp.send(osc.writePacket({ address: `/tfbend/${command}`, args: transports.toOscArgs(atoms) }, { metadata: true }), ports.osc, "127.0.0.1");
  sent++;
};

// Versions written so far (oldest first); at the cap the oldest is deleted first.
const written = [];
let writes = 0;
let step = 0;
// A patch's traffic: mostly controls, sometimes a structural change.
function sendOne() {
  step++;
  const r = step % 1000;
  const v = (step % 97) / 97;
  if (r < 300) wsSend("set", ["keep", v]);
  else if (r < 500) oscSend("set", ["keep", v]);
  else if (r < 750) wsSend("get", ["keep"]);
  else if (r < 900) wsSend("status");
  else if (r < 950) wsSend("controls");
  else if (r < 960 && written.length > 0) wsSend("interpolate", ["default", 1, written.at(-1), 1 + v]);
  else if (r < 965) wsSend("bend", ["net_6_conv", "scale", "scale", 1 + v]);
  else if (r < 970) wsSend("unbend", ["net_6_conv"]);
  else if (r < 980) wsSend("version", ["default"]);
  else wsSend("versions");
}
/** About one write every 2 s; at the cap, switch to default and delete the oldest version first. */
function writeVersion() {
  if (written.length >= MAX_VERSIONS) {
    wsSend("version", ["default"]);
    wsSend("version", ["delete", written.shift()]);
  }
  const name = `w${writes++}`;
  wsSend("write", [name]);
  written.push(name);
}

/** --switch-models: the other model than the one loaded last; `audio` gets its `keep` bending back. */
let switches = 0;
function switchModel() {
  const toSecond = switches++ % 2 === 0;
  // rave_like's `forward` waits for audio in (the soak sends none): its `decode` streams from latents.
  switchSentAt.push((performance.now() - runStart) / 1000);
  wsSend("load", toSecond ? [SECOND_MODEL, "decode"] : ["audio"]);
  // Versions belong to the model that is replaced: the new one starts with none.
  written.length = 0;
  if (!toSecond) wsSend(BEND_KEEP[0], BEND_KEEP.slice(1));
}

// --- churn: a client connects, asks for status, leaves (5 per second) -------------------
let churned = 0;
let churnFailures = 0;
async function churnOnce() {
  try {
    const socket = await open();
    await new Promise((resolve) => {
      socket.once("message", resolve);
      socket.send("status");
      setTimeout(resolve, 1000);
    });
    socket.terminate();
    churned++;
  } catch {
    churnFailures++;
  }
}

// --- run -------------------------------------------------------------------------------
for (const reply of [await command(BEND_KEEP[0], BEND_KEEP.slice(1)), await command("stream", ["start"])]) {
  if (!reply.ok) throw new Error(`${reply.command}: ${reply.values.join(" ")}`);
}
const t0 = performance.now();
runStart = t0;
const end = t0 + MINUTES * 60_000;
let sentTarget = 0;
const traffic = setInterval(() => {
  // Paced by elapsed time, catching up at most 100 ms behind.
  const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
  sentTarget = Math.max(sentTarget, due - RATE / 10);
  while (sentTarget < due) {
    sendOne();
    sentTarget++;
  }
}, 5);
const versions = setInterval(writeVersion, 2000);
const churn = setInterval(() => void churnOnce(), 200);
const modelSwitches = SWITCH_S > 0 ? setInterval(switchModel, SWITCH_S * 1000) : null;

// Late blocks: the session's `dropped` starts again at 0 with each model (and thread), so it is
// read from every `status` reply (about 150 a second) and every fall counts what it had reached.
let lateBefore = 0;
let lateLast = 0;
const lateNow = () => lateBefore + lateLast;
/** When (s into the run) the late count went up, to tell late blocks at a switch from the others. */
const lateAt = [];
/** The plugin's last status (memory columns of the report). */
let lastStatus = {};
function sampleStatus(status) {
  lastStatus = status;
  const before = lateNow();
  const dropped = Number(status.dropped ?? 0);
  if (dropped < lateLast) lateBefore += lateLast;
  lateLast = dropped;
  for (let i = before; i < lateNow(); i++) lateAt.push((performance.now() - t0) / 1000);
}
/** --switch-models: when each `load` was sent (s into the run). */
const switchSentAt = [];

const rows = [];
const rssSamples = [];
console.log("| t s | blocks | real-time blocks | received % | dropped | max gap ms | replies | reply p50 ms | reply p99 ms | plugin RSS MB | versions MB | inference heap MB | tensor MB | wasm MB |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
await new Promise((resolveRun) => {
  const report = setInterval(() => {
    const now = performance.now();
    const t = (now - t0) / 1000;
    const status = lastStatus;
    const lat = intervalLatencies.sort((a, b) => a - b);
    intervalLatencies = [];
    const rss = Number(status.rss_mb ?? NaN);
    rssSamples.push([t, rss]);
    const expected = (t * 1000) / blockMs;
    // frames the server skipped for a slow reader show as gaps in the block sequence
    const dropped = lateNow() + seqGaps;
    const row = { t, blocks, expected, dropped, gap: intervalMaxGap, replies: lat.length, p50: quantile(lat, 0.5) ?? 0, p99: quantile(lat, 0.99) ?? 0, rss, versionMb: Number(status.version_mb ?? 0) };
    rows.push(row);
    intervalMaxGap = 0;
    console.log(`| ${t.toFixed(0)} | ${blocks} | ${expected.toFixed(0)} | ${((100 * blocks) / expected).toFixed(1)} | ${dropped} | ${row.gap.toFixed(1)} | ${row.replies} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${rss.toFixed(0)} | ${row.versionMb.toFixed(1)} | ${status.heap_mb ?? "?"} | ${status.tensor_mb ?? "?"} | ${status.wasm_mb ?? "?"} |`);
    if (now >= end) {
      clearInterval(report);
      resolveRun();
    }
  }, REPORT_MS);
});
clearInterval(traffic);
clearInterval(versions);
clearInterval(churn);
if (modelSwitches) clearInterval(modelSwitches);
// the stream's figures before it stops (a stop or a switch starts them again)
const finalStatus = (await command("status")).dict;
await command("stream", ["stop"]);

/** Least-squares slope of RSS (MB per minute) over the samples after the first minute. */
function slope(samples) {
  const xs = samples.filter(([t]) => t > 60);
  if (xs.length < 2) return NaN;
  const mx = xs.reduce((s, [t]) => s + t, 0) / xs.length;
  const my = xs.reduce((s, [, y]) => s + y, 0) / xs.length;
  const num = xs.reduce((s, [t, y]) => s + (t - mx) * (y - my), 0);
  const den = xs.reduce((s, [t]) => s + (t - mx) ** 2, 0);
  return (num / den) * 60;
}
const seconds = (performance.now() - t0) / 1000;
const q = (xs, p) => quantile([...xs].sort((a, b) => a - b), p) ?? 0;
const all = [...allLatencies.set, ...allLatencies.get, ...allLatencies.other];
const status = finalStatus;
console.log("");
console.log(`${seconds.toFixed(0)} s: ${blocks} blocks received, ${((100 * blocks) / ((seconds * 1000) / blockMs)).toFixed(1)}% of real time; dropped ${lateNow() + seqGaps} (late ${lateNow()}, seq gaps ${seqGaps}, which include frames the server skipped); max gap ${maxGap.toFixed(1)} ms (block ${blockMs.toFixed(1)} ms)`);
console.log(`control: ${sent} sent (${(sent / seconds).toFixed(0)}/s), ${answered} answered, ${errors} errors, ${writes} writes (cap ${MAX_VERSIONS}); ${churned} connections churned (${churnFailures} failed)`);
if (errorKinds.size) console.log(`error replies (first kinds): ${[...errorKinds].join(" | ")}`);
console.log(`reply ms: all p50 ${fmt(q(all, 0.5))} p99 ${fmt(q(all, 0.99))}; set p50 ${fmt(q(allLatencies.set, 0.5))} p99 ${fmt(q(allLatencies.set, 0.99))}; get p50 ${fmt(q(allLatencies.get, 0.5))} p99 ${fmt(q(allLatencies.get, 0.99))}`);
console.log(`stream RTF p50 ${status.rtf_p50} p95 ${status.rtf_p95}; plugin RSS ${rssSamples[0]?.[1].toFixed(0)} → ${rssSamples.at(-1)?.[1].toFixed(0)} MB, slope after the first minute ${slope(rssSamples).toFixed(2)} MB/min`);

if (SWITCH_S > 0) {
  const ok = switchReplies.filter((r) => r.ok).length;
  const ms = switchReplies.map((r) => r.ms);
  console.log(`model switches: ${switches} sent every ${SWITCH_S} s, ${switchReplies.length} answered, ${ok} ok; load reply ms p50 ${fmt(q(ms, 0.5))} max ${fmt(q(ms, 1))}; pending replies at the end ${pending.size}`);
  for (const r of switchReplies) console.log(`  t=${r.at.toFixed(1)} s ${r.ms.toFixed(0)} ms ${r.ok ? "ok" : "ERROR"}: ${r.says}`);
  // A late block counts against a switch from its `load` until 2 s after the reply.
  const atSwitch = lateAt.filter((t) => switchSentAt.some((sentAt, i) => t >= sentAt && t <= sentAt + (switchReplies[i]?.ms ?? 0) / 1000 + 2)).length;
  console.log(`late blocks during a switch (its load to 2 s after its reply): ${atSwitch}; at other times: ${lateAt.length - atSwitch}`);
}
if (lateAt.length > 0) console.log(`late blocks at t = ${lateAt.map((t) => t.toFixed(1)).join(", ")} s`);
udp.close();
listener.terminate();
control1.terminate();
stopping = true;
if (!pluginExited) {
  plugin.kill("SIGTERM");
  await new Promise((r) => plugin.once("exit", r));
}
process.exit(0);
