// The status strip (always visible) and the Status tab: backend, block size, latency,
// RTF p50/p95 meters and their history, dropped blocks, and errors and events as they
// arrive. `status` is answered by the plugin without waiting for the inference thread,
// so polling it is cheap.
import type { App, View } from "./app.js";
import type { ChangeEvent } from "./client.js";
import { $, fill, fmt, h } from "./dom.js";
import { COLORS, Plot } from "./plots.js";

function meter(id: string, label: string): HTMLElement {
  return h("div", { class: "meter", id },
    h("span", { class: "meter-label" }, label),
    h("span", { class: "meter-track" }, h("span", { class: "meter-fill" })),
    h("span", { class: "meter-value" }, "–"));
}

function setMeter(el: HTMLElement, value: number): void {
  const fillEl = el.querySelector<HTMLElement>(".meter-fill")!;
  fillEl.style.width = `${Math.min(100, value * 100)}%`;
  fillEl.className = `meter-fill ${value >= 0.9 ? "bad" : value >= 0.6 ? "warn" : "good"}`;
  el.querySelector(".meter-value")!.textContent = value > 0 ? value.toFixed(3) : "–";
}

export class StatusView implements View {
  parts = ["state" as const];
  private readonly history: { t: number[]; p50: number[]; p95: number[] } = { t: [], p50: [], p95: [] };
  private plot: Plot | null = null;
  private lastDropped = 0;
  private lastStreaming = false;
  /**
   * Since the last `load`, until its stream starts: the figures polled may still be the
   * previous model's (RTF, blocks, dropped), so they are shown as none yet.
   */
  private sinceLoad = false;

  constructor(private readonly app: App) {
    const strip = $("#meters");
    fill(strip,
      h("span", { class: "chip", id: "st-backend", title: "engine" }, "–"),
      h("span", { class: "chip", id: "st-block", title: "block size (samples)" }, "–"),
      h("span", { class: "chip", id: "st-latency", title: "one block of output latency" }, "–"),
      meter("st-p50", "RTF p50"),
      meter("st-p95", "p95"),
      h("span", { class: "chip", id: "st-dropped", title: "blocks that missed their deadline" }, "dropped 0"),
      h("span", { class: "chip", id: "st-errors", title: "errors since the page opened (Status tab)" }, "0 errors"));
    $("#st-errors").addEventListener("click", () => app.showTab("status"));

    const tab = $("#tab-status");
    fill(tab,
      h("div", { class: "cards" },
        ...[["engine", "st2-backend", "wide"], ["model", "st2-model"], ["latency", "st2-latency"], ["block", "st2-block", "wide"], ["blocks", "st2-blocks"], ["dropped", "st2-dropped"], ["version", "st2-version", "wide"], ["streaming", "st2-streaming"]].map(([label, id, wide]) =>
          h("div", { class: `card${wide ? " wide" : ""}` }, h("div", { class: "card-label" }, label), h("div", { class: "card-value", id }, "–")))),
      h("div", { class: "meters-big" }, meter("st2-p50", "RTF p50"), meter("st2-p95", "RTF p95")),
      h("h3", {}, "Real-time factor (compute time / block time)"),
      h("div", { id: "rtf-plot", class: "plot" }),
      h("h3", {}, "Errors and events ", h("span", { class: "muted" }, "(newest first)")),
      h("ol", { id: "log", class: "log" }));
    app.onLog = (entry) => this.addLog(entry);
    document.querySelector("#tabs button[data-tab=status]")?.addEventListener("click", () => this.drawHistory());
    window.setInterval(() => void this.poll(), 500);
  }

  /** A new model: clear the previous one's figures and history at once. */
  event(_app: App, e: ChangeEvent): void {
    if (e.command !== "load") return;
    this.sinceLoad = true;
    this.lastDropped = 0;
    for (const a of [this.history.t, this.history.p50, this.history.p95]) a.length = 0;
    for (const id of ["#st-p50", "#st-p95", "#st2-p50", "#st2-p95"]) setMeter($(id), 0);
    $("#st-dropped").textContent = "dropped 0";
    $("#st-dropped").classList.remove("bad");
    $("#st2-blocks").textContent = "0";
    $("#st2-dropped").textContent = "0";
    if (this.app.activeTab === "status") this.drawHistory();
  }

  private addLog(entry: { kind: string; text: string; time: Date }): void {
    const list = document.getElementById("log");
    if (!list) return;
    const time = entry.time.toTimeString().slice(0, 8);
    list.prepend(h("li", { class: `log-${entry.kind}` }, h("span", { class: "log-time" }, time), h("span", { class: "log-kind" }, entry.kind), h("span", { class: "log-text" }, entry.text)));
    while (list.children.length > 300) list.lastElementChild!.remove();
    if (entry.kind === "error") {
      const n = this.app.logs.filter((e) => e.kind === "error").length;
      const chip = $("#st-errors");
      chip.textContent = `${n} error${n === 1 ? "" : "s"}`;
      chip.classList.add("bad");
    }
  }

