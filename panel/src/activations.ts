// The Activations tab: the watched activations for the current input, the original model
// beside the bended one (after the node's own bending): a waveform for 1-D values, a heat
// map for channels × time, image tiles for channels × H × W. Refreshed a few times a
// second while streaming, and after every change otherwise.
import type { App, View } from "./app.js";
import { $, fill, fmt, h } from "./dom.js";
import { COLORS, Plot, drawHeat, drawTiles, heatLegend, setLegend } from "./plots.js";
import type { ActivationView, PeekItem } from "./types.js";

interface Card {
  key: string;
  el: HTMLElement;
  plots: Plot[];
  canvases: HTMLCanvasElement[];
  info: HTMLElement;
  /** The colour scale of heat maps and tiles (shared by both panes). */
  legend: HTMLElement | null;
}

function rms(a: ActivationView, b: ActivationView): number {
  if (a.data.length !== b.data.length || a.data.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i] - b.data[i]) ** 2;
  return Math.sqrt(s / a.data.length);
}

export class ActivationsView implements View {
  parts = ["peek" as const, "graph" as const];
  private cards = new Map<string, Card>();
  private inFlight = false;
  private again = false;
  private readonly follow: HTMLInputElement;
  updates = 0;

  constructor(private readonly app: App) {
    this.follow = h("input", { type: "checkbox", id: "act-follow", checked: true });
    fill($("#tab-activations"),
      h("div", { class: "box-head" },
        h("div", { id: "act-watched", class: "chips" }),
        h("label", { class: "muted", title: "watch the node selected in the graph" }, this.follow, " follow selection")),
      h("p", { id: "act-hint", class: "muted" }),
      h("div", { id: "act-cards", class: "act-cards" }));
    app.onSelectNode((name) => {
      const node = app.graph?.nodes.find((n) => n.name === name);
      if (name && node && node.op !== "output" && this.follow.checked) app.watch(name);
    });
    // While streaming: poll, leaving the inference thread at least 5/6 of its time.
    const poll = async () => {
      const streaming = Number(app.status.streaming ?? 0) === 1;
      const t0 = performance.now();
      if (streaming && app.activeTab === "activations" && app.watched.length) await this.peek();
      window.setTimeout(() => void poll(), Math.max(300, 6 * (performance.now() - t0)));
    };
    void poll();
  }

  render(app: App): void {
    const graphNames = new Set(app.graph?.nodes.map((n) => n.name) ?? []);
    const kept = app.watched.filter((n) => graphNames.has(n));
    if (kept.length !== app.watched.length) app.watched.splice(0, app.watched.length, ...kept);
    fill($("#act-watched"), app.watched.length ? null : h("span", { class: "muted" }, "Nothing watched."),
      ...app.watched.map((n) => h("span", { class: "chip" }, n, h("button", { class: "icon", title: "stop watching", onclick: () => app.watch(n, false) }, "×"))));
    const streaming = Number(app.status.streaming ?? 0) === 1;
    $("#act-hint").textContent = app.watched.length === 0
      ? "Click a node in the graph to watch its activation (up to 4)."
      : streaming ? "Live: the stream's current input, several times a second." : "For the current input; start the stream for a live view.";
    for (const [name, card] of this.cards) {
      if (!app.watched.includes(name)) {
        card.plots.forEach((p) => p.destroy());
        card.el.remove();
        this.cards.delete(name);
      }
    }
    if (app.watched.length && app.activeTab === "activations") void this.peek();
  }

  private async peek(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    const names = [...this.app.watched];
    if (names.length === 0) return;
    this.inFlight = true;
    try {
      const r = await this.app.client.command("peek", ...names);
      if (r.ok) {
        const items = (r.dict as { items: PeekItem[] }).items;
        for (const item of items) this.show(item);
        this.updates++;
      }
    } finally {
      this.inFlight = false;
    }
    if (this.again) {
      this.again = false;
      void this.peek();
    }
  }

  private show(item: PeekItem): void {
    if (!this.app.watched.includes(item.name)) return;
    const o = item.original, b = item.bended;
    const key = `${o.layout}:${o.dims.join("x")}:${b.dims.join("x")}`;
    let card = this.cards.get(item.name);
    if (!card || card.key !== key) {
      if (card) {
        card.plots.forEach((p) => p.destroy());
        card.el.remove();
      }
      card = this.build(item, key);
      this.cards.set(item.name, card);
      // keep the cards in watch order
      const box = $("#act-cards");
      box.replaceChildren(...this.app.watched.map((n) => this.cards.get(n)?.el).filter((e): e is HTMLElement => !!e));
    }
    const lo = Math.min(o.min, b.min), hi = Math.max(o.max, b.max);
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    const d = rms(o, b);
    card.info.textContent = `[${item.shape.join(", ")}]${o.note ? ` · ${o.note}` : ""} · range ${fmt(lo)} … ${fmt(hi)} · rms difference ${fmt(d)}`;
    card.el.classList.toggle("differs", d > 0);
    if (o.layout === "wave") {
      const x = Array.from({ length: o.dims[0] }, (_, i) => i);
      const pad = (hi - lo) * 0.05 || 1;
      card.plots.forEach((p, i) => {
        p.setYRange([lo - pad, hi + pad]);
        p.setData(x, [(i === 0 ? o : b).data]);
      });
    } else if (o.layout === "heat") {
      if (card.legend) setLegend(card.legend, m || 1);
      drawHeat(card.canvases[0], o.data, o.dims[0], o.dims[1], m);
      drawHeat(card.canvases[1], b.data, b.dims[0], b.dims[1], m);
    } else {
      if (card.legend) setLegend(card.legend, m || 1);
      drawTiles(card.canvases[0], o.data, o.dims[0], o.dims[1], o.dims[2], m);
      drawTiles(card.canvases[1], b.data, b.dims[0], b.dims[1], b.dims[2], m);
    }
  }

  private build(item: PeekItem, key: string): Card {
    const info = h("div", { class: "muted small mono" });
    const panes = [h("div", { class: "pane" }), h("div", { class: "pane" })];
    const el = h("section", { class: "box act-card", dataset: { activation: item.name } },
      h("div", { class: "box-head" }, h("h3", { class: "mono" }, item.name), h("span", { class: "muted small" }, item.original.layout === "wave" ? "waveform" : item.original.layout === "heat" ? "heat map · channels × time" : "channels as images")),
      info,
      h("div", { class: "side-by-side" },
        h("div", {}, h("div", { class: "pane-title", style: `color:${COLORS.original}` }, "original"), panes[0]),
        h("div", {}, h("div", { class: "pane-title", style: `color:${COLORS.bended}` }, "bended"), panes[1])));
    $("#act-cards").append(el);
    const legend = item.original.layout === "wave" ? null : heatLegend();
    if (legend) el.append(legend);
    const card: Card = { key, el, plots: [], canvases: [], info, legend };
    if (item.original.layout === "wave") {
      card.plots = panes.map((p, i) => new Plot(p, { height: 150, legend: false, series: [{ label: i ? "bended" : "original", stroke: i ? COLORS.bended : COLORS.original }] }));
    } else {
      card.canvases = panes.map((p) => {
        const c = h("canvas", { class: item.original.layout === "heat" ? "heat" : "tiles" });
        p.append(c);
        return c;
      });
    }
    return card;
  }
}
