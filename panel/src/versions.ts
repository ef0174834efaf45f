// The Versions tab: the versions ('versions'), switching ('version'), writing the current
// weights as a new one ('write'), and an interpolation pad that sends 'interpolate': a
// slider between two versions, a triangle for three, a square for four.
import type { App, View } from "./app.js";
import type { ChangeEvent } from "./client.js";
import { $, fill, fmt, h, throttle } from "./dom.js";

type Point = { x: number; y: number };

const TRIANGLE: Point[] = [{ x: 0.5, y: 0.07 }, { x: 0.06, y: 0.93 }, { x: 0.94, y: 0.93 }];
const SQUARE: Point[] = [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }, { x: 1, y: 1 }];
const PAD_COLORS = ["#56aaff", "#ff8a3d", "#7ee081", "#ff5fa2"];

/** Weights of the corners for a point: bilinear on the square, barycentric in the triangle. */
export function padWeights(n: number, p: Point): number[] {
  if (n === 2) return [1 - p.x, p.x];
  if (n === 4) return [(1 - p.x) * (1 - p.y), p.x * (1 - p.y), (1 - p.x) * p.y, p.x * p.y];
  const [a, b, c] = TRIANGLE;
  const det = (b.y - c.y) * (a.x - c.x) + (c.x - b.x) * (a.y - c.y);
  let wa = ((b.y - c.y) * (p.x - c.x) + (c.x - b.x) * (p.y - c.y)) / det;
  let wb = ((c.y - a.y) * (p.x - c.x) + (a.x - c.x) * (p.y - c.y)) / det;
  let wc = 1 - wa - wb;
  [wa, wb, wc] = [wa, wb, wc].map((w) => Math.max(0, w));
  const s = wa + wb + wc || 1;
  return [wa / s, wb / s, wc / s];
}

/** The point whose weights are `w` (the inverse of padWeights, for changes made elsewhere). */
function padPoint(n: number, w: number[]): Point {
  const s = w.reduce((a, b) => a + b, 0) || 1;
  const v = w.map((x) => x / s);
  if (n === 2) return { x: v[1], y: 0.5 };
  if (n === 4) return { x: v[1] + v[3], y: v[2] + v[3] };
  return { x: v[0] * TRIANGLE[0].x + v[1] * TRIANGLE[1].x + v[2] * TRIANGLE[2].x, y: v[0] * TRIANGLE[0].y + v[1] * TRIANGLE[1].y + v[2] * TRIANGLE[2].y };
}

export class VersionsView implements View {
  parts = ["versions" as const, "state" as const];
  private selection: string[] = [];
  private readonly seen = new Set<string>();
  private point: Point = { x: 0.5, y: 0.5 };
  private readonly canvas: HTMLCanvasElement;
  private readonly slider: HTMLInputElement;
  private readonly name: HTMLInputElement;
  private dragging = false;
  private readonly send = throttle((weights: number[]) => {
    const args = this.selection.flatMap((v, i) => [v === "_default" ? "default" : v, Number(weights[i].toFixed(4))]);
    void this.app.run("interpolate", ...args);
  }, 40);

