#!/usr/bin/env node
// tfbend's command line: `tfbend serve` runs the plugin process (OSC + WebSocket, and a
// Jitter stream when asked) on a model; `tfbend models` lists the shipped ones.
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { Engine } from "./control/engine.js";
import { backendInfo } from "./backend.js";
import { OscServer, DEFAULT_SUBSCRIBER_TIMEOUT_MS } from "./transports/osc/server.js";
import { WsServer } from "./transports/ws/server.js";
import { PAGE_LOAD_AHEAD_MS, panelRoute } from "./transports/panel-files.js";
import { attachJitter } from "./transports/jitter/sender.js";
import { JitterReceiver } from "./transports/jitter/receiver.js";
import { DEFAULT_MAX_VERSIONS } from "./bended/versions.js";
import { ENGINE_CHOICES, resolveEngine, type EngineChoice } from "./control/block-engine.js";

const here = fileURLToPath(new URL(".", import.meta.url));
export const SHIPPED_MODELS = resolve(here, "../models");

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("a port is an integer in 0..65535");
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100000) throw new InvalidArgumentError("expected an integer in 0..100000");
  return n;
}

function hostPort(value: string): { host: string; port: number } {
  const m = /^([^:]+):(\d+)$/.exec(value);
  if (!m) throw new InvalidArgumentError("expected host:port");
  return { host: m[1], port: port(m[2]) };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError("expected a positive number of seconds");
  return n;
}

function engineChoice(value: string): EngineChoice {
  const choice = ENGINE_CHOICES.find((c) => c === value);
  if (!choice) throw new InvalidArgumentError(`expected one of ${ENGINE_CHOICES.join(", ")}`);
  return choice;
}

function threads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("threads is a positive integer");
  return n;
}

const program = new Command("tfbend").description("live network bending for patchers");

program
  .command("serve")
  .description("run the plugin process: OSC and WebSocket control, streamed outputs")
  .option("-m, --model <name>", "model to load (a name in models/ or a workspace path)", "audio")
  .option("--host <address>", "address the servers bind (127.0.0.1 keeps them local)", "127.0.0.1")
  .option("--osc-port <port>", "OSC (UDP) port", port, 7400)
  .option("--osc-reply <host:port>", "send OSC replies here instead of to the sender", hostPort)
  .option("--osc-timeout <seconds>", "forget an OSC subscriber (stream start, subscribe) not heard from for this long", seconds, DEFAULT_SUBSCRIBER_TIMEOUT_MS / 1000)
  .option("--ws-port <port>", "WebSocket/HTTP port", port, 7401)
  .option("-w, --workspace <dir>", "folder for renders, configs and user models", "tfbend-workspace")
  .option("--models <dir>", "folder of shipped models", SHIPPED_MODELS)
  .option("--block <samples>", "audio samples per block (nn~'s buffer size; rounded up to a multiple of the method's ratio)", (v) => Number(v), 2048)
  .option("--input-buffer <blocks>", "blocks of live audio input buffered before the oldest is dropped", (v) => Number(v), 8)
  .option("--no-safety", "disable the DC blocker and limiter on audio output")
  .option("--max-versions <n>", "versions a model may store (each a copy of its weights)", count, DEFAULT_MAX_VERSIONS)
  .option("--jitter [host]", "stream blocks to jit.net.recv on this host (audio port 7474, images 7475)")
  .option("--jitter-in [port]", "listen as jit.net.recv for the patch's live audio ([jit.catch~] → [jit.net.send]) on --host, default port 7476")
  .option("--allow-origin <origin...>", "web page origins allowed to connect besides localhost pages")
  .option("--threads <n>", "wasm compute threads in the inference thread (sets TFBEND_THREADS)", threads)
  .option("--engine <engine>", "what computes blocks: native (ONNX Runtime's CPU kernels), wasm (tfjs), auto (native where ONNX Runtime loads)", engineChoice, "auto")
  .action(async (opts) => {
    // `native` where ONNX Runtime cannot run stops here, with why, before anything starts.
    try {
      resolveEngine(opts.engine);
    } catch (e) {
      console.error(`tfbend: ${(e as Error).message}`);
      process.exit(1);
    }
    // the inference worker inherits the environment and reads it when its backend starts
    if (opts.threads !== undefined) process.env.TFBEND_THREADS = String(opts.threads);
    const workspace = resolve(opts.workspace);
    mkdirSync(workspace, { recursive: true });
    const engine = await Engine.start({
      model: opts.model, workspace, modelsDir: resolve(opts.models), blockSamples: opts.block, input: { maxBlocks: opts.inputBuffer }, safety: opts.safety, maxVersions: opts.maxVersions, engine: opts.engine,
    });
    const osc = new OscServer(engine, { host: opts.host, port: opts.oscPort, replyTo: opts.oscReply, subscriberTimeoutMs: opts.oscTimeout * 1000 });
    const ws = new WsServer(engine, { host: opts.host, port: opts.wsPort, http: panelRoute({ onPage: () => void engine.execute(["ahead", PAGE_LOAD_AHEAD_MS]) }), allowOrigins: opts.allowOrigin ?? [] });
    await Promise.all([osc.ready, ws.ready]);
    const jitter = opts.jitter ? attachJitter(engine, { host: opts.jitter === true ? "127.0.0.1" : opts.jitter }) : null;
    const jitterIn = opts.jitterIn ? new JitterReceiver(engine, { host: opts.host, port: opts.jitterIn === true ? 7476 : port(opts.jitterIn) }) : null;
    await jitterIn?.ready;
    const s = engine.status();
    console.log(`tfbend: model ${s.model} (${s.kind}) on backend ${s.backend}`);
    console.log(`tfbend: engine ${s.engine}${s.engine === "native" ? ` (${backendInfo().native})` : ` (${String(s.engine_reason)})`}`);
    console.log(`tfbend: OSC on udp://${opts.host}:${osc.port}  WebSocket on ws://${opts.host}:${ws.port}  workspace ${workspace}`);
    const stop = async () => {
      await osc.close();
      await jitter?.close();
      await jitterIn?.close();
      await ws.close();
      await engine.close();
      process.exit(0);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });

program
  .command("models")
  .description("list the shipped models")
  .option("--models <dir>", "folder of shipped models", SHIPPED_MODELS)
  .action(async (opts) => {
    const { Session } = await import("./control/session.js");
    const session = new Session({ workspace: process.cwd(), modelsDir: resolve(opts.models) });
    console.log(session.availableModels().join("\n"));
  });

await program.parseAsync(process.argv);
