// The traced graph as a diagram: cytoscape.js draws on a canvas (pan, zoom, tap to
// select) and dagre lays the nodes out in ranks. Bended nodes are marked; the layout is
// redone only when the nodes change, not when a bending does.
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import { sharedPrefix } from "./dom.js";
import type { GraphNode } from "./types.js";

cytoscape.use(dagre);

const BIG = 250;

const OP_LABEL: Record<string, string> = {
  placeholder: "input",
  get_attr: "get_attr",
  call_module: "module",
  call_function: "function",
  call_method: "method",
  output: "output",
};

/** Weights a module node owns directly: `<target>.<param>` with no further dot. */
export function ownWeights(node: GraphNode, weights: readonly string[]): string[] {
  if (node.op === "get_attr") return weights.filter((w) => w === node.target);
  if (node.op !== "call_module") return [];
  const prefix = `${node.target}.`;
  return weights.filter((w) => w.startsWith(prefix) && !w.slice(prefix.length).includes("."));
}

function label(n: GraphNode, prefix: string): string {
  const name = prefix && n.name.startsWith(prefix) ? `…${n.name.slice(prefix.length)}` : n.name;
  // A module's target is its name with dots: say only "module" then.
  const redundant = n.op === "call_module" && n.target.replace(/[./]/g, "_") === n.name;
  const what = (n.op === "call_function" || n.op === "call_method" || (n.op === "call_module" && !redundant)) ? `${OP_LABEL[n.op]} · ${n.target}` : OP_LABEL[n.op] ?? n.op;
  return n.shape ? `${name}\n${what}\n${n.shape}` : `${name}\n${what}`;
}

function style(big: boolean): cytoscape.StylesheetJson {
  return [
    {
      selector: "node",
      style: {
        shape: "round-rectangle",
        width: "data(w)",
        height: "data(h)",
        label: "data(label)",
        "text-wrap": "wrap",
        "text-valign": "center",
        "text-halign": "center",
        "font-family": "DejaVu Sans Mono, Menlo, Consolas, monospace",
        "font-size": 11,
        "line-height": 1.25,
        color: "#dfe5ee",
        "background-color": "#1d2430",
        "border-width": 1.5,
        "border-color": "#3a4457",
        "min-zoomed-font-size": big ? 7 : 4,
      },
    },
    { selector: "node.op-call_module", style: { "background-color": "#18304d", "border-color": "#2f5f93" } },
    { selector: "node.op-call_function", style: { "background-color": "#2b2140", "border-color": "#5e4a8f" } },
    { selector: "node.op-call_method", style: { "background-color": "#153a39", "border-color": "#2f7d78" } },
    { selector: "node.op-placeholder", style: { "background-color": "#1d3a26", "border-color": "#3f8a55", shape: "round-tag" } },
    { selector: "node.op-output", style: { "background-color": "#3a3216", "border-color": "#9a8434", shape: "round-tag" } },
    { selector: "node.op-get_attr", style: { "background-color": "#262a31", "border-color": "#5b6270" } },
    { selector: "node.wbent", style: { "border-color": "#ff5fa2", "border-width": 3, "border-style": "dashed" } },
    { selector: "node.bended", style: { "border-color": "#ff8a3d", "border-width": 3.5, "background-color": "#4a2a14", "border-style": "solid" } },
    { selector: "node.watched", style: { "underlay-color": "#56aaff", "underlay-opacity": 0.25, "underlay-padding": 6 } },
    { selector: "node.match", style: { "underlay-color": "#ffe066", "underlay-opacity": 0.35, "underlay-padding": 5 } },
    { selector: "node:selected", style: { "border-color": "#ffffff", "border-width": 3, "overlay-color": "#ffffff", "overlay-opacity": 0.08, "overlay-padding": 4 } },
    {
      selector: "edge",
      style: {
        width: 1.4,
        "line-color": "#4b5568",
        "target-arrow-color": "#4b5568",
        "target-arrow-shape": big ? "none" : "triangle",
        "arrow-scale": 0.8,
        "curve-style": big ? "haystack" : "bezier",
      },
    },
    { selector: "edge.hot", style: { "line-color": "#ff8a3d", "target-arrow-color": "#ff8a3d", width: 2.2 } },
  ];
}

export class GraphView {
  readonly cy: cytoscape.Core;
  private signature = "";
  private direction: "TB" | "LR" = "TB";
  nodes: GraphNode[] = [];
  /** Milliseconds the last full layout took. */
  lastLayoutMs = 0;
  onSelect: (name: string | null) => void = () => undefined;

  constructor(container: HTMLElement) {
    this.cy = cytoscape({
      container,
      style: style(false),
      minZoom: 0.03,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      selectionType: "single",
      textureOnViewport: false,
      motionBlur: false,
    });
    this.cy.on("tap", "node", (e) => this.onSelect((e.target as cytoscape.NodeSingular).id()));
    this.cy.on("tap", (e) => {
      if (e.target === this.cy) this.onSelect(null);
    });
  }