  constructor(private readonly app: App) {
    this.canvas = h("canvas", { id: "pad", width: 300, height: 300 });
    this.slider = h("input", { type: "range", id: "interp-slider", class: "slider", min: "0", max: "1", step: "0.001", value: "0.5" });
    this.name = h("input", { id: "version-name", class: "mono grow", placeholder: "new version name", spellcheck: "false" });
    fill($("#tab-versions"),
      h("section", { class: "box" },
        h("h3", {}, "Versions"),
        h("ul", { id: "versions", class: "list" }),
        h("div", { class: "row" }, this.name, h("button", { id: "version-write", class: "primary", onclick: () => void this.write() }, "Write")),
        h("p", { class: "muted small" }, "Write stores the weights as the next pass uses them (weight bendings baked in) and switches to the new version; activation bendings stay.")),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", {}, "Interpolate"), h("span", { id: "interp-weights", class: "mono muted small" })),
        h("p", { id: "version-playing", class: "small" }),
        h("div", { id: "interp-pick", class: "chips" }),
        h("div", { id: "interp-slider-row", class: "row nowrap" }, h("span", { id: "interp-a", class: "mono" }), this.slider, h("span", { id: "interp-b", class: "mono" })),
        h("div", { id: "pad-wrap", class: "pad-wrap" }, this.canvas),
        h("p", { id: "interp-hint", class: "muted small" })));
    this.slider.addEventListener("input", () => this.move({ x: Number(this.slider.value), y: 0.5 }));
    const at = (e: PointerEvent): Point => {
      const r = this.canvas.getBoundingClientRect();
      return { x: Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), y: Math.min(1, Math.max(0, (e.clientY - r.top) / r.height)) };
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      this.dragging = true;
      this.canvas.setPointerCapture(e.pointerId);
      this.move(at(e));
    });
    this.canvas.addEventListener("pointermove", (e) => this.dragging && this.move(at(e)));
    this.canvas.addEventListener("pointerup", () => (this.dragging = false));
  }

  private async write(): Promise<void> {
    const name = this.name.value.trim();
    if (!name) {
      this.app.toast("write: give the version a name");
      return;
    }
    const r = await this.app.run("write", name);
    if (r.ok) this.name.value = "";
  }

  private move(p: Point): void {
    const n = this.selection.length;
    if (n < 2 || !Number.isFinite(p.x) || !Number.isFinite(p.y)) return;
    this.point = p;
    const w = padWeights(n, p);
    if (n === 3) this.point = padPoint(3, w); // stay inside the triangle
    this.draw();
    this.send(w);
  }

  event(_app: App, e: ChangeEvent): void {
    if (e.command !== "interpolate" || this.dragging) return;
    const names = [], weights = [];
    for (let i = 0; i + 1 < e.values.length; i += 2) {
      names.push(e.values[i] === "default" ? "_default" : String(e.values[i]));
      weights.push(Number(e.values[i + 1]));
    }
    if (names.length >= 2 && names.length <= 4 && names.every((n) => this.app.versions.includes(n))) {
      this.selection = names;
      this.point = padPoint(names.length, weights);
      this.renderPicker();
    }
  }

  render(app: App): void {
    const current = app.state?.version ?? null;
    const interp = app.state?.interpolation;
    fill($("#versions"), ...app.versions.map((v) =>
      h("li", { class: `version${v === current && !interp ? " current" : ""}`, dataset: { version: v } },
        h("span", { class: "mono" }, v === "_default" ? "_default (the model's own weights)" : v),
        v === current && !interp ? h("span", { class: "tag" }, "in use") : null,
        interp && v in interp ? h("span", { class: "tag" }, `interpolated ${fmt(interp[v])}`) : null,
        h("button", { onclick: () => void app.run("version", v === "_default" ? "default" : v), disabled: v === current && !interp }, "Use"))));
    // New versions join the pad while it has room (four corners).
    const fresh = app.versions.filter((v) => !this.seen.has(v));
    for (const v of app.versions) this.seen.add(v);
    this.selection = this.selection.filter((v) => app.versions.includes(v));
    for (const v of fresh) if (this.selection.length < 4 && !this.selection.includes(v)) this.selection.push(v);
    this.followState();
    this.renderPicker();
  }

  /** The weights in use, per version of the pad: the interpolation's, else 1 for the version that plays. */
  private usedWeights(): number[] {
    const interp = this.app.state?.interpolation;
    const current = this.app.state?.version ?? null;
    return this.selection.map((v) => (interp ? interp[v] ?? 0 : v === current ? 1 : 0));
  }

  /** Puts the pad's point where the weights in use are (unless a person is dragging it). */
  private followState(): void {
    const n = this.selection.length;
    const w = this.usedWeights();
    if (!this.dragging && n >= 2 && w.some((x) => x > 0)) this.point = padPoint(n, w);
    const interp = this.app.state?.interpolation;
    const current = this.app.state?.version ?? null;
    const playing = interp
      ? `Playing: an interpolation of ${Object.entries(interp).map(([v, x]) => `${v} ${fmt(x, 3)}`).join(" · ")}`
      : current ? `Playing: ${current}${this.selection.includes(current) ? "" : " (not on the pad)"}` : "No model.";
    $("#version-playing").textContent = playing;
  }

  private renderPicker(): void {
    const versions = this.app.versions;
    fill($("#interp-pick"), h("span", { class: "muted" }, "between: "), ...versions.map((v) => {
      const box = h("input", { type: "checkbox", checked: this.selection.includes(v), name: `interp-${v}` });
      box.addEventListener("change", () => {
        if (box.checked && !this.selection.includes(v)) this.selection.push(v);
        if (!box.checked) this.selection = this.selection.filter((x) => x !== v);
        if (this.selection.length > 4) this.selection.shift();
        this.renderPicker();
      });
      return h("label", { class: "chip" }, box, ` ${v}`);
    }));
    const n = this.selection.length;
    $("#interp-slider-row").hidden = n !== 2;
    $("#pad-wrap").hidden = n < 3;
    $("#interp-a").textContent = this.selection[0] ?? "";
    $("#interp-b").textContent = this.selection[1] ?? "";
    if (n === 2) this.slider.value = String(this.point.x);
    $("#interp-hint").textContent = n < 2
      ? "Write a version (or pick two) to interpolate between versions."
      : n === 2 ? "Drag the slider: Σwᵢθᵢ / Σwᵢ of the two versions' weights." : `Drag in the ${n === 3 ? "triangle" : "square"}: each corner is a version.`;
    this.draw();
  }

  private draw(): void {
    const n = this.selection.length;
    const w = n >= 2 ? padWeights(n, this.point) : [];
    if (n >= 2 && n !== 3 && !this.dragging) {
      // the square and the slider place any weights exactly: show them as used
      const used = this.usedWeights();
      const sum = used.reduce((a, b) => a + b, 0);
      if (sum > 0) used.forEach((x, i) => (w[i] = x / sum));
    }
    $("#interp-weights").textContent = w.map((x, i) => `${this.selection[i]} ${x.toFixed(2)}`).join("  ");
    if (n < 3) return;
    const c = this.canvas;
    const ctx = c.getContext("2d")!;
    const S = c.width, m = 26, size = S - 2 * m;
    const P = (p: Point) => ({ x: m + p.x * size, y: m + p.y * size });
    ctx.clearRect(0, 0, S, S);
    ctx.fillStyle = "#131820";
    ctx.fillRect(0, 0, S, S);
    const corners = n === 3 ? TRIANGLE : SQUARE;
    ctx.beginPath();
    const order = n === 3 ? [0, 1, 2] : [0, 1, 3, 2];
    order.forEach((k, i) => {
      const q = P(corners[k]);
      if (i === 0) ctx.moveTo(q.x, q.y);
      else ctx.lineTo(q.x, q.y);
    });
    ctx.closePath();
    ctx.fillStyle = "#1a212c";
    ctx.fill();
    ctx.strokeStyle = "#3a4457";
    ctx.lineWidth = 1.5;
    ctx.stroke();
    const p = P(this.point);
    corners.slice(0, n).forEach((corner, i) => {
      const q = P(corner);
      ctx.strokeStyle = PAD_COLORS[i];
      ctx.globalAlpha = 0.25 + 0.75 * w[i];
      ctx.lineWidth = 1 + 4 * w[i];
      ctx.beginPath();
      ctx.moveTo(p.x, p.y);
      ctx.lineTo(q.x, q.y);
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillStyle = PAD_COLORS[i];
      ctx.beginPath();
      ctx.arc(q.x, q.y, 6, 0, Math.PI * 2);
      ctx.fill();
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = corner.x < 0.5 ? "left" : corner.x > 0.5 ? "right" : "center";
      ctx.textBaseline = corner.y < 0.5 ? "bottom" : "top";
      ctx.fillStyle = "#dfe5ee";
      const dy = corner.y < 0.5 ? -9 : 9;
      ctx.fillText(`${this.selection[i]} ${w[i].toFixed(2)}`, q.x + (corner.x < 0.5 ? -6 : corner.x > 0.5 ? 6 : 0), q.y + dy);
    });
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.arc(p.x, p.y, 7, 0, Math.PI * 2);
    ctx.fill();
    ctx.strokeStyle = "#0b0d12";
    ctx.lineWidth = 2;
    ctx.stroke();
  }
}
