// Groups a traced graph by module path (encoder / decoder / net.3 …) so that a real model's
// hundreds of nodes read as a few boxes: a module call sits in its parent module's group, a
// function call in the deepest group all its inputs share. Groups of one node are dissolved,
// a group holding only one group is skipped; what is visible follows the expanded set.
import type { GraphNode } from "./types.js";

export interface Group {
  /** Element id: "group:" + path (never a node name). */
  id: string;
  /** Module path, e.g. "decoder.stacks.0". */
  path: string;
  parent: string | null;
  /** Node names directly inside. */
  members: string[];
  /** Group ids directly inside. */
  children: string[];
  /** Nodes inside, at any depth. */
  size: number;
}

export interface Grouping {
  groups: Map<string, Group>;
  /** The innermost group of each node (null: top level). */
  groupOf: Map<string, string | null>;
  /** Top-level groups and nodes. */
  top: { groups: string[]; members: string[] };
}

/** Visible elements for an expanded set: nodes, groups drawn as boxes, collapsed groups, edges. */
export interface VisibleGraph {
  nodes: string[];
  boxes: Group[];
  collapsed: Group[];
  /** The group (box) each visible node or group sits in. */
  parentOf: Map<string, string | null>;
  edges: [string, string][];
  /** The visible element that stands for each node (itself, or its outermost collapsed group). */
  representative: Map<string, string>;
}

const GROUP = "group:";

export function isGroupId(id: string): boolean {
  return id.startsWith(GROUP);
}

function parentPath(target: string): string {
  const parts = target.split(/[./]/);
  return parts.slice(0, -1).join(".");
}

function commonPath(paths: string[]): string {
  if (paths.length === 0) return "";
  let common = paths[0].split(".");
  for (const p of paths.slice(1)) {
    const parts = p.split(".");
    let i = 0;
    while (i < common.length && i < parts.length && common[i] === parts[i]) i++;
    common = common.slice(0, i);
  }
  return common.filter(Boolean).join(".");
}

interface TreeNode {
  path: string;
  members: string[];
  children: Map<string, TreeNode>;
}

function size(t: TreeNode): number {
  let n = t.members.length;
  for (const c of t.children.values()) n += size(c);
  return n;
}

/** Dissolves one-node groups into their parent and skips groups that hold only one group. */
function normalize(t: TreeNode): void {
  for (const [key, child] of [...t.children]) {
    normalize(child);
    let c = child;
    while (c.members.length === 0 && c.children.size === 1) c = [...c.children.values()][0];
    if (size(c) <= 1) {
      t.children.delete(key);
      t.members.push(...c.members, ...[...c.children.values()].flatMap((g) => g.members));
    } else if (c !== child) {
      t.children.set(key, c);
    }
  }
}

/**
 * Each node's module path before normalizing: a module call's parent module; a function
 * the deepest path its anchored inputs share; a node with no anchored input (a constant,
 * `full`, `randn`) the path its consumers share.
 */
function rawPaths(nodes: readonly GraphNode[]): Map<string, string> {
  const raw = new Map<string, string>();
  const anchored = new Set<string>();
  for (const n of nodes) {
    let path = "";
    if (n.op === "call_module" || (n.op === "get_attr" && /[./]/.test(n.target))) {
      path = parentPath(n.target);
      anchored.add(n.name);
    } else if (n.op === "call_function" || n.op === "call_method") {
      const from = n.inputs.filter((i) => anchored.has(i));
      if (from.length) {
        path = commonPath(from.map((i) => raw.get(i)!));
        anchored.add(n.name);
      }
    }
    raw.set(n.name, path);
  }
  const consumers = new Map<string, string[]>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n.name]);
  for (const n of [...nodes].reverse()) {
    if (anchored.has(n.name) || n.op === "placeholder" || n.op === "output") continue;
    const to = (consumers.get(n.name) ?? []).filter((c) => anchored.has(c));
    if (to.length) {
      raw.set(n.name, commonPath(to.map((c) => raw.get(c)!)));
      anchored.add(n.name);
    }
  }
  return raw;
}

