// Shared state of the panel and the refresh scheduler. Every change the panel makes is a
// command; every change from any client comes back as an event, which marks the parts of
// the state to fetch again (queries only, so refreshing never causes another event).
import { Client, type Atom, type ChangeEvent, type Reply } from "./client.js";
import { h, $ } from "./dom.js";
import type { BendingInfo, CallbackInfo, ControlInfo, GraphDict, SessionState, Status, WeightStatsDict } from "./types.js";

/** Shortest interval between two weight-statistics or peek requests of one panel. */
const EXPENSIVE_INTERVAL_MS = 250;

export type Part = "state" | "graph" | "weights" | "bendings" | "controls" | "versions" | "models" | "callbacks" | "peek";

/** What each state-changing command can change. */
const AFFECTS: Record<string, Part[]> = {
  load: ["state", "graph", "weights", "bendings", "controls", "versions", "peek"],
  method: ["state", "graph", "peek"],
  trace: ["state", "graph", "peek"],
  bend: ["graph", "bendings", "controls", "weights", "peek"],
  unbend: ["graph", "bendings", "controls", "weights", "peek"],
  reset: ["graph", "bendings", "controls", "weights", "peek"],
  config: ["graph", "bendings", "controls", "weights", "state", "peek"],
  set: ["controls", "bendings", "weights", "peek"],
  write: ["state", "versions", "weights", "bendings", "controls", "graph", "peek"],
  version: ["state", "weights", "peek"],
  interpolate: ["state", "weights", "peek"],
  input: ["state", "peek"],
  stream: ["state"],
  enable: ["state"],
};

export interface View {
  /** Parts this view shows; it is re-rendered when one of them was fetched again. */
  parts: Part[];
  render(app: App): void;
  /** A change event, before the refresh (e.g. to move a slider at once). */
  event?(app: App, e: ChangeEvent): void;
  /** A new `status` arrived (a few times a second). */
  onStatus?(app: App): void;
}

export class App {
  readonly client: Client;
  status: Status = {};
  state: SessionState | null = null;
  graph: GraphDict | null = null;
  weightStats: WeightStatsDict | null = null;
  bendings: BendingInfo[] = [];
  controls: ControlInfo[] = [];
  versions: string[] = [];
  models: string[] = [];
  callbacks: CallbackInfo[] = [];
  selectedNode: string | null = null;
  selectedWeight: string | null = null;
  watched: string[] = [];
  activeTab = "bend";
  readonly views: View[] = [];
  private dirty = new Set<Part>();
  private timer: number | null = null;
  private refreshing: Promise<void> | null = null;
  /** Parts fetched by the last refresh (views read it to skip work). */
  fetched = new Set<Part>();

  constructor(url: string) {
    this.client = new Client(url);
    this.client.on("event", (e) => {
      if (e.ok === false) {
        // not a change: an error no client asked for, e.g. "stream stopped: ..."
        this.log("error", `${e.command}: ${e.values.join(" ")}`);
        this.toast(`${e.command}: ${e.values.join(" ")}`);
        this.invalidate("state");
        return;
      }
      this.log("event", `${e.command} ${e.values.join(" ")}`);
      if (e.command === "set") {
        const control = this.controls.find((c) => c.name === e.values[0]);
        if (control && typeof e.values[1] === "number") control.value = e.values[1];
      }
      for (const v of this.views) v.event?.(this, e);
      this.invalidate(...(AFFECTS[e.command] ?? []));
    });
    this.client.on("sent", ({ atoms }) => this.log("sent", atoms.join(" ")));
    this.client.on("failed", ({ reply, quiet }) => {
      this.log("error", `${reply.command}: ${reply.values.join(" ")}`);
      if (!quiet) this.toast(`${reply.command}: ${reply.values.join(" ")}`);
    });
    this.client.on("open", () => {
      this.invalidate("state", "graph", "weights", "bendings", "controls", "versions", "models", "callbacks", "peek");
    });
  }

  /** A new `status` (polled): views that show part of it redraw. */
  setStatus(status: Status): void {
    this.status = status;
    for (const v of this.views) v.onStatus?.(this);
  }

  register(view: View): void {
    this.views.push(view);
  }

  /** Runs a command; the reply (ok or error) is returned, errors are also shown. */
  run(cmd: string, ...args: Atom[]): Promise<Reply> {
    return this.client.command(cmd, ...args);
  }

  invalidate(...parts: Part[]): void {
    for (const p of parts) this.dirty.add(p);
    if (this.timer === null && parts.length > 0) this.timer = window.setTimeout(() => void this.refresh(), 40);
  }

