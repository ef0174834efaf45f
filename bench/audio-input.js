// Live audio input through the shipped model's `forward`: a stand-in jit.net.send sends a
// sweep at real-time pace (512-sample matrices) to tfbend's jit.net.recv side while 1,000
// control messages a second arrive over OSC; a stand-in jit.net.recv takes the output.
// Reports input → output latency (the chunk holding a block's first sample sent → that
// block's output matrix received, both on this process's clock) p50/p95, the inference
// thread's own latency figure, RTF, dropped blocks, underruns and overruns.
// BENCH_INPUT_SECONDS (default 60) sets the run's length, BENCH_INPUT_CONTROLS (default 1000)
// the control messages per second, --engine (or BENCH_INPUT_ENGINE) what computes blocks.
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import osc from "osc";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const { control, transports } = tb;
const SECONDS = Number(process.env.BENCH_INPUT_SECONDS ?? 60);
const CONTROLS = Number(process.env.BENCH_INPUT_CONTROLS ?? 1000);
// What computes blocks, as the plugin's --engine: `--engine native|wasm|auto` or BENCH_INPUT_ENGINE (default auto).
const ENGINE_ARG = process.argv.indexOf("--engine");
const ENGINE = ENGINE_ARG >= 0 ? process.argv[ENGINE_ARG + 1] : (process.env.BENCH_INPUT_ENGINE ?? "auto");
const RATE = 44100;
const BLOCK = 2048;
const CHUNK = 512;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function runAudioInput() {
  const engine = await control.Engine.start({
    modelsDir: new URL("../models", import.meta.url).pathname,
    workspace: mkdtempSync(join(tmpdir(), "tfbend-bench-")),
    model: "audio",
    engine: ENGINE,
  });
  const receiver = new transports.JitterReceiver(engine, { port: 0 });
  const oscServer = new transports.OscServer(engine, { port: 0 });
  // stand-in jit.net.recv for the output (audio and image ports)
  const outputs = [];
  const standIn = () => {
    const server = createServer((socket) => {
      let rx = Buffer.alloc(0);
      socket.on("data", (data) => {
        rx = Buffer.concat([rx, data]);
        while (rx.length >= 296) {
          const total = 296 + rx.readInt32BE(8 + 276);
          if (rx.length < total) break;
          outputs.push(performance.now());
          socket.write(transports.encodeLatencyPacket(rx.readDoubleBE(8 + 280), performance.now(), performance.now()));
          rx = rx.subarray(total);
        }
      });
      socket.on("error", () => {});
    });
    return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
  };
  const [audioOut, imageOut] = await Promise.all([standIn(), standIn()]);
  await Promise.all([receiver.ready, oscServer.ready]);
  const jitter = transports.attachJitter(engine, { audioPort: audioOut.address().port, imagePort: imageOut.address().port });
  while (!jitter.senders[0].stats().connected) await sleep(10);
  await engine.execute(["bend", "net_7_conv1", "mask", "prob", "@keep=0.5", "dim", -2]);
  await engine.execute(["method", "forward"]);
  await engine.execute(["stream", "start"]);

  const udp = createSocket("udp4");
  await new Promise((r) => udp.bind(0, "127.0.0.1", r));
  const oscSend = (command, atoms) => udp.send(osc.writePacket({ address: `/tfbend/${command}`, args: transports.toOscArgs(atoms) }, { metadata: true }), oscServer.port, "127.0.0.1");
  let controls = 0;
  const flood = setInterval(() => {
    for (let i = 0; i < CONTROLS / 100; i++) oscSend("set", ["keep", Math.random()]), controls++;
  }, 10);

  const sender = new transports.JitterSender({ port: receiver.port, reconnectMs: 50 }).start();
  while (!sender.stats().connected) await sleep(10);
  const total = Math.floor((SECONDS * RATE) / BLOCK) * BLOCK;
  const sentAt = []; // per chunk
  const t0 = performance.now();
  let sent = 0;
  let phase = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
    while (sent + CHUNK <= due) {
      const data = new Float32Array(CHUNK);
      for (let i = 0; i < CHUNK; i++) {
        phase += (2 * Math.PI * (100 + 3900 * ((sent + i) / total))) / RATE;
        data[i] = 0.5 * Math.sin(phase);
      }
      sentAt.push(performance.now());
      sender.send({ stream: "audio", seq: sentAt.length, sampleRate: RATE, frames: CHUNK, channels: 1, width: 0, height: 0, data });
      sent += CHUNK;
    }
    await sleep(4);
  }
  const blocks = total / BLOCK;
  for (let i = 0; i < 400 && outputs.length < blocks; i++) await sleep(10);
  clearInterval(flood);
  const seconds = (performance.now() - t0) / 1000;
  const status = (await engine.execute(["status"])).dict;
  // Output k is input block k only when nothing was dropped; otherwise only the inference thread's figure holds.
  const latency = [];
  if (outputs.length === blocks) for (let k = 0; k < blocks; k++) latency.push(outputs[k] - sentAt[(k * BLOCK) / CHUNK]);
  latency.sort((a, b) => a - b);

  await sender.close();
  await engine.execute(["stream", "stop"]);
  clearInterval(flood);
  udp.close();
  await jitter.close();
  await receiver.close();
  oscServer.close();
  audioOut.close();
  imageOut.close();
  await engine.close();
  return {
    backend: status.backend, seconds, blocks, received: outputs.length, controlsPerSecond: controls / seconds,
    latency: latency.length ? { p50: quantile(latency, 0.5), p95: quantile(latency, 0.95) } : null, status,
  };
}

export function printAudioInput(r) {
  const s = r.status;
  console.log(`\n## Live audio input (backend ${r.backend}, engine ${r.status.engine}; shipped model's forward, block 2048 = 46.4 ms, Jitter in and out)`);
  console.log(`${r.seconds.toFixed(0)} s of input in 512-sample matrices with ${r.controlsPerSecond.toFixed(0)} control messages/s over OSC: ${r.received} of ${r.blocks} blocks out`);
  console.log("| measured | p50 | p95 |");
  console.log("|---|---:|---:|");
  const client = r.latency ? [fmt(r.latency.p50), fmt(r.latency.p95)] : ["n/a (input dropped)", "n/a"];
  console.log(`| input → output latency, ms (chunk with a block's first sample sent → its output received) | ${client[0]} | ${client[1]} |`);
  console.log(`| inference thread's figure (\`input_latency_ms\`), ms | ${fmt(s.input_latency_ms)} | ${fmt(s.input_latency_p95_ms)} |`);
  console.log(`| RTF (compute / block duration) | ${s.rtf_p50} | ${s.rtf_p95} |`);
  console.log(`dropped ${s.dropped}, underruns ${s.underruns}, overruns ${s.overruns}`);
}

// `node bench/audio-input.js [--engine native|wasm|auto]` runs it alone (bench/run.js runs it among the others).
if (process.argv[1] && new URL(import.meta.url).pathname === (await import("node:path")).resolve(process.argv[1])) {
  printAudioInput(await runAudioInput());
  process.exit(0);
}
