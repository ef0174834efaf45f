// The graph pane: the diagram (grouped by module, with a minimap), a search box that finds
// a node inside closed groups, and a card for the selected node with its weights and what
// to do with it (watch its activation, bend it or its weights).
import type { App, View } from "./app.js";
import { $, fill, h } from "./dom.js";
import { GraphView, ownWeights } from "./graph.js";

const ACTIVATION_OPS = new Set(["placeholder", "call_module", "call_function", "call_method", "get_attr"]);

export class GraphPane implements View {
  parts = ["graph" as const, "weights" as const, "state" as const];
  readonly view: GraphView;

  constructor(private readonly app: App) {
    this.view = new GraphView($("#cy"));
    this.view.onSelect = (name) => app.selectNode(name);
    this.view.onChange = () => this.count(app);
    const search = $("#graph-search") as HTMLInputElement;
    search.addEventListener("input", () => {
      const hits = this.view.highlight(search.value);
      $("#graph-hits").textContent = search.value ? `${hits.length} match${hits.length === 1 ? "" : "es"}` : "";
    });
    search.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      const hits = this.view.highlight(search.value);
      if (hits.length) {
        // Enter again steps to the next match
        const next = hits[(hits.indexOf(app.selectedNode ?? "") + 1) % hits.length];
        app.selectNode(next);
        this.view.select(next, true);
      }
    });
    $("#graph-fit").addEventListener("click", () => this.view.fit());
    $("#graph-dir").addEventListener("click", () => this.view.toggleDirection());
    $("#graph-expand").addEventListener("click", () => this.view.expandAll());
    $("#graph-collapse").addEventListener("click", () => this.view.collapseAll());
  }

  render(app: App): void {
    const g = app.graph;
    if (g) this.view.setGraph(g.nodes, app.weightNames, app.bentWeights);
    else this.view.clear();
    this.view.setWatched(app.watched);
    this.view.select(app.selectedNode);
    this.count(app);
    this.card(app);
  }

  private count(app: App): void {
    const g = app.graph;
    const v = this.view;
    const nodes = g?.nodes ?? [];
    const bent = nodes.filter((n) => n.bended).length;
    const weights = app.weightNames, bentWeights = app.bentWeights;
    const wbent = nodes.filter((n) => ownWeights(n, weights).some((w) => bentWeights.has(w))).length;
    const closed = v.visible?.collapsed.length ?? 0;
    const groups = v.grouping.groups.size;
    const grouping = groups ? ` · ${groups} groups, ${closed} closed` : "";
    $("#graph-count").textContent = g ? `${g.method}: ${nodes.length} nodes${grouping} · ${bent} bended · ${wbent} with bent weights` : "no graph";
  }

  private card(app: App): void {
    const card = $("#node-card");
    const node = app.graph?.nodes.find((n) => n.name === app.selectedNode);
    if (!node) {
      card.hidden = true;
      return;
    }
    card.hidden = false;
    const weights = ownWeights(node, app.weightNames);
    const bent = app.bentWeights;
    const canWatch = ACTIVATION_OPS.has(node.op);
    fill(card,
      h("div", { class: "card-head" },
        h("strong", {}, node.name),
        node.bended ? h("span", { class: "tag tag-bended" }, "bended") : null,
        h("button", { class: "icon", title: "close", onclick: () => app.selectNode(null) }, "×")),
      h("dl", {},
        h("dt", {}, "op"), h("dd", {}, node.op),
        h("dt", {}, "target"), h("dd", {}, node.target),
        h("dt", {}, "shape"), h("dd", {}, node.shape || "–"),
        h("dt", {}, "inputs"), h("dd", {}, node.inputs.join(", ") || "–"),
        weights.length ? [h("dt", {}, "weights"), h("dd", {}, ...weights.map((w) =>
          h("button", { class: `chip link${bent.has(w) ? " bent" : ""}`, title: "show in Weights", onclick: () => {
            app.selectWeight(w);
            app.showTab("weights");
          } }, w.slice(node.target.length + 1))))] : null),
      h("div", { class: "row" },
        canWatch ? h("button", { onclick: () => {
          app.watch(node.name, !app.watched.includes(node.name));
          app.showTab("activations");
        } }, app.watched.includes(node.name) ? "Unwatch" : "Watch activation") : null,
        canWatch ? h("button", { class: "primary", onclick: () => app.bendTarget(node.name) }, "Bend activation") : null,
        weights.length ? h("button", { onclick: () => app.bendTarget(weights.length === 1 ? weights[0] : `${node.target.replace(/\./g, "\\.")}\\.[^.]+$`) }, "Bend weights") : null));
  }
}

