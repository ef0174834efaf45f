// The image stream at frame rate, end to end: the plugin process (inference thread, WebSocket
// on 127.0.0.1) streams the shipped image model at 30 frames a second to a WebSocket client,
// (a) unbent, (b) with Rotate and Zoom bound to controls that the client moves every frame
// (`set angle`, `set zoom` sent as each frame arrives), (c) the same two moved by modulators
// on the inference thread (`lfo`, no messages). Reports the frame's compute time p50/p95
// (status RTF × frame period), the interval between frames at the client p50/p95, frames
// per second received, and dropped frames from `status`. Then the same three in process
// (Session.renderBlock, no threads or sockets) in CPU time per frame, which a machine busy
// with other work does not inflate as it does wall time.
// BENCH_SECONDS (default 20) is each run's length; BENCH_ENGINE (default auto, as the plugin)
// picks the engine: native where ONNX Runtime loads, else wasm. Run: npm run build && node bench/image-stream.js
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import * as tb from "tfbend";
import { fmt, quantile } from "./util.js";

const { control, transports } = tb;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ENGINE = process.env.BENCH_ENGINE ?? "auto";

export async function runImageStream() {
  const engine = await control.Engine.start({
    modelsDir: new URL("../models", import.meta.url).pathname,
    workspace: mkdtempSync(join(tmpdir(), "tfbend-bench-")),
    model: "image",
    engine: ENGINE,
  });
  const wsServer = new transports.WsServer(engine, { host: "127.0.0.1", port: 0 });
  await wsServer.ready;
  const ws = new WebSocket(`ws://127.0.0.1:${wsServer.port}`);
  await new Promise((r) => ws.once("open", r));
  let onFrame = null;
  ws.on("message", (data, binary) => {
    if (binary) onFrame?.(tb.control.decodeFrame(new Uint8Array(data)));
  });

  async function measure(label, { moveEveryFrame }) {
    const arrivals = [];
    let frames = 0;
    let i = 0;
    onFrame = (frame) => {
      if (frame.stream !== "image") return;
      frames++;
      arrivals.push(performance.now());
      if (moveEveryFrame) {
        i++;
        ws.send(`set angle ${(i * 3) % 360 - 180}`);
        ws.send(`set zoom ${1 + 0.5 * Math.sin(i / 10)}`);
      }
    };
    await engine.execute(["stream", "start"]);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const status = (await engine.execute(["status"])).dict;
    await engine.execute(["stream", "stop"]);
    onFrame = null;
    const gaps = arrivals.slice(1).map((t, k) => t - arrivals[k]).sort((a, b) => a - b);
    const seconds = (arrivals.at(-1) - arrivals[0]) / 1000;
    return {
      label,
      frames,
      fps: (arrivals.length - 1) / seconds,
      frameMs: { p50: status.rtf_p50 * status.latency_ms, p95: status.rtf_p95 * status.latency_ms },
      gapMs: { p50: quantile(gaps, 0.5), p95: quantile(gaps, 0.95) },
      dropped: status.dropped,
      blocks: status.blocks,
      backend: status.backend,
      engine: `${status.method_engine}${status.method_engine === "wasm" && status.engine_reason !== "none" ? ` (${status.engine_reason})` : ""}`,
      periodMs: status.latency_ms,
    };
  }

  const results = [];
  results.push(await measure("unbent", { moveEveryFrame: false }));
  for (const line of ["bend net_6 rotate degrees @angle=0", "bend net_4 zoom factor @zoom=1"]) {
    const reply = await engine.execute(tb.control.parseLine(line));
    if (!reply.ok) throw new Error(`${line}: ${reply.values.join(" ")}`);
  }
  results.push(await measure("Rotate(@angle) net_6 + Zoom(@zoom) net_4, both set over WebSocket every frame", { moveEveryFrame: true }));
  await engine.execute(tb.control.parseLine("lfo angle saw 0.5 180"));
  await engine.execute(tb.control.parseLine("lfo zoom sine 0.3 0.5"));
  results.push(await measure("the same, moved by lfo on the inference thread", { moveEveryFrame: false }));

  ws.close();
  await wsServer.close();
  await engine.close();
  return results;
}

/** CPU milliseconds (this process, all threads) per rendered frame, p50/p95 over `frames`, for each configuration. */
export async function runImageCpu(frames = 300) {
  const session = new control.Session({ workspace: mkdtempSync(join(tmpdir(), "tfbend-bench-")), modelsDir: new URL("../models", import.meta.url).pathname, engine: ENGINE });
  const run = (line) => session.execute(tb.control.parseLine(line));
  await run("load image");
  await run("input hold");
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  async function measure(label, move) {
    for (let i = 0; i < 20; i++) await session.renderBlock();
    const times = [];
    for (let i = 0; i < frames; i++) {
      const t0 = cpuMs();
      if (move) {
        await run(`set angle ${(i * 3) % 360 - 180}`);
        await run(`set zoom ${1 + 0.5 * Math.sin(i / 10)}`);
      }
      await session.renderBlock();
      times.push(cpuMs() - t0);
    }
    times.sort((a, b) => a - b);
    return { label, p50: quantile(times, 0.5), p95: quantile(times, 0.95), tensors: tb.tf.memory().numTensors };
  }
  const results = [await measure("unbent", false)];
  await run("bend net_6 rotate degrees @angle=0");
  await run("bend net_4 zoom factor @zoom=1");
  results.push(await measure("Rotate + Zoom, both set every frame", true));
  await run("lfo angle saw 0.5 180");
  await run("lfo zoom sine 0.3 0.5");
  results.push(await measure("Rotate + Zoom moved by lfo", false));
  session.dispose();
  return results;
}

export function printImageCpu(results) {
  console.log("\n| in process (Session.renderBlock) | CPU ms per frame p50 / p95 | tensors after |");
  console.log("|---|---:|---:|");
  for (const r of results) console.log(`| ${r.label} | ${fmt(r.p50)} / ${fmt(r.p95)} | ${r.tensors} |`);
}

export function printImageStream(results) {
  const r0 = results[0];
  console.log(`\n## Image stream over WebSocket (backend ${r0.backend}; shipped image model, 64×64, ${(1000 / r0.periodMs).toFixed(0)} fps, ${SECONDS} s each)`);
  console.log("| bendings | engine | frame compute p50 / p95 ms | client frame interval p50 / p95 ms | fps received | dropped / frames |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(`| ${r.label} | ${r.engine} | ${fmt(r.frameMs.p50)} / ${fmt(r.frameMs.p95)} | ${fmt(r.gapMs.p50)} / ${fmt(r.gapMs.p95)} | ${r.fps.toFixed(1)} | ${r.dropped} / ${r.blocks} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printImageStream(await runImageStream());
  printImageCpu(await runImageCpu());
}