  /** Shows a graph: a new layout when the nodes differ, else only the marks change. */
  setGraph(nodes: GraphNode[], weights: readonly string[], bentWeights: ReadonlySet<string>): void {
    const signature = nodes.map((n) => `${n.name}<${n.inputs.join(",")}>${n.shape}`).join(";");
    this.nodes = nodes;
    if (signature !== this.signature) {
      this.signature = signature;
      this.rebuild(nodes);
    }
    this.mark(nodes, weights, bentWeights);
  }

  /** No graph (no model, or its method is not traced). */
  clear(): void {
    this.signature = "";
    this.nodes = [];
    this.cy.elements().remove();
  }

  private rebuild(nodes: GraphNode[]): void {
    const t0 = performance.now();
    const big = nodes.length > BIG;
    const cy = this.cy;
    const elements: cytoscape.ElementDefinition[] = [];
    const names = new Set(nodes.map((n) => n.name));
    const prefix = sharedPrefix(nodes.filter((n) => n.op !== "placeholder" && n.op !== "output").map((n) => n.name));
    for (const n of nodes) {
      const text = label(n, prefix);
      const lines = text.split("\n");
      const w = Math.max(...lines.map((l) => l.length)) * 6.9 + 24;
      elements.push({ group: "nodes", data: { id: n.name, label: text, w, h: 15 * lines.length + 12 }, classes: `op-${n.op}` });
    }
    for (const n of nodes) {
      for (const input of new Set(n.inputs)) {
        if (names.has(input)) elements.push({ group: "edges", data: { id: `${input}->${n.name}`, source: input, target: n.name } });
      }
    }
    cy.batch(() => {
      cy.elements().remove();
      cy.style(style(big));
      cy.add(elements);
    });
    this.layout(big);
    this.lastLayoutMs = performance.now() - t0;
  }

  private layout(big: boolean): void {
    const options = {
      name: "dagre",
      rankDir: this.direction,
      nodeSep: 18,
      rankSep: 34,
      edgeSep: 8,
      ranker: big ? "longest-path" : "network-simplex",
      animate: false,
      fit: true,
      padding: 24,
    } as cytoscape.LayoutOptions;
    this.cy.layout(options).run();
    // Tall graphs: start readable at the top rather than fitted to a sliver.
    const z = 0.9;
    if (this.cy.zoom() < z && this.nodes.length > 0) {
      this.cy.zoom(z);
      const bb = this.cy.elements().boundingBox();
      if (this.direction === "TB") this.cy.pan({ x: this.cy.width() / 2 - ((bb.x1 + bb.x2) / 2) * z, y: 24 - bb.y1 * z });
      else this.cy.pan({ x: 24 - bb.x1 * z, y: this.cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * z });
    }
  }

  toggleDirection(): void {
    this.direction = this.direction === "TB" ? "LR" : "TB";
    this.layout(this.nodes.length > BIG);
  }

  private mark(nodes: GraphNode[], weights: readonly string[], bentWeights: ReadonlySet<string>): void {
    const cy = this.cy;
    cy.batch(() => {
      for (const n of nodes) {
        const el = cy.getElementById(n.name);
        if (el.empty()) continue;
        el.toggleClass("bended", n.bended);
        el.toggleClass("wbent", ownWeights(n, weights).some((w) => bentWeights.has(w)));
      }
      cy.edges().removeClass("hot");
      cy.nodes(".bended").outgoers("edge").addClass("hot");
    });
  }

  setWatched(names: readonly string[]): void {
    const set = new Set(names);
    this.cy.batch(() => this.cy.nodes().forEach((n) => void n.toggleClass("watched", set.has(n.id()))));
  }

  select(name: string | null, center = false): void {
    const cy = this.cy;
    cy.nodes(":selected").unselect();
    if (name === null) return;
    const el = cy.getElementById(name);
    if (el.empty()) return;
    el.select();
    if (center) cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 0.9) }, { duration: 250 });
  }

  /** Highlights nodes whose name matches the text (a regular expression, else a substring); returns them. */
  highlight(text: string): string[] {
    const cy = this.cy;
    let test: (s: string) => boolean = () => false;
    if (text) {
      try {
        const re = new RegExp(text, "i");
        test = (s) => re.test(s);
      } catch {
        test = (s) => s.toLowerCase().includes(text.toLowerCase());
      }
    }
    const hits: string[] = [];
    cy.batch(() => cy.nodes().forEach((n) => {
      const on = test(n.id());
      n.toggleClass("match", on);
      if (on) hits.push(n.id());
    }));
    return hits;
  }

  fit(): void {
    this.cy.fit(undefined, 24);
  }

  /** Positions (page pixels) of a node, for tests that click on it. */
  clientPoint(name: string): { x: number; y: number } | null {
    const el = this.cy.getElementById(name);
    if (el.empty()) return null;
    const p = (el as cytoscape.NodeSingular).renderedPosition();
    const box = this.cy.container()!.getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }
}