  private async refresh(): Promise<void> {
    this.timer = null;
    if (this.refreshing) {
      await this.refreshing;
      if (this.dirty.size && this.timer === null) this.timer = window.setTimeout(() => void this.refresh(), 0);
      return;
    }
    const parts = new Set(this.dirty);
    this.dirty.clear();
    // Weight statistics and activation peeks run model passes in the plugin's inference
    // thread: under a flood of changes, ask for them at most a few times a second.
    const wait = this.lastExpensive + EXPENSIVE_INTERVAL_MS - performance.now();
    if (wait > 0 && (parts.has("weights") || parts.has("peek"))) {
      for (const p of ["weights", "peek"] as const) {
        if (parts.delete(p)) this.dirty.add(p);
      }
      this.timer = window.setTimeout(() => void this.refresh(), wait);
      if (parts.size === 0) return;
    }
    if (parts.has("weights") || parts.has("peek")) this.lastExpensive = performance.now();
    this.refreshing = this.fetch(parts).finally(() => (this.refreshing = null));
    await this.refreshing;
  }

  private lastExpensive = -Infinity;

  private async fetch(parts: Set<Part>): Promise<void> {
    const c = this.client;
    const jobs: Promise<void>[] = [];
    const get = async (cmd: string, apply: (r: Reply) => void, ...args: Atom[]) => {
      const r = await c.command(cmd, ...args);
      if (r.ok) apply(r);
    };
    if (parts.has("state")) {
      jobs.push(get("state", (r) => (this.state = r.dict as SessionState)));
    }
    if (parts.has("models")) jobs.push(get("models", (r) => (this.models = r.values.map(String))));
    if (parts.has("callbacks")) jobs.push(get("callbacks", (r) => (this.callbacks = r.dict as CallbackInfo[])));
    if (parts.has("graph")) {
      jobs.push((async () => {
        const r = await c.command("graph");
        this.graph = r.ok ? (r.dict as GraphDict) : null;
      })());
    }
    if (parts.has("weights")) {
      jobs.push((async () => {
        const r = await c.command("weightstats");
        this.weightStats = r.ok ? (r.dict as WeightStatsDict) : null;
      })());
    }
    if (parts.has("bendings")) jobs.push(get("bendings", (r) => (this.bendings = r.dict as BendingInfo[])));
    if (parts.has("controls")) jobs.push(get("controls", (r) => (this.controls = r.dict as ControlInfo[])));
    if (parts.has("versions")) jobs.push(get("versions", (r) => (this.versions = r.values.map(String))));
    await Promise.all(jobs);
    this.fetched = parts;
    for (const v of this.views) {
      if (v.parts.some((p) => parts.has(p))) {
        try {
          v.render(this);
        } catch (e) {
          console.error("panel view failed", e);
          this.log("error", `panel: ${(e as Error).message}`);
        }
      }
    }
  }

  /** The weight names of the model (from the statistics). */
  get weightNames(): string[] {
    return this.weightStats?.weights.map((w) => w.name) ?? [];
  }

  get bentWeights(): Set<string> {
    return new Set(this.weightStats?.weights.filter((w) => w.bended).map((w) => w.name) ?? []);
  }

  selectNode(name: string | null): void {
    this.selectedNode = name;
    for (const v of this.views) if (v.parts.includes("graph")) v.render(this);
    for (const l of this.selectListeners) l(name);
  }

  private readonly selectListeners: ((name: string | null) => void)[] = [];

  /** Called after a node is selected (or the selection cleared). */
  onSelectNode(listener: (name: string | null) => void): void {
    this.selectListeners.push(listener);
  }
  /** Opens the Bend tab with this pattern as the target (set by the Bend view). */
  bendTarget: (pattern: string) => void = () => undefined;

  selectWeight(name: string | null): void {
    this.selectedWeight = name;
    for (const v of this.views) if (v.parts.includes("weights")) v.render(this);
  }

  watch(name: string, on = true): void {
    const i = this.watched.indexOf(name);
    if (on && i < 0) {
      this.watched.push(name);
      if (this.watched.length > 4) this.watched.shift();
    }
    if (!on && i >= 0) this.watched.splice(i, 1);
    this.invalidate("peek");
    for (const v of this.views) if (v.parts.includes("peek") || v.parts.includes("graph")) v.render(this);
  }

  showTab(name: string): void {
    this.activeTab = name;
    for (const b of document.querySelectorAll<HTMLElement>("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
    for (const t of document.querySelectorAll<HTMLElement>(".tab")) t.hidden = t.id !== `tab-${name}`;
    window.dispatchEvent(new Event("resize"));
    this.invalidate("peek");
  }

  private readonly logEntries: { kind: string; text: string; time: Date }[] = [];
  onLog: (entry: { kind: string; text: string; time: Date }) => void = () => undefined;

  log(kind: "event" | "sent" | "error" | "info" | "warn", text: string): void {
    const entry = { kind, text, time: new Date() };
    this.logEntries.push(entry);
    if (this.logEntries.length > 300) this.logEntries.shift();
    this.onLog(entry);
  }

  get logs(): readonly { kind: string; text: string; time: Date }[] {
    return this.logEntries;
  }

  toast(text: string): void {
    const box = $("#toasts");
    const el = h("div", { class: "toast" }, text);
    box.append(el);
    window.setTimeout(() => el.classList.add("gone"), 4500);
    window.setTimeout(() => el.remove(), 5200);
  }
}
