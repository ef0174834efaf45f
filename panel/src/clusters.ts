// The Bend tab's clusters pane: group an activation's channels ('cluster <activation> <k>'),
// see what each cluster draws (its mean feature map for the current input, from
// 'clustermaps'), and bend one with a click ('bend <activation> <callback> cluster <name>').
import type { App, View } from "./app.js";
import type { ChangeEvent } from "./client.js";
import { $, fill, h } from "./dom.js";
import { drawTiles } from "./plots.js";
import type { ActivationView } from "./types.js";

/** What a click on a cluster does: a spatial bending, as `bend` atoms after the pattern. */
const CLUSTER_BENDINGS: Record<string, (string | number)[]> = {
  "Invert": ["invert"],
  "Rotate 90°": ["rotate", "degrees", 90],
  "Flip x": ["flip", "axis", "x"],
  "Zoom ×2": ["zoom", "factor", 2],
  "Erode 1": ["erode", "radius", 1],
  "Blur 1.5": ["blur", "sigma", 1.5],
};

interface ClusterMaps {
  activation: string;
  clusters: { name: string; channels: number[] }[];
  view: ActivationView;
}

export class ClustersView implements View {
  parts = ["graph" as const];
  private readonly activation: HTMLInputElement;
  private readonly k: HTMLInputElement;
  private readonly bending: HTMLSelectElement;
  /** The activation whose clusters are shown (null: none yet). */
  private shown: string | null = null;
  /** Cluster maps received (for tests). */
  loaded = 0;

  constructor(private readonly app: App) {
    this.activation = h("input", { id: "clusters-activation", class: "grow mono", placeholder: "activation with channels (N, C, H, W), e.g. net_6", spellcheck: "false" });
    this.k = h("input", { id: "clusters-k", type: "number", min: "2", max: "16", value: "4", class: "narrow" });
    this.bending = h("select", { id: "clusters-bending" }, ...Object.keys(CLUSTER_BENDINGS).map((label) => h("option", { value: label }, label)));
    $("#tab-bend").append(
      h("section", { class: "box", id: "clusters-box" },
        h("h3", {}, "Channel clusters ", h("span", { class: "muted" }, "(cluster: channels that draw alike, by k-means)")),
        h("div", { class: "row" },
          this.activation,
          h("label", { class: "muted" }, "k ", this.k),
          h("button", { id: "clusters-run", onclick: () => void this.cluster() }, "Cluster")),
        h("div", { class: "row" }, h("span", { class: "muted" }, "click a cluster to bend it with"), this.bending),
        h("div", { id: "clusters", class: "cluster-tiles" })));
    app.onSelectNode((name) => {
      if (name && !this.activation.matches(":focus")) this.activation.value = name;
    });
  }

  render(app: App): void {
    // A new model or method: the clusters shown may be gone.
    if (this.shown && !app.graph?.nodes.some((n) => n.name === this.shown)) {
      this.shown = null;
      fill($("#clusters"));
    }
  }

  event(_app: App, e: ChangeEvent): void {
    // Clustered by any client: show that activation's clusters.
    if (e.command === "cluster" && typeof e.values[0] === "string") {
      const activation = String(e.values[0]).replace(/:c\d+:\d+$/, "");
      void this.load(activation);
    }
  }

  private async cluster(): Promise<void> {
    const activation = this.activation.value.trim();
    if (!activation) return;
    const reply = await this.app.run("cluster", activation, Number(this.k.value));
    if (reply.ok) await this.load(activation);
  }

  private async load(activation: string): Promise<void> {
    const reply = await this.app.client.command("clustermaps", activation);
    if (!reply.ok) return;
    const maps = reply.dict as ClusterMaps;
    this.shown = activation;
    const [tiles, height, width] = maps.view.dims;
    const m = Math.max(Math.abs(maps.view.min), Math.abs(maps.view.max)) || 1;
    const cards = maps.clusters.slice(0, tiles).map((cluster, i) => {
      const canvas = h("canvas", { class: "cluster-map" });
      drawTiles(canvas, maps.view.data.slice(i * height * width, (i + 1) * height * width), 1, height, width, m);
      return h("button", {
        class: "cluster-tile", title: `bend ${cluster.name} (${cluster.channels.length} channels)`, dataset: { cluster: cluster.name },
        onclick: () => void this.bend(activation, cluster.name),
      }, canvas, h("span", { class: "mono small" }, `${cluster.name} · ${cluster.channels.length}`));
    });
    fill($("#clusters"), ...cards);
    this.loaded++;
  }

  private async bend(activation: string, cluster: string): Promise<void> {
    await this.app.run("bend", activation, ...CLUSTER_BENDINGS[this.bending.value], "cluster", cluster);
  }
}
