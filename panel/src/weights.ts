// The Weights tab: every weight with its shape and statistics, original and as the next
// pass uses it (version, interpolation and weight bendings), and the histogram of the
// selected one, before and after.
import type { App, View } from "./app.js";
import { $, fill, fmt, h, sharedPrefix } from "./dom.js";
import { COLORS, Plot } from "./plots.js";
import type { HistogramDict, Stats, WeightRow } from "./types.js";

export class WeightsView implements View {
  parts = ["weights" as const];
  private plot: Plot | null = null;
  private readonly filter: HTMLInputElement;
  private histToken = 0;

  constructor(private readonly app: App) {
    this.filter = h("input", { id: "weights-filter", class: "grow", placeholder: "filter weights (regex)", spellcheck: "false" });
    this.filter.addEventListener("input", () => this.renderTable(app));
    fill($("#tab-weights"),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", { id: "hist-title" }, "Histogram"), h("span", { class: "legend" },
          h("span", { class: "swatch", style: `background:${COLORS.original}` }), "original ",
          h("span", { class: "swatch", style: `background:${COLORS.bended}` }), "as used (bended)")),
        h("div", { id: "hist-plot", class: "plot" }),
        h("div", { id: "hist-stats", class: "mono muted small" })),
      h("section", { class: "box grow-box" },
        h("div", { class: "box-head" }, h("h3", {}, "Weights"), h("span", { id: "weights-version", class: "muted" })),
        h("div", { class: "row" }, this.filter),
        h("div", { class: "table-wrap" }, h("table", { id: "weights-table", class: "table" }))));
  }

  render(app: App): void {
    const ws = app.weightStats;
    if (ws && (!app.selectedWeight || !ws.weights.some((w) => w.name === app.selectedWeight))) {
      app.selectedWeight = ws.weights.find((w) => w.bended)?.name ?? ws.weights[0]?.name ?? null;
    }
    const using = ws?.interpolation ? `interpolating ${Object.entries(ws.interpolation).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(", ")}` : `version ${ws?.version}`;
    $("#weights-version").textContent = ws ? `${using} · ${ws.weights.length} weights` : "";
    this.renderTable(app);
    void this.histogram(app);
  }

  private renderTable(app: App): void {
    const table = $("#weights-table");
    const ws = app.weightStats?.weights ?? [];
    let test = (_: string) => true;
    const text = this.filter.value.trim();
    if (text) {
      try {
        const re = new RegExp(text, "i");
        test = (s) => re.test(s);
      } catch {
        test = (s) => s.includes(text);
      }
    }
    const stat = (w: WeightRow, k: keyof Stats) => w.changed && w.current[k] !== w.original[k]
      ? h("td", { class: "num changed", title: `original ${fmt(w.original[k])}` }, fmt(w.current[k]), h("span", { class: "was" }, fmt(w.original[k])))
      : h("td", { class: "num" }, fmt(w.current[k]));
    const prefix = sharedPrefix(ws.map((w) => w.name), ".");
    fill(table,
      h("thead", {}, h("tr", {}, ...["name", "shape", "mean", "std", "min", "max"].map((c, i) => h("th", { class: i > 1 ? "num" : "" }, c)))),
      h("tbody", {}, ...ws.filter((w) => test(w.name)).map((w) =>
        h("tr", {
          class: [w.name === app.selectedWeight ? "selected" : "", w.bended ? "bended" : "", w.changed ? "changed" : ""].join(" "),
          dataset: { weight: w.name },
          onclick: () => app.selectWeight(w.name),
        },
        h("td", { class: "mono name", title: w.name }, prefix && w.name.startsWith(prefix) ? `…${w.name.slice(prefix.length)}` : w.name, w.bended ? h("span", { class: "tag tag-bended" }, "bent") : null),
        h("td", { class: "mono", title: `${w.size} values` }, `[${w.shape.join(", ")}]`),
        stat(w, "mean"), stat(w, "std"), stat(w, "min"), stat(w, "max")))));
    table.querySelector("tr.selected")?.scrollIntoView({ block: "nearest" });
  }

  private async histogram(app: App): Promise<void> {
    const name = app.selectedWeight;
    const token = ++this.histToken;
    if (!name) {
      $("#hist-title").textContent = "Histogram";
      return;
    }
    const r = await app.client.command("histogram", name, 80);
    if (token !== this.histToken || !r.ok) return;
    const d = r.dict as HistogramDict;
    $("#hist-title").textContent = `${d.name}  [${d.shape.join(", ")}]`;
    const s = d.stats;
    $("#hist-stats").textContent = d.changed
      ? `original mean ${fmt(s.original.mean)} std ${fmt(s.original.std)} → as used mean ${fmt(s.current.mean)} std ${fmt(s.current.std)}`
      : `mean ${fmt(s.original.mean)} · std ${fmt(s.original.std)} · min ${fmt(s.original.min)} · max ${fmt(s.original.max)} (unchanged)`;
    if (!this.plot) {
      this.plot = new Plot($("#hist-plot"), {
        height: 190,
        legend: false,
        series: [
          { label: "original", stroke: COLORS.original, fill: "rgba(86,170,255,0.28)", stepped: true },
          { label: "as used", stroke: COLORS.bended, fill: "rgba(255,138,61,0.28)", stepped: true },
        ],
      });
    }
    const width = (d.hi - d.lo) / d.bins;
    const x = Array.from({ length: d.bins + 1 }, (_, i) => d.lo + i * width);
    // Stepped paths need a closing point: repeat the last count at the upper edge.
    this.plot.setData(x, [[...d.original, d.original[d.bins - 1]], [...d.current, d.current[d.bins - 1]]]);
  }
}