  private async poll(): Promise<void> {
    if (!this.app.client.connected) return;
    const r = await this.app.client.command("status");
    if (!r.ok) return;
    const s = r.dict as Record<string, string | number>;
    this.app.setStatus(s);
    if (Number(s.streaming ?? 0) === 1) this.sinceLoad = false;
    const stale = new Set(this.sinceLoad ? ["rtf_p50", "rtf_p95", "blocks", "dropped"] : []);
    const num = (k: string) => (stale.has(k) ? 0 : Number(s[k] ?? 0));
    const kind = String(s.kind ?? "");
    const block = kind === "audio" ? `block ${num("block")}` : kind === "image" ? "block 1 frame" : "no stream";
    // the engine that computes this method's blocks (native ONNX Runtime or tfjs); tfjs's own backend in the tooltip
    const engine = String(s.method_engine ?? s.backend ?? "–");
    const reason = String(s.engine_reason ?? "none");
    const tfjs = `TensorFlow.js backend ${s.backend ?? "–"}${s.device ? ` on ${s.device}` : ""}`;
    $("#st-backend").textContent = engine;
    $("#st-backend").title = `engine for ${s.method ?? "the method"}: ${engine}${reason !== "none" ? ` (${reason})` : ""}; ${tfjs}`;
    $("#st-block").textContent = block;
    $("#st-latency").textContent = `latency ${fmt(num("latency_ms"), 3)} ms`;
    setMeter($("#st-p50"), num("rtf_p50"));
    setMeter($("#st-p95"), num("rtf_p95"));
    setMeter($("#st2-p50"), num("rtf_p50"));
    setMeter($("#st2-p95"), num("rtf_p95"));
    const dropped = num("dropped");
    const dchip = $("#st-dropped");
    dchip.textContent = `dropped ${dropped}`;
    dchip.classList.toggle("bad", dropped > 0);
    if (dropped > this.lastDropped) this.app.log("warn", `${dropped - this.lastDropped} block(s) dropped (RTF p95 ${fmt(num("rtf_p95"))})`);
    this.lastDropped = dropped;
    const set = (id: string, v: string) => ($(id).textContent = v);
    set("#st2-backend", `${engine}${reason !== "none" ? ` (${reason})` : ""} · tfjs ${s.backend ?? "–"}${s.device ? ` · ${s.device}` : ""}`);
    set("#st2-model", `${s.model ?? "–"} (${kind})`);
    set("#st2-block", kind === "audio" ? `${num("block")} samples @ ${num("sample_rate")} Hz` : block);
    set("#st2-latency", `${fmt(num("latency_ms"))} ms`);
    set("#st2-blocks", String(num("blocks")));
    set("#st2-dropped", String(dropped));
    set("#st2-version", String(s.version ?? "–"));
    const streaming = num("streaming") === 1;
    set("#st2-streaming", streaming ? "yes" : "no");
    const button = $("#stream");
    button.textContent = streaming ? "Stop stream" : "Start stream";
    button.classList.toggle("on", streaming);
    (button as HTMLButtonElement).disabled = kind !== "audio" && kind !== "image";
    if (streaming !== this.lastStreaming) {
      this.lastStreaming = streaming;
      this.app.invalidate("peek");
    }
    if (streaming) {
      const h = this.history;
      h.t.push(Date.now() / 1000);
      h.p50.push(num("rtf_p50"));
      h.p95.push(num("rtf_p95"));
      if (h.t.length > 240) for (const a of [h.t, h.p50, h.p95]) a.shift();
    }
    if (this.app.activeTab === "status") this.drawHistory();
  }

  private drawHistory(): void {
    const box = document.getElementById("rtf-plot");
    if (!box) return;
    if (!this.plot) {
      this.plot = new Plot(box, {
        height: 170, xLabel: "seconds ago",
        series: [{ label: "p50", stroke: COLORS.original, width: 1.5 }, { label: "p95", stroke: COLORS.p95, width: 1.5 }],
      });
    }
    const top = Math.max(0.5, ...this.history.p95) * 1.15;
    this.plot.setYRange([0, top]);
    const now = Date.now() / 1000;
    this.plot.setData(this.history.t.map((t) => t - now), [this.history.p50, this.history.p95]);
  }

  render(): void {
    // the strip follows `status` polling; nothing else to redraw on state changes
  }
}
