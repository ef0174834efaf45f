// The tfbend browser panel: one page, one WebSocket to the plugin, every action a
// command of the command table (so Max, OSC and the panel stay in sync).
import "../style.css";
import { App, type View } from "./app.js";
import { ActivationsView } from "./activations.js";
import { BendView } from "./bend.js";
import { ClustersView } from "./clusters.js";
import { $, fill, h } from "./dom.js";
import { GraphPane } from "./graphpane.js";
import { OutputView } from "./output.js";
import { InputView } from "./input.js";
import { StatusView } from "./status.js";
import type { GraphNode } from "./types.js";
import { VersionsView } from "./versions.js";
import { WeightsView } from "./weights.js";

class HeaderView implements View {
  parts = ["state" as const, "models" as const];
  constructor(app: App) {
    $("#model").addEventListener("change", (e) => void app.run("load", (e.target as HTMLSelectElement).value));
    $("#method").addEventListener("change", (e) => void app.run("method", (e.target as HTMLSelectElement).value));
  }
  render(app: App): void {
    const s = app.state;
    const models = [...app.models];
    if (s?.model && !models.includes(s.model)) models.push(s.model);
    fill($("#model"), ...models.map((m) => h("option", { value: m, selected: m === s?.model }, m)));
    fill($("#method"), ...(s?.methods ?? []).map((m) => h("option", { value: m, selected: m === s?.method }, m)));
    document.title = s?.model ? `tfbend · ${s.model}` : "tfbend";
  }
}

const app = new App(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`);
const graphPane = new GraphPane(app);
const output = new OutputView(app);
const input = new InputView(app);
const activations = new ActivationsView(app);
const views: View[] = [
  new HeaderView(app),
  graphPane,
  new BendView(app),
  new ClustersView(app), // appends its pane to the Bend tab
  new WeightsView(app),
  activations,
  new VersionsView(app),
  output,
  new StatusView(app),
];
for (const v of views) app.register(v);

for (const b of document.querySelectorAll<HTMLElement>("#tabs button")) b.addEventListener("click", () => app.showTab(b.dataset.tab!));
app.showTab("bend");

app.client.on("open", () => {
  const conn = $("#conn");
  conn.title = "connected";
  conn.className = "conn ok";
  app.log("info", `connected to ${location.host}`);
});
app.client.on("close", () => {
  const conn = $("#conn");
  conn.title = "disconnected: retrying";
  conn.className = "conn bad";
  app.log("error", "connection to the plugin lost; retrying");
});
app.client.connect();

/** Hooks for tests and the console. */
declare global {
  interface Window {
    tfbend: {
      app: App;
      graph: GraphPane["view"];
      views: View[];
      output: OutputView;
      input: InputView;
      activations: ActivationsView;
      clusters: ClustersView;
      /** Lays out a graph given as nodes (for measuring large graphs); returns milliseconds. */
      renderGraph(nodes: GraphNode[]): number;
    };
  }
}
window.tfbend = {
  app,
  graph: graphPane.view,
  views,
  output,
  input,
  activations,
  clusters: views.find((v): v is ClustersView => v instanceof ClustersView)!,
  renderGraph(nodes) {
    const t0 = performance.now();
    graphPane.view.setGraph(nodes, [], new Set());
    return performance.now() - t0;
  },
};
