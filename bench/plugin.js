// The plugin process on the shipped audio model: command round trips over OSC and
// WebSocket on 127.0.0.1 (idle), the delay from `set` to the first block that reflects
// it, and streaming RTF and dropped blocks while 1,000 control messages a second arrive.
// BENCH_STREAM_SECONDS (default 60) sets the streaming run's length.
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import osc from "osc";
import WebSocket from "ws";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const { control, transports } = tb;
const STREAM_SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 60);

export async function runPlugin() {
  const engine = await control.Engine.start({
    modelsDir: new URL("../models", import.meta.url).pathname,
    workspace: mkdtempSync(join(tmpdir(), "tfbend-bench-")),
    model: "audio",
  });
  const oscServer = new transports.OscServer(engine, { port: 0 });
  const wsServer = new transports.WsServer(engine, { port: 0 });
  await Promise.all([oscServer.ready, wsServer.ready]);
  await engine.execute(["bend", "net_7_conv1", "mask", "prob", "@keep=0.5", "dim", -2]);

  // OSC client
  const udp = createSocket("udp4");
  await new Promise((r) => udp.bind(0, "127.0.0.1", r));
  let oscWaiter = null;
  udp.on("message", (data) => {
    const m = osc.readPacket(new Uint8Array(data), { metadata: true });
    if (oscWaiter && (m.address === "/tfbend/ok" || m.address === "/tfbend/error")) oscWaiter();
  });
  const oscSend = (command, atoms) => udp.send(osc.writePacket({ address: `/tfbend/${command}`, args: transports.toOscArgs(atoms) }, { metadata: true }), oscServer.port, "127.0.0.1");
  const oscRoundTrip = (command, atoms) => new Promise((resolve) => {
    const t0 = performance.now();
    oscWaiter = () => {
      oscWaiter = null;
      resolve(performance.now() - t0);
    };
    oscSend(command, atoms);
  });

  // WebSocket client
  const ws = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
  await new Promise((r) => ws.once("open", r));
  let wsWaiter = null;
  let frameWaiter = null;
  let frames = 0;
  ws.on("message", (data, binary) => {
    if (binary) {
      frames++;
      frameWaiter?.();
      return;
    }
    if (JSON.parse(String(data)).type === "reply") wsWaiter?.();
  });
  const wsRoundTrip = (line) => new Promise((resolve) => {
    const t0 = performance.now();
    wsWaiter = () => {
      wsWaiter = null;
      resolve(performance.now() - t0);
    };
    ws.send(line);
  });

  const rtt = { osc: { get: [], status: [] }, ws: { get: [], status: [] } };
  for (let i = 0; i < 300; i++) {
    rtt.osc.get.push(await oscRoundTrip("get", ["keep"]));
    rtt.osc.status.push(await oscRoundTrip("status", []));
    rtt.ws.get.push(await wsRoundTrip("get keep"));
    rtt.ws.status.push(await wsRoundTrip("status"));
  }

  // set → first block computed after it
  await engine.execute(["stream", "start"]);
  await new Promise((r) => setTimeout(r, 500));
  const setToBlock = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    await wsRoundTrip(`set keep ${(i % 10) / 10}`);
    await new Promise((resolve) => (frameWaiter = () => {
      frameWaiter = null;
      resolve();
    }));
    setToBlock.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await engine.execute(["stream", "stop"]);

  // streaming under a control flood
  await engine.execute(["stream", "start"]);
  const framesBefore = frames;
  let sent = 0;
  const flood = setInterval(() => {
    for (let i = 0; i < 10; i++) oscSend("set", ["keep", Math.random()]), sent++;
  }, 10);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, STREAM_SECONDS * 1000));
  clearInterval(flood);
  const seconds = (performance.now() - t0) / 1000;
  const status = (await engine.execute(["status"])).dict;
  await engine.execute(["stream", "stop"]);

  udp.close();
  ws.close();
  oscServer.close();
  await wsServer.close();
  await engine.close();
  const q = (xs) => ({ p50: quantile([...xs].sort((a, b) => a - b), 0.5), p95: quantile([...xs].sort((a, b) => a - b), 0.95) });
  return {
    backend: status.backend,
    rtt: { oscGet: q(rtt.osc.get), oscStatus: q(rtt.osc.status), wsGet: q(rtt.ws.get), wsStatus: q(rtt.ws.status) },
    setToBlock: q(setToBlock),
    stream: { seconds, messagesPerSecond: sent / seconds, blocks: frames - framesBefore, status },
  };
}

export function printPlugin(r) {
  console.log(`\n## Plugin process (backend ${r.backend}; shipped audio model, block 2048 = 46.4 ms)`);
  console.log("| command round trip, idle | p50 ms | p95 ms |");
  console.log("|---|---:|---:|");
  console.log(`| OSC \`get\` (inference thread) | ${fmt(r.rtt.oscGet.p50)} | ${fmt(r.rtt.oscGet.p95)} |`);
  console.log(`| OSC \`status\` | ${fmt(r.rtt.oscStatus.p50)} | ${fmt(r.rtt.oscStatus.p95)} |`);
  console.log(`| WebSocket \`get\` (inference thread) | ${fmt(r.rtt.wsGet.p50)} | ${fmt(r.rtt.wsGet.p95)} |`);
  console.log(`| WebSocket \`status\` | ${fmt(r.rtt.wsStatus.p50)} | ${fmt(r.rtt.wsStatus.p95)} |`);
  console.log(`\n\`set\` → first block reflecting it (streaming): p50 ${fmt(r.setToBlock.p50)} ms, p95 ${fmt(r.setToBlock.p95)} ms`);
  const s = r.stream;
  console.log(`Streaming ${s.seconds.toFixed(0)} s with ${s.messagesPerSecond.toFixed(0)} control messages/s over OSC: ${s.status.blocks} blocks, RTF p50 ${s.status.rtf_p50}, p95 ${s.status.rtf_p95}, dropped ${s.status.dropped}`);
}
