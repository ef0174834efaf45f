// The Bend tab: pick a target (a node, a weight or a pattern), a callback and its
// arguments (each one a number or bound to a live control), and send 'bend'. Below: the
// active bendings with remove ('unbend'), 'reset', and a slider for every control ('set').
import type { App, View } from "./app.js";
import type { Atom, ChangeEvent } from "./client.js";
import { $, fill, fmt, h, throttle } from "./dom.js";
import type { ControlInfo } from "./types.js";

interface SliderRow {
  row: HTMLElement;
  range: HTMLInputElement;
  box: HTMLInputElement;
  lo: HTMLInputElement;
  hi: HTMLInputElement;
  dragging: boolean;
}

/** A slider range for a control without one: [0, 1] for values in it, else ±2|v|. */
function defaultRange(c: ControlInfo): [number, number] {
  if (c.min !== null && c.max !== null) return [c.min, c.max];
  const v = c.value;
  if (v >= 0 && v <= 1) return [c.min ?? 0, c.max ?? 1];
  const m = Math.max(1, Math.abs(v) * 2);
  return [c.min ?? -m, c.max ?? m];
}

/** An argument's declared domain as the form shows it: "[0, 1]", "≥ 0", or "" when unbounded. */
function domainText(min: number | null, max: number | null): string {
  if (min !== null && max !== null) return `[${min}, ${max}]`;
  if (min !== null) return `≥ ${min}`;
  return max !== null ? `≤ ${max}` : "";
}

export class BendView implements View {
  parts = ["bendings" as const, "controls" as const, "callbacks" as const, "graph" as const, "weights" as const];
  private readonly pattern: HTMLInputElement;
  private readonly callback: HTMLSelectElement;
  private readonly args: HTMLElement;
  private sliders = new Map<string, SliderRow>();
  private controlKey = "";
  private callbackKey = "";
  private readonly send = throttle((name: string, value: number) => void this.app.run("set", name, value), 30);

