// What the host tests (Pd, SuperCollider) share: the plugin on the shipped models with its
// OSC server on a free port of 127.0.0.1, free ports for the host, a host process whose
// output lines can be awaited, and whether a host program is installed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { accessSync, constants, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import * as tb from "tfbend";

export const repoRoot = join(import.meta.dirname, "..");

/** Whether `program` runs here and answers `versionFlag` (the reason to skip a host test when it does not). */
export function installed(program: string, versionFlag: string): boolean {
  return spawnSync(program, [versionFlag], { stdio: "ignore", timeout: 20_000 }).status === 0;
}

/** Whether an executable `program` is on the PATH (for programs without a version flag that exits 0). */
export function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A UDP port of 127.0.0.1 that was free a moment ago (for hosts that cannot bind port 0 and say which). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export interface HostPlugin {
  engine: tb.control.Engine;
  osc: tb.transports.OscServer;
  workspace: string;
  close(): Promise<void>;
}

/** The plugin as `npm start` runs it (shipped models, a fresh workspace), OSC on a free port, no model loaded yet. */
export async function startHostPlugin(replyTo?: { host: string; port: number }): Promise<HostPlugin> {
  const workspace = join(mkdtempSync(join(tmpdir(), "tfbend-host-")), "workspace");
  mkdirSync(workspace, { recursive: true });
  const engine = await tb.control.Engine.start({ modelsDir: join(repoRoot, "models"), workspace });
  const osc = new tb.transports.OscServer(engine, { host: "127.0.0.1", port: 0, replyTo });
  await osc.ready;
  return {
    engine, osc, workspace,
    close: async () => {
      await osc.close();
      await engine.close();
    },
  };
}

/** A host program whose stdout and stderr lines are collected; `next` waits for a line. */
export class HostProcess {
  readonly lines: string[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(program: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => {
        const parts = (partial + text).split("\n");
        partial = parts.pop()!;
        for (const line of parts) this.lines.push(line.trimEnd());
        this.waiters.splice(0).forEach((wake) => wake());
      });
    }
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => {
      this.waiters.splice(0).forEach((wake) => wake());
      resolve(code);
    }));
  }

  /** The first line from index `from` on that matches, waiting for it (or for the process to end: then null). */
  async lineFrom(from: number, pattern: RegExp): Promise<{ line: string; index: number } | null> {
    for (;;) {
      const index = this.lines.findIndex((l, i) => i >= from && pattern.test(l));
      if (index >= 0) return { line: this.lines[index], index };
      if (this.child.exitCode !== null || this.child.signalCode !== null) return null;
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited;
  }
}