export function groupByModule(nodes: readonly GraphNode[]): Grouping {
  const raw = rawPaths(nodes);
  const root: TreeNode = { path: "", members: [], children: new Map() };
  for (const n of nodes) {
    const parts = raw.get(n.name)!.split(".").filter(Boolean);
    let t = root;
    parts.forEach((part, i) => {
      let c = t.children.get(part);
      if (!c) {
        c = { path: parts.slice(0, i + 1).join("."), members: [], children: new Map() };
        t.children.set(part, c);
      }
      t = c;
    });
    t.members.push(n.name);
  }
  normalize(root);
  const groups = new Map<string, Group>();
  const groupOf = new Map<string, string | null>();
  const visit = (t: TreeNode, parent: string | null): string[] => {
    const ids: string[] = [];
    for (const c of t.children.values()) {
      const id = GROUP + c.path;
      const g: Group = { id, path: c.path, parent, members: [...c.members], children: [], size: size(c) };
      groups.set(id, g);
      for (const m of c.members) groupOf.set(m, id);
      g.children = visit(c, id);
      ids.push(id);
    }
    return ids;
  };
  for (const m of root.members) groupOf.set(m, null);
  const topGroups = visit(root, null);
  return { groups, groupOf, top: { groups: topGroups, members: [...root.members] } };
}

/** The groups around a node, outermost first. */
export function ancestors(grouping: Grouping, name: string): string[] {
  const out: string[] = [];
  let g = grouping.groupOf.get(name) ?? null;
  while (g) {
    out.unshift(g);
    g = grouping.groups.get(g)?.parent ?? null;
  }
  return out;
}

/**
 * The groups to expand at first: largest first, top level before nested, while the visible
 * count stays within `budget` (a small model opens fully, a large one stays collapsed).
 */
export function initialExpansion(grouping: Grouping, budget: number): Set<string> {
  const expanded = new Set<string>();
  let visible = grouping.top.groups.length + grouping.top.members.length;
  const bySize = (ids: string[]) => [...ids].sort((a, b) => grouping.groups.get(b)!.size - grouping.groups.get(a)!.size);
  const queue = bySize(grouping.top.groups);
  while (queue.length) {
    const g = grouping.groups.get(queue.shift()!)!;
    const cost = g.members.length + g.children.length - 1;
    if (visible + cost > budget) continue;
    expanded.add(g.id);
    visible += cost;
    queue.push(...bySize(g.children));
  }
  return expanded;
}

export function visibleGraph(nodes: readonly GraphNode[], grouping: Grouping, expanded: ReadonlySet<string>): VisibleGraph {
  const out: VisibleGraph = { nodes: [], boxes: [], collapsed: [], parentOf: new Map(), edges: [], representative: new Map() };
  const walk = (groupIds: string[], members: string[], parent: string | null) => {
    for (const m of members) {
      out.nodes.push(m);
      out.parentOf.set(m, parent);
      out.representative.set(m, m);
    }
    for (const id of groupIds) {
      const g = grouping.groups.get(id)!;
      out.parentOf.set(id, parent);
      if (expanded.has(id)) {
        out.boxes.push(g);
        walk(g.children, g.members, id);
      } else {
        out.collapsed.push(g);
        const mark = (x: Group) => {
          for (const m of x.members) out.representative.set(m, id);
          for (const c of x.children) mark(grouping.groups.get(c)!);
        };
        mark(g);
      }
    }
  };
  walk(grouping.top.groups, grouping.top.members, null);
  const seen = new Set<string>();
  for (const n of nodes) {
    const to = out.representative.get(n.name);
    if (!to) continue;
    for (const input of n.inputs) {
      const from = out.representative.get(input);
      if (!from || from === to) continue;
      const key = `${from}->${to}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.edges.push([from, to]);
    }
  }
  return out;
}