  constructor(private readonly app: App) {
    const tab = $("#tab-bend");
    this.pattern = h("input", { id: "bend-pattern", class: "grow mono", placeholder: "node, weight or pattern (regex from the start of a name)", spellcheck: "false" });
    this.callback = h("select", { id: "bend-callback", onchange: () => this.renderArgs() });
    this.args = h("div", { id: "bend-args", class: "args" });
    fill(tab,
      h("section", { class: "box" },
        h("h3", {}, "New bending"),
        h("label", { class: "field-row" }, h("span", { class: "field-name" }, "target"), this.pattern),
        h("div", { id: "bend-hints", class: "hints" }),
        h("label", { class: "field-row" }, h("span", { class: "field-name" }, "callback"), this.callback, h("span", { id: "bend-compat", class: "muted" })),
        this.args,
        h("div", { class: "row" },
          h("button", { id: "bend-go", class: "primary", onclick: () => void this.bend() }, "Bend"),
          h("span", { id: "bend-preview", class: "mono muted" }))),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", {}, "Active bendings"), h("button", { id: "bend-reset", class: "danger", onclick: () => void app.run("reset") }, "Reset all")),
        h("ul", { id: "bendings", class: "list" })),
      h("section", { class: "box" },
        h("h3", {}, "Controls ", h("span", { class: "muted" }, "(set)")),
        h("div", { id: "controls", class: "controls" })));
    this.pattern.addEventListener("input", () => this.preview());
    app.bendTarget = (pattern) => {
      this.pattern.value = pattern;
      app.showTab("bend");
      this.renderHints();
      this.preview();
      this.pattern.focus();
    };
    app.onSelectNode((name) => {
      if (name && !this.pattern.matches(":focus")) this.pattern.value = name;
      this.renderHints();
      this.preview();
    });
  }

  event(_app: App, e: ChangeEvent): void {
    if (e.command !== "set") return;
    const [name, value] = e.values;
    const s = this.sliders.get(String(name));
    if (s && !s.dragging && typeof value === "number") this.showValue(s, value);
  }

  render(app: App): void {
    const key = app.callbacks.map((c) => c.type).join(",");
    if (key !== this.callbackKey) {
      this.callbackKey = key;
      const current = this.callback.value || "Mask";
      fill(this.callback, ...app.callbacks.map((c) => h("option", { value: c.type, selected: c.type === current }, c.type)));
      this.renderArgs();
    }
    this.renderHints();
    this.renderBendings(app);
    this.renderControls(app);
  }

  private renderHints(): void {
    const app = this.app;
    const node = app.graph?.nodes.find((n) => n.name === app.selectedNode);
    const box = $("#bend-hints");
    if (!node) {
      fill(box, h("span", { class: "muted" }, "Click a node in the graph, or a weight in Weights, to target it."));
      return;
    }
    const prefix = `${node.target}.`;
    const weights = node.op === "call_module" ? app.weightNames.filter((w) => w.startsWith(prefix) && !w.slice(prefix.length).includes(".")) : [];
    const chip = (label: string, pattern: string) => h("button", { class: "chip link", onclick: () => {
      this.pattern.value = pattern;
      this.preview();
    } }, label);
    fill(box, h("span", { class: "muted" }, "targets: "), chip(`activation ${node.name}`, node.name), ...weights.map((w) => chip(`weight ${w}`, w)));
  }

  private renderArgs(): void {
    const info = this.app.callbacks.find((c) => c.type === this.callback.value);
    $("#bend-compat").textContent = info ? [info.weight ? "weights" : "", info.activation ? "activations" : ""].filter(Boolean).join(" & ") : "";
    if (!info) {
      fill(this.args);
      return;
    }
    const used = new Set(this.app.controls.map((c) => c.name));
    const rows = info.args.map((a) => {
      const numeric = typeof a.value === "number";
      let suggestion = a.name;
      for (let i = 2; used.has(suggestion); i++) suggestion = `${a.name}${i}`;
      used.add(suggestion);
      const domain = domainText(a.min ?? null, a.max ?? null);
      const value = h("input", { class: "arg-value mono", name: a.name, value: String(a.value), placeholder: a.name === "dim" ? "all" : "", title: domain, spellcheck: "false" });
      const bind = h("input", { type: "checkbox", class: "arg-bind", name: `bind-${a.name}`, disabled: !numeric });
      const control = h("input", { class: "arg-control mono", name: `control-${a.name}`, value: suggestion, disabled: true, spellcheck: "false" });
      bind.addEventListener("change", () => {
        control.disabled = !bind.checked;
        this.preview();
      });
      for (const el of [value, control]) el.addEventListener("input", () => this.preview());
      return h("div", { class: "arg", dataset: { arg: a.name } },
        h("span", { class: "field-name", title: domain }, domain ? `${a.name} ${domain}` : a.name), value,
        numeric && a.name !== "dim" ? h("label", { class: "bind", title: "drive this argument with a live control" }, bind, "control") : h("span", { class: "bind" }),
        numeric && a.name !== "dim" ? control : h("span"));
    });
    fill(this.args, ...rows);
    this.preview();
  }

  /** The atoms of the bend command the form describes. */
  private atoms(): Atom[] | null {
    const pattern = this.pattern.value.trim();
    if (!pattern) return null;
    const atoms: Atom[] = [pattern, this.callback.value.toLowerCase()];
    for (const row of this.args.querySelectorAll<HTMLElement>(".arg")) {
      const name = row.dataset.arg!;
      const text = row.querySelector<HTMLInputElement>(".arg-value")!.value.trim();
      const bind = row.querySelector<HTMLInputElement>(".arg-bind");
      const control = row.querySelector<HTMLInputElement>(".arg-control");
      if (bind?.checked && control?.value.trim()) {
        atoms.push(name, text === "" ? `@${control.value.trim()}` : `@${control.value.trim()}=${text}`);
        continue;
      }
      if (text === "") continue;
      const n = Number(text);
      atoms.push(name, text !== "" && Number.isFinite(n) ? n : text);
    }
    return atoms;
  }

  private preview(): void {
    const atoms = this.atoms();
    $("#bend-preview").textContent = atoms ? `bend ${atoms.join(" ")}` : "";
  }

  private async bend(): Promise<void> {
    const atoms = this.atoms();
    if (!atoms) {
      this.app.toast("bend: choose a target first (a node, a weight or a pattern)");
      return;
    }
    const reply = await this.app.run("bend", ...atoms);
    if (reply.ok) this.app.log("info", `bent ${reply.values.slice(2).join(", ")} with ${reply.values[1]}`);
  }

  private renderBendings(app: App): void {
    const list = $("#bendings");
    if (app.bendings.length === 0) {
      fill(list, h("li", { class: "muted empty" }, "No bendings: the model runs as trained."));
      return;
    }
    fill(list, ...app.bendings.map((b) =>
      h("li", { class: "bending" },
        h("div", { class: "bending-main" },
          h("span", { class: "mono callback" }, b.callback),
          h("span", { class: "patterns" }, ...b.patterns.map((p) => h("button", { class: "chip link mono", title: "select in the graph", onclick: () => {
            if (app.graph?.nodes.some((n) => n.name === p)) app.selectNode(p);
            else if (app.weightNames.includes(p)) {
              app.selectWeight(p);
              app.showTab("weights");
            }
          } }, p)))),
        h("button", { class: "icon remove", title: `unbend ${b.patterns.join(", ")}`, onclick: async () => {
          for (const p of b.patterns) await app.run("unbend", p);
        } }, "×"))));
  }

  private renderControls(app: App): void {
    const box = $("#controls");
    const key = app.controls.map((c) => `${c.name}:${c.min}:${c.max}`).join(",");
    if (key !== this.controlKey) {
      this.controlKey = key;
      this.sliders.clear();
      if (app.controls.length === 0) {
        fill(box, h("p", { class: "muted empty" }, "No controls yet: bind an argument to a control when bending (or send 'bend … prob @name=0.5')."));
      } else {
        fill(box, ...app.controls.map((c) => this.slider(c)));
      }
    }
    for (const c of app.controls) {
      const s = this.sliders.get(c.name);
      if (s && !s.dragging) this.showValue(s, c.value);
    }
  }

  private slider(c: ControlInfo): HTMLElement {
    const [lo, hi] = defaultRange(c);
    const range = h("input", { type: "range", class: "slider", name: c.name, min: String(lo), max: String(hi), step: String((hi - lo) / 1000), value: String(c.value) });
    const box = h("input", { class: "num mono", name: `value-${c.name}`, value: fmt(c.value) });
    const loBox = h("input", { class: "num small mono", title: "slider minimum", value: fmt(lo), disabled: c.min !== null });
    const hiBox = h("input", { class: "num small mono", title: "slider maximum", value: fmt(hi), disabled: c.max !== null });
    const row = h("div", { class: "control", dataset: { control: c.name } },
      h("span", { class: "control-name mono" }, c.name), loBox, range, hiBox, box);
    const s: SliderRow = { row, range, box, lo: loBox, hi: hiBox, dragging: false };
    range.addEventListener("pointerdown", () => (s.dragging = true));
    window.addEventListener("pointerup", () => (s.dragging = false));
    range.addEventListener("input", () => {
      const v = Number(range.value);
      box.value = fmt(v);
      this.send(c.name, v);
    });
    box.addEventListener("change", () => {
      const v = Number(box.value);
      if (Number.isFinite(v)) void this.app.run("set", c.name, v);
    });
    const rescale = () => {
      const a = Number(loBox.value), b = Number(hiBox.value);
      if (Number.isFinite(a) && Number.isFinite(b) && b > a) {
        range.min = String(a);
        range.max = String(b);
        range.step = String((b - a) / 1000);
      }
    };
    loBox.addEventListener("change", rescale);
    hiBox.addEventListener("change", rescale);
    this.sliders.set(c.name, s);
    return row;
  }

  private showValue(s: SliderRow, v: number): void {
    if (v < Number(s.range.min)) s.range.min = s.lo.value = fmt(v);
    if (v > Number(s.range.max)) s.range.max = s.hi.value = fmt(v);
    s.range.value = String(v);
    if (document.activeElement !== s.box) s.box.value = fmt(v);
  }
}
