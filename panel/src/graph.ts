// The traced graph as a diagram: cytoscape.js draws on a canvas (pan, zoom, tap to
// select) and dagre lays the nodes out in ranks. Nodes are grouped by module path
// (compound nodes); a large graph opens with its groups collapsed, a tap opens one.
// Bended nodes are marked; the layout is redone only when the visible nodes change.
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import { sharedPrefix } from "./dom.js";
import { ancestors, groupByModule, initialExpansion, isGroupId, visibleGraph, type Grouping, type VisibleGraph } from "./graphgroups.js";
import { Minimap } from "./minimap.js";
import type { GraphNode } from "./types.js";

cytoscape.use(dagre);

const BIG = 250;
/** A graph of at most this many nodes opens with every group open. */
const SMALL = 80;
/** Visible elements a larger graph opens with: groups are expanded, largest first, within this. */
const OPEN_BUDGET = 30;

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
  // Elide a long shared scope (converted models), never down to a stub like "…0".
  const rest = prefix && n.name.startsWith(prefix) ? n.name.slice(prefix.length) : "";
  const name = rest.length >= 6 ? `…${rest}` : n.name;
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
    {
      selector: "node:parent",
      style: {
        "background-color": "#131922",
        "background-opacity": 0.55,
        "border-color": "#334057",
        "border-width": 1,
        "border-style": "dashed",
        "text-valign": "top",
        "text-halign": "center",
        "text-margin-y": -3,
        "font-size": 12,
        color: "#9fb2cf",
        padding: "14px",
      },
    },
    { selector: "node.group-collapsed", style: { "background-color": "#1a2740", "border-color": "#4d6ea0", "border-width": 2.5, "font-weight": "bold", color: "#cfe0ff" } },
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
  readonly minimap: Minimap;
  private signature = "";
  private visibleKey = "";
  private direction: "TB" | "LR" = "TB";
  nodes: GraphNode[] = [];
  grouping: Grouping = { groups: new Map(), groupOf: new Map(), top: { groups: [], members: [] } };
  /** Groups drawn open (as boxes); the others are one node each. */
  readonly expanded = new Set<string>();
  visible: VisibleGraph | null = null;
  private weights: readonly string[] = [];
  private bentWeights: ReadonlySet<string> = new Set();
  private watched = new Set<string>();
  private query = "";
  /** Milliseconds the last full layout took. */
  lastLayoutMs = 0;
  onSelect: (name: string | null) => void = () => undefined;
  /** Called after groups open or close (the pane updates its counts). */
  onChange: () => void = () => undefined;

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
    this.minimap = new Minimap(this.cy, container.parentElement ?? container);
    this.cy.on("tap", "node", (e) => {
      const el = e.target as cytoscape.NodeSingular;
      if (el.hasClass("group-collapsed")) this.expand(el.id());
      else if (!isGroupId(el.id())) this.onSelect(el.id());
    });
    this.cy.on("dbltap", "node:parent", (e) => this.collapse((e.target as cytoscape.NodeSingular).id()));
    this.cy.on("tap", (e) => {
      if (e.target === this.cy) this.onSelect(null);
    });
  }

  /** Shows a graph: a new layout when the nodes differ, else only the marks change. */
  setGraph(nodes: GraphNode[], weights: readonly string[], bentWeights: ReadonlySet<string>): void {
    const signature = nodes.map((n) => `${n.name}<${n.inputs.join(",")}>${n.shape}`).join(";");
    this.nodes = nodes;
    this.weights = weights;
    this.bentWeights = bentWeights;
    if (signature !== this.signature) {
      this.signature = signature;
      this.grouping = groupByModule(nodes);
      this.expanded.clear();
      const open = nodes.length <= SMALL ? this.grouping.groups.keys() : initialExpansion(this.grouping, OPEN_BUDGET);
      for (const g of open) this.expanded.add(g);
      this.visibleKey = "";
      this.rebuild(true);
    }
    this.mark();
  }

  /** No graph (no model, or its method is not traced). */
  clear(): void {
    this.signature = "";
    this.visibleKey = "";
    this.nodes = [];
    this.visible = null;
    this.grouping = { groups: new Map(), groupOf: new Map(), top: { groups: [], members: [] } };
    this.expanded.clear();
    this.cy.elements().remove();
    this.minimap.redraw();
  }

  /** Opens a group (one level). */
  expand(id: string): void {
    if (!this.grouping.groups.has(id) || this.expanded.has(id)) return;
    this.expanded.add(id);
    this.rebuild(false, id);
  }

  /** Closes a group and the groups inside it. */
  collapse(id: string): void {
    const g = this.grouping.groups.get(id);
    if (!g || !this.expanded.has(id)) return;
    const close = (x: string) => {
      this.expanded.delete(x);
      for (const c of this.grouping.groups.get(x)!.children) close(c);
    };
    close(id);
    this.rebuild(false, id);
  }

  expandAll(): void {
    for (const id of this.grouping.groups.keys()) this.expanded.add(id);
    this.rebuild(true);
  }

  collapseAll(): void {
    this.expanded.clear();
    this.rebuild(true);
  }

  /** Opens the groups around a node so that it is drawn; false when there is no such node. */
  reveal(name: string): boolean {
    if (!this.grouping.groupOf.has(name)) return false;
    const closed = ancestors(this.grouping, name).filter((g) => !this.expanded.has(g));
    if (closed.length) {
      for (const g of closed) this.expanded.add(g);
      this.rebuild(false, name);
    }
    return true;
  }

  /** Nodes and collapsed groups drawn (what a person sees as boxes to read). */
  get visibleCount(): number {
    return this.visible ? this.visible.nodes.length + this.visible.collapsed.length : 0;
  }

  private rebuild(fit: boolean, focus?: string): void {
    const t0 = performance.now();
    const nodes = this.nodes;
    const v = visibleGraph(nodes, this.grouping, this.expanded);
    this.visible = v;
    const key = [...v.nodes, ...v.collapsed.map((g) => g.id), ...v.boxes.map((g) => g.id)].join(";");
    if (key === this.visibleKey) return;
    this.visibleKey = key;
    const big = this.visibleCount > BIG;
    const cy = this.cy;
    const elements: cytoscape.ElementDefinition[] = [];
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const prefix = sharedPrefix(nodes.filter((n) => n.op !== "placeholder" && n.op !== "output").map((n) => n.name));
    const parent = (id: string) => v.parentOf.get(id) ?? undefined;
    for (const g of v.boxes) elements.push({ group: "nodes", data: { id: g.id, label: g.path, parent: parent(g.id), w: 10, h: 10 }, classes: "group" });
    for (const g of v.collapsed) {
      const text = `${g.path}\n${g.size} nodes`;
      const w = Math.max(g.path.length, 9) * 7.6 + 28;
      elements.push({ group: "nodes", data: { id: g.id, label: text, parent: parent(g.id), w, h: 44 }, classes: "group-collapsed" });
    }
    for (const name of v.nodes) {
      const n = byName.get(name)!;
      const text = label(n, prefix);
      const lines = text.split("\n");
      const w = Math.max(...lines.map((l) => l.length)) * 6.9 + 24;
      elements.push({ group: "nodes", data: { id: n.name, label: text, parent: parent(n.name), w, h: 15 * lines.length + 12 }, classes: `op-${n.op}` });
    }
    for (const [from, to] of v.edges) elements.push({ group: "edges", data: { id: `${from}->${to}`, source: from, target: to } });
    const selected = cy.nodes(":selected").map((n) => n.id());
    cy.batch(() => {
      cy.elements().remove();
      cy.style(style(big));
      cy.add(elements);
      for (const id of selected) cy.getElementById(id).select();
    });
    this.layout(big, fit, focus);
    this.mark();
    this.lastLayoutMs = performance.now() - t0;
    this.onChange();
  }

  private layout(big: boolean, fit = true, focus?: string): void {
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
    const cy = this.cy;
    const zoom = cy.zoom();
    cy.layout(options).run();
    const el = focus ? cy.getElementById(focus) : null;
    if (!fit && el && !el.empty()) {
      // keep the zoom a person chose; bring what was opened or closed into view
      cy.zoom(Math.max(zoom, 0.5));
      cy.center(el);
    } else if (cy.zoom() < 0.6 && cy.nodes().length > 0) {
      // Tall graphs: start readable at the top rather than fitted to a sliver.
      const z = 0.9;
      cy.zoom(z);
      const bb = cy.elements().boundingBox();
      if (this.direction === "TB") cy.pan({ x: cy.width() / 2 - ((bb.x1 + bb.x2) / 2) * z, y: 24 - bb.y1 * z });
      else cy.pan({ x: 24 - bb.x1 * z, y: cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * z });
    }
    this.minimap.redraw();
  }

  toggleDirection(): void {
    this.direction = this.direction === "TB" ? "LR" : "TB";
    this.layout(this.visibleCount > BIG);
  }

  /** Marks bendings, watched nodes and search hits; a collapsed group shows what is inside it. */
  private mark(): void {
    const cy = this.cy;
    const v = this.visible;
    if (!v) return;
    const classes = new Map<string, Set<string>>();
    const add = (name: string, cls: string) => {
      const to = v.representative.get(name);
      if (!to) return;
      if (!classes.has(to)) classes.set(to, new Set());
      classes.get(to)!.add(cls);
    };
    const test = matcher(this.query);
    for (const n of this.nodes) {
      if (n.bended) add(n.name, "bended");
      if (ownWeights(n, this.weights).some((w) => this.bentWeights.has(w))) add(n.name, "wbent");
      if (this.watched.has(n.name)) add(n.name, "watched");
      if (test(n.name)) add(n.name, "match");
    }
    cy.batch(() => {
      cy.nodes().forEach((el) => {
        if (el.isParent()) return;
        const on = classes.get(el.id());
        for (const cls of ["bended", "wbent", "watched", "match"]) el.toggleClass(cls, on?.has(cls) ?? false);
      });
      cy.edges().removeClass("hot");
      cy.nodes(".bended").outgoers("edge").addClass("hot");
    });
    this.minimap.redraw();
  }

  setWatched(names: readonly string[]): void {
    this.watched = new Set(names);
    this.mark();
  }

  select(name: string | null, center = false): void {
    const cy = this.cy;
    cy.nodes(":selected").unselect();
    if (name === null) return;
    if (center) this.reveal(name);
    const el = cy.getElementById(name);
    if (el.empty()) return;
    el.select();
    if (center) cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 0.9) }, { duration: 250 });
  }

  /** Highlights nodes whose name matches the text (a regular expression, else a substring); returns them. */
  highlight(text: string): string[] {
    this.query = text;
    this.mark();
    const test = matcher(text);
    return this.nodes.filter((n) => test(n.name)).map((n) => n.name);
  }

  /** Fits the graph as drawn (collapsed groups as single nodes). */
  fit(): void {
    this.cy.fit(undefined, 24);
  }

  /** Whether a node is drawn with a mark (bended, wbent, watched, match), itself or by its closed group. */
  marked(name: string, cls: string): boolean {
    const id = this.visible?.representative.get(name);
    return id !== undefined && this.cy.getElementById(id).hasClass(cls);
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

/** A test for node names: the text as a case-insensitive regular expression, else as a substring. */
function matcher(text: string): (s: string) => boolean {
  if (!text) return () => false;
  try {
    const re = new RegExp(text, "i");
    return (s) => re.test(s);
  } catch {
    return (s) => s.toLowerCase().includes(text.toLowerCase());
  }
}
